import ChronetixCore
import ChronetixRuntime
import ChronetixSystem

// `chronetix-worker`: runs one node of a flow, attached to the coordinator's bus.
//
// Its four options are parsed by hand rather than with swift-argument-parser, which imports Foundation:
// Foundation's libraries would add about 8 MiB of resident memory to every worker (docs/BENCHMARKS.md, worker
// memory), for a command line that people type only when they attach a worker by hand.

let usage = """
    OVERVIEW: Runs one node of a Chronetix flow (started by `chronetix run`, or attached by hand).

    `chronetix run` starts one worker per node. With `chronetix run FLOW --attach NODE` it prints the command
    that starts NODE's worker by hand instead (in another terminal, under a debugger, as another build) and
    waits for it to attach.

    The token may also come from the environment variable CHRONETIX_TOKEN (how `chronetix run` passes it, so
    that it does not show in the process list).

    Exit status: 0 the node ran to its end and reported; 1 the node failed; 3 it could not attach (refused:
    unknown node, duplicate, bad token; or no bus); 4 the coordinator's bus went away; 64 a usage error.

    USAGE: chronetix-worker --bus <bus> --node <node> [--token <token>]

    OPTIONS:
      --bus <bus>             The coordinator's bus socket.
      --node <node>           The id of the node to run.
      --token <token>         The run's token (default: $CHRONETIX_TOKEN).
      --version               Show the version.
      -h, --help              Show help information.

    """

/// Writes to standard error without buffering.
func writeError(_ text: String) {
    // Nowhere to report a standard error that cannot be written.
    try? StandardStream.error.write(text)
}

/// Writes to standard output without buffering.
func writeOutput(_ text: String) {
    // `--help` and `--version` to a closed standard output: the status still says it worked, as before.
    try? StandardStream.output.write(text)
}

/// A usage error: the reason, a pointer to `--help`, status 64 (`EX_USAGE`).
func usageError(_ reason: String) -> Never {
    writeError("Error: \(reason)\nUsage: chronetix-worker --bus <bus> --node <node> [--token <token>]\n  See 'chronetix-worker --help' for more information.\n")
    Processes.exit(64)
}

var options: [String: String] = [:]
let valued: Set<String> = ["--bus", "--node", "--token", "--parent"]
var arguments = CommandLine.arguments.dropFirst()[...]
while let argument = arguments.popFirst() {
    switch argument {
    case "-h", "--help":
        writeOutput(usage)
        Processes.exit(0)
    case "--version":
        writeOutput("\(Chronetix.version)\n")
        Processes.exit(0)
    default:
        // `--name value` or `--name=value`.
        let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let name = String(parts[0])
        guard valued.contains(name) else { usageError("Unknown option '\(argument)'") }
        guard options[name] == nil else { usageError("'\(name)' given twice") }
        if parts.count == 2 {
            options[name] = String(parts[1])
        } else if let value = arguments.popFirst(), !value.hasPrefix("--") {
            options[name] = value
        } else {
            usageError("Missing value for '\(name) <\(name.dropFirst(2))>'")
        }
    }
}

guard let bus = options["--bus"] else { usageError("Missing expected argument '--bus <bus>'") }
guard let node = options["--node"] else { usageError("Missing expected argument '--node <node>'") }
if let parentText = options["--parent"] {
    // Started by the coordinator: end with it, even if it is killed.
    guard let parent = Int32(parentText) else { usageError("'--parent' takes a process id, not '\(parentText)'") }
    try? Processes.setParentDeathSignal(.terminate)
    if Processes.parentID != parent { Processes.exit(WorkerExit.busLost) }
}
let environmentToken = Processes.environmentValue(named: "CHRONETIX_TOKEN")
guard let token = options["--token"] ?? environmentToken else {
    usageError("no token: pass --token or set CHRONETIX_TOKEN")
}
let status = WorkerRuntime.run(
    WorkerOptions(socketPath: bus, node: node, token: token) { [node] line in
        writeError("chronetix-worker[\(node)]: \(line)\n")
    }
)
Processes.exit(status)
