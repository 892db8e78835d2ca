import ArgumentParser
import ChronetixCoordinator
import ChronetixCore
import ChronetixMetrics
import ChronetixRuntime
import ChronetixSystem
import Dispatch
import FlowAdapter
import Foundation
import ShmDataPort
import Synchronization

/// `chronetix run FILE`: compiles the flow, starts the bus, the rings and one worker per node, runs the flow
/// to its end and reports.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Runs a flow: one worker process per node, connected by shared-memory rings.",
        discussion: """
            Compiles the flow, creates the run directory (bus socket) and one ring per data edge, starts one \
            chronetix-worker per node (found beside this executable; --worker overrides) and waits until every \
            node is ready; then the sources start. The run ends when every node has drained its inputs and \
            reported; the rings, socket and directory are removed and a summary is printed. Ctrl-C (or SIGTERM) \
            stops the sources, lets the frames in flight drain for up to --drain-timeout seconds, cuts the nodes \
            still running (SIGTERM, then SIGKILL) and reports what drained and what was cut (a second Ctrl-C \
            stops waiting).

            A worker that crashes, hangs (silent on the bus for --hang-timeout seconds), fails or exits early is \
            restarted under its node's restart policy (docs/operations.md); otherwise its failure stops the flow.

            --attach NODE,… starts those nodes' workers by hand: the command to run is printed for each, and the \
            flow starts once they are ready.

            Exit status: 0 completed; 1 a node failed (the flow was stopped), or the run could not be set up \
            (rings, bus, a worker that cannot be started); 64 usage error (bad options, an --attach node not \
            in the flow); 65 invalid flow (as validate); 66 unreadable flow file; 69 no worker executable; \
            73 a --summary-json or --events-file path that cannot be written (checked before the run starts); \
            130 interrupted (Ctrl-C, SIGTERM). docs/running.md describes the summary.
            """
    )

    @Argument(help: "The flow file (.yaml, .yml or .json).", completion: FlowExit.flowFileCompletion)
    var file: String

    @Option(help: "Nodes whose workers are started by hand, comma-separated.")
    var attach: String?

    @Option(help: "Seconds to wait for the workers attached by hand (default: no limit).")
    var attachTimeout: Double?

    @Option(help: "The chronetix-worker executable (default: the one beside chronetix).", completion: .file())
    var worker: String?

    @Option(help: "Seconds the frames in flight get to reach the sinks after a stop (Ctrl-C, SIGTERM, a failed node) before the nodes still running are cut.")
    var drainTimeout: Double = 5

    @Option(help: "Seconds a worker may stay silent on the bus (no heartbeat) before it is declared hung, killed and handled as a crash (its restart policy applies).")
    var hangTimeout: Double = 3

    @Flag(help: "Print the run's events (nodes started, ready, failed, completed, exited; the flow started, stopping, completed) as they happen.")
    var events = false

    @Option(help: "Write the run's events to this file as JSON lines.", completion: .file())
    var eventsFile: String?

    @Option(help: "Write the summary as JSON to this file.", completion: .file())
    var summaryJSON: String?

    @Flag(help: "Print no progress and no summary: only errors (on stderr); the exit status tells how the run ended.")
    var quiet = false

    @Flag(help: "Also log the bus's attachments and detachments (stderr) and show a progress line per node.")
    var verbose = false

    @Option(help: "Serve the run's metrics in the Prometheus text format at http://ADDRESS:PORT/metrics while the flow runs (0: any free port; the URL is printed on stderr).")
    var metricsPort: Int?

    @Option(help: "The address the metrics endpoint listens on (numeric IPv4 or IPv6). Only loopback unless you say otherwise.")
    var metricsAddress = "127.0.0.1"

    @Option(help: "Seconds to keep serving the final metrics after the run ended, before exiting (Ctrl-C or SIGTERM ends the wait).")
    var metricsLinger: Double = 0

    func run() throws {
        let start = Clock.monotonicNanoseconds()
        // The files the run will write are checked first: a run must not end in "cannot write".
        try OutputPath.check([("--summary-json", summaryJSON), ("--events-file", eventsFile)], command: "chronetix run")
        let compilation = try FlowExit.compile(file)
        let flow = compilation.flow
        let attachList = attach.map { $0.split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)) } } ?? []
        for node in attachList where flow.node(node) == nil {
            StandardError.print("chronetix run: --attach \(node): flow \(flow.flow) has no such node (its nodes: \(flow.nodes.map(\.id).joined(separator: ", ")))")
            throw ExitCode(64)
        }
        if let attachTimeout, !(attachTimeout > 0) { throw ValidationError("--attach-timeout must be positive") }
        guard drainTimeout >= 0, drainTimeout <= 86_400 else { throw ValidationError("--drain-timeout must be between 0 and 86400 seconds") }
        guard hangTimeout >= 0.3, hangTimeout <= 3_600 else { throw ValidationError("--hang-timeout must be between 0.3 and 3600 seconds") }
        if quiet && verbose { throw ValidationError("--quiet and --verbose do not go together") }
        if let metricsPort, !(0...65_535).contains(metricsPort) { throw ValidationError("--metrics-port must be between 0 and 65535") }
        guard metricsLinger >= 0, metricsLinger <= 86_400 else { throw ValidationError("--metrics-linger must be between 0 and 86400 seconds") }
        if metricsLinger > 0 && metricsPort == nil { throw ValidationError("--metrics-linger needs --metrics-port") }
        // What runs whose coordinator died left behind (segments, run directories) goes before this run makes
        // its own: nothing of a crashed run outlives the next one.
        for line in RunLeftovers.clean() { StandardError.print("chronetix run: \(line)") }
        let workerPath = worker ?? Self.workerBesideExecutable()
        if attachList.count < flow.nodes.count && access(workerPath, X_OK) != 0 {
            StandardError.print("chronetix run: no worker executable at \(workerPath) (build chronetix-worker, or pass --worker)")
            throw ExitCode(69)
        }
        let options = FlowRun.Options(
            attach: attachList,
            attachTimeout: attachTimeout.map { .nanoseconds(Int64($0 * 1e9)) },
            workerPath: workerPath,
            drainTimeout: .nanoseconds(Int64(drainTimeout * 1e9)),
            showEvents: events,
            eventsFile: eventsFile,
            hangTimeout: .nanoseconds(Int64(hangTimeout * 1e9)),
            verbose: verbose,
            quiet: quiet
        )
        let interruptions = Self.catchInterruptions()
        let status: FlowRun.Status
        let problems: [String]
        let summary: RunSummary
        var endpoint: MetricsHTTPServer?
        defer { endpoint?.stop() }
        let board: RunBoard
        var runLogs: RunLogs?
        do {
            let run = try FlowRun(flow: flow, options: options, startNanoseconds: start)
            board = run.board
            interruptions.board.withLock { $0 = run.board }
            defer { run.finish() }
            do {
                try run.createRings()
                try run.startBus()
                if let metricsPort {
                    let metrics = run.metrics
                    do {
                        endpoint = try MetricsHTTPServer(address: metricsAddress, port: UInt16(metricsPort)) { metrics.exposition() }
                    } catch {
                        throw RunFailure("cannot serve the metrics on \(metricsAddress) port \(metricsPort): \(error)")
                    }
                    if let endpoint { StandardError.print("chronetix run: metrics at \(endpoint.url)") }
                }
                try run.spawnWorkers()
            } catch {
                StandardError.print("chronetix run: \(error)")
                throw ExitCode.failure
            }
            for node in attachList where !StandardOutput.write("attach \(node): \(run.attachCommand(for: node))\n") {
                run.board.interrupt("standard output closed")
            }
            // Live progress: only on a terminal, and not over the event lines of --events.
            let progress = !quiet && !events && StandardStream.output.isTerminal ? Self.startProgress(run.metrics, verbose: verbose) : nil
            (status, problems) = run.run()
            progress?.stop()
            run.finish()
            summary = RunSummary(run: run, status: status)
            if run.logFile != nil { runLogs = RunLogs(directory: run.runtime) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            StandardError.print("chronetix run: \(error)")
            throw ExitCode.failure
        }
        for problem in problems { StandardError.print("chronetix run: \(problem)") }
        if !quiet { StandardOutput.write(summary.text()) }  // a closed stdout loses it; --summary-json does not
        if let summaryJSON {
            do {
                try summary.json().write(to: URL(fileURLWithPath: summaryJSON))
            } catch {
                StandardError.print("chronetix run: cannot write the summary to \(summaryJSON): \(OutputPath.reason(error))")
                throw FlowExit.cannotWrite
            }
        }
        // Beside the run's log, for `chronetix stop` and `logs` (what a run that failed said, after its end).
        if let logs = runLogs { try? PrivateFile.writeAtomically(Array(summary.json()), to: logs.summaryPath(of: summary.run)) }
        if let endpoint, metricsLinger > 0 { Self.linger(endpoint, seconds: metricsLinger, board: board) }
        switch status {
        case .completed: return
        case .failed: throw ExitCode.failure
        case .interrupted: throw ExitCode(130)
        }
    }

    /// Starts the progress lines on standard output; nil (and no lines) when that cannot be done.
    static func startProgress(_ metrics: RunMetrics, verbose: Bool) -> ProgressDisplay? {
        let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap { Int($0) } ?? 100
        // Nothing to do when the thread cannot start: the run goes on without progress lines.
        return try? ProgressDisplay(metrics: metrics, showsNodes: verbose, columns: columns) { text in
            StandardOutput.write(text)  // a terminal that closed takes no more lines; the run sees its SIGHUP
        }
    }

    /// Keeps serving the final metrics for `seconds`, or until the next SIGINT or SIGTERM.
    static func linger(_ endpoint: MetricsHTTPServer, seconds: Double, board: RunBoard) {
        StandardError.print("chronetix run: serving the final metrics at \(endpoint.url) for \(seconds) s (Ctrl-C ends it)")
        let interrupted = board.interruptions.load(ordering: .relaxed)
        let deadline = Clock.monotonicNanoseconds() + UInt64(seconds * 1e9)
        while Clock.monotonicNanoseconds() < deadline && board.interruptions.load(ordering: .relaxed) == interrupted {
            board.wait(milliseconds: 100)
        }
    }

    /// `chronetix-worker` in this executable's directory.
    static func workerBesideExecutable() -> String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("chronetix-worker").path
    }

    /// Routes SIGINT, SIGTERM and SIGHUP (a closed terminal or ssh session) to the run's board (counted
    /// there: a graceful stop, then a cut) instead of ending the process; before the board exists, an
    /// interruption exits with 130 at once. SIGPIPE is ignored: a standard output whose reader is gone fails
    /// its writes (`EPIPE`), which stops the run as an interruption does (``StandardOutput``), and the metrics
    /// endpoint's writes to a scraper that went away fail the same way instead of killing the coordinator.
    // @unchecked Sendable: `board` is a Mutex; `sources` is written once, by `catchInterruptions`, before
    // any handler can run, and only keeps the sources alive.
    final class Interruptions: @unchecked Sendable {
        let board = Mutex<RunBoard?>(nil)
        /// The dispatch sources, kept alive for the process's life.
        var sources: [any DispatchSourceSignal] = []
    }

    static func catchInterruptions() -> Interruptions {
        let interruptions = Interruptions()
        Processes.ignoreBrokenPipeSignal()
        for (signal, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM"), (SIGHUP, "SIGHUP")] {
            _ = Foundation.signal(signal, SIG_IGN)  // returns the previous disposition, which nothing restores
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler {
                interruptions.board.withLock { board in
                    if let board {
                        board.interrupt(name)
                    } else {
                        Foundation.exit(130)
                    }
                }
            }
            source.resume()
            interruptions.sources.append(source)
        }
        return interruptions
    }
}
