import ArgumentParser
import ChronetixCore
import ChronetixRuntime
import ChronetixSystem

#if canImport(Glibc)
import Glibc
#endif

/// `chronetix-worker`: runs one node of a flow, attached to the coordinator's bus.
struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chronetix-worker",
        abstract: "Runs one node of a Chronetix flow (started by `chronetix run`, or attached by hand).",
        discussion: """
            `chronetix run` starts one worker per node. With `chronetix run FLOW --attach NODE` it prints the \
            command that starts NODE's worker by hand instead (in another terminal, under a debugger, as another \
            build) and waits for it to attach.

            The token may also come from the environment variable CHRONETIX_TOKEN (how `chronetix run` passes it, \
            so that it does not show in the process list).

            Exit status: 0 the node ran to its end and reported; 1 the node failed; 3 it could not attach \
            (refused: unknown node, duplicate, bad token; or no bus); 4 the coordinator's bus went away.
            """,
        version: Chronetix.version
    )

    @Option(help: "The coordinator's bus socket.")
    var bus: String

    @Option(help: "The id of the node to run.")
    var node: String

    @Option(help: "The run's token (default: $CHRONETIX_TOKEN).")
    var token: String?

    @Option(help: .hidden)
    var parent: Int32?

    func run() throws {
        let node = node
        if let parent {
            // Started by the coordinator: end with it, even if it is killed.
            try? Processes.setParentDeathSignal(SIGTERM)
            if getppid() != parent { throw ExitCode(WorkerExit.busLost) }
        }
        guard let token = token ?? getenv("CHRONETIX_TOKEN").map({ String(cString: $0) }) else {
            throw ValidationError("no token: pass --token or set CHRONETIX_TOKEN")
        }
        let status = WorkerRuntime.run(
            WorkerOptions(socketPath: bus, node: node, token: token) { line in
                StandardError.write("chronetix-worker[\(node)]: \(line)\n")
            }
        )
        if status != 0 { throw ExitCode(status) }
    }
}

/// Writes to standard error without buffering.
enum StandardError {
    static func write(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

Worker.main()
