import ChronetixCoordinator
import ChronetixCore
import ChronetixMetrics
import ChronetixRuntime
import ChronetixSystem
import Dispatch
import FlowAdapter
import Foundation
import IpcEventBus
import Logging
import ShmDataPort
import Synchronization

/// One run of a flow: the rings, the bus, the workers, the supervision of their lifecycle, the summary.
///
/// Everything it makes is undone on every way out (`deinit` and `finish()`): the workers it spawned are
/// stopped and reaped, the ring segments removed, the bus stopped (which removes its socket and the run
/// directory).
final class FlowRun {
    enum Status: String {
        case completed, failed, interrupted
    }

    struct Options {
        var attach: [String] = []
        var attachTimeout: Duration?
        var workerPath: String
        /// How long the frames in flight get to reach the sinks after a stop, before the nodes still running
        /// are cut (their workers stopped with SIGTERM, then SIGKILL).
        var drainTimeout: Duration = .seconds(5)
        /// Print the ExecutionEvent stream on standard output as it happens (`--events`).
        var showEvents = false
        /// Write the ExecutionEvent stream to this file as JSON lines (`--events-file`).
        var eventsFile: String?
        /// A worker silent on the bus this long (no heartbeat, no message) is hung: killed, and handled as a
        /// crash.
        var hangTimeout: Duration = .seconds(3)
        /// Log the bus's attachments and detachments on stderr (`--verbose`).
        var verbose = false
        /// Log warnings and errors only: the workers' own lines are left out (`--quiet`).
        var quiet = false
    }

    /// How a stop went: why, when, and which nodes drained or were cut.
    struct Stop {
        /// `failed` or `interrupted`.
        var reason: Status
        /// What interrupted it (`SIGINT`, `SIGTERM`, `SIGHUP`, `standard output closed`); nil for a failure.
        var cause: String?
        /// `CLOCK_MONOTONIC` when the sources were told to stop.
        var at: UInt64
        /// When every node had reported after it; nil when some were cut.
        var drainedAt: UInt64?
        /// The nodes still running at the drain deadline (or at a second Ctrl-C), in flow order.
        var cut: [String] = []
        /// The nodes that reported (drained their inputs and ended), in flow order.
        var drained: [String] = []
    }

    let flow: CompiledFlow
    let options: Options
    /// `CLOCK_MONOTONIC` when the command started.
    let startNanoseconds: UInt64
    let runID: String
    /// Where the run's directory, socket and rings are (``RunLayout``).
    let layout: RunLayout
    let token: String
    let traceParent: String
    let socketPath: String
    let board: RunBoard
    /// The workers' metrics as the coordinator gathers them (`--metrics-port`, the progress lines).
    let metrics: RunMetrics
    /// The run's log (``RunLogHandler``): every line carries the run id, and the node's when it is about one.
    let logger: Logger
    private var rings: [String: RingHolder] = [:]
    private var server: BusServer?
    private let serverFinished = DispatchSemaphore(value: 0)
    /// Each spawned node's current (or last) worker process.
    private var workers: [String: WorkerProcess] = [:]
    /// Nodes whose fate is known: completed, failed for good, left down.
    private var settled: Set<String> = []
    /// Nodes whose circuit breaker opened under `give_up: leave-down`.
    private(set) var leftDown: Set<String> = []
    private var trackers: [String: RestartTracker] = [:]
    /// A node down, waiting for its backoff.
    private struct PendingRestart {
        /// When it starts again (`CLOCK_MONOTONIC`).
        var at: UInt64
        var delay: UInt64
        /// What ended its previous worker.
        var cause: String
    }
    private var pendingRestarts: [String: PendingRestart] = [:]
    /// The generation of each node that was told to start (or stop).
    private var commanded: [String: Int] = [:]
    /// Edges whose producer is gone for good, to be ended by the coordinator.
    private var streamsToEnd: Set<String> = []
    private(set) var readyNanoseconds: UInt64 = 0
    private(set) var endNanoseconds: UInt64 = 0
    /// The rings' checked counters at the end, by edge id (none for a broken or corrupt ring).
    private(set) var ringStatuses: [String: RingStatus] = [:]
    /// Rings found broken or corrupt, by edge id: what is wrong, for people.
    private(set) var ringProblems: [String: String] = [:]
    /// Consumers (`SRC/OUT->DST/IN`) whose stream ended with frames not accounted for, and how many.
    private(set) var unaccounted: [String: UInt64] = [:]
    /// Set when the run was stopped before its natural end.
    private(set) var stop: Stop?
    private var eventsHandle: FileHandle?
    /// The host's runtime directory: the run's record (while it runs) and its log.
    let runtime = RuntimeDirectory.current
    /// The run's log file; nil when the runtime directory could not be used.
    private(set) var logFile: RunLogFile?
    /// Whether the run's record is in the runtime directory (removed in ``finish()``).
    private var isRecorded = false
    /// Set once standard output could not be written.
    private var outputClosed = false

    /// A ring segment held for the run; removed by ``remove()`` or at the latest in `deinit`.
    ///
    /// Any process of this user can truncate or scribble on the segment: its counters are read with pread and
    /// checked (`readStatus`), its size is checked before each store through the mapping, and once it is found
    /// broken or corrupt the coordinator stays off its mapping (docs/adr/0005).
    final class RingHolder {
        let edge: String
        var segment: RingSegment?
        /// Why the ring cannot be trusted any more, for people; set once.
        private(set) var problem: String?
        /// Whether the run has been told about ``problem``.
        var isReported = false
        init(edge: String, _ segment: consuming RingSegment) {
            self.edge = edge
            self.segment = consume segment
        }
        /// The checked counters; nil once the ring is broken or corrupt.
        func status() -> RingStatus? {
            guard problem == nil else { return nil }
            do {
                return try segment?.readStatus()
            } catch {
                fail(error)
                return nil
            }
        }
        /// Records a broken (truncated, resized) or corrupt ring; the first problem found is the one told.
        func check() {
            guard problem == nil else { return }
            do { try segment?.checkSize() } catch { fail(error) }
        }
        /// Ends the stream of its gone producer; true when there is nothing more to do (ended, or broken).
        func endStreamOfGoneProducer() -> Bool {
            guard problem == nil else { return true }
            do {
                return try segment?.endStreamOfGoneProducer() ?? true
            } catch {
                fail(error)
                return true
            }
        }
        /// Retires consumer slot `slot`, unless the ring is broken (then nobody waits for it anyway).
        func retireConsumer(_ slot: Int) {
            guard problem == nil else { return }
            do { try segment?.retireConsumer(slot) } catch { fail(error) }
        }
        private func fail(_ error: RingError) {
            let what = error.code == .corruptHeader ? "corrupt" : "broken"
            problem = "ring of edge \(edge) is \(what): \(error.message) (\(error.segment))"
        }
        func remove() {
            if let segment = segment.take() { try? segment.remove() }  // best effort: `chronetix gc` removes leftovers
        }
        deinit { remove() }
    }

    init(flow: CompiledFlow, options: Options, startNanoseconds: UInt64) throws {
        self.flow = flow
        self.options = options
        self.startNanoseconds = startNanoseconds
        let layout = RunLayout(newRunOf: flow.flow)
        self.layout = layout
        runID = layout.run
        token = (0..<4).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined()
        let traceHigh = UInt64.random(in: 1...UInt64.max)
        let traceLow = UInt64.random(in: 0...UInt64.max)
        let span = UInt64.random(in: 1...UInt64.max)
        traceParent = TraceParent(traceIDHigh: traceHigh, traceIDLow: traceLow, parentID: span)?.text ?? ""
        socketPath = layout.socketPath
        metrics = RunMetrics(flow: flow, run: runID)
        // The run's log goes to standard error and to its file in the runtime directory (`chronetix logs`); a
        // runtime directory that cannot be used costs the file and the record, not the run.
        let logs = RunLogs(directory: runtime)
        var setupProblems: [String] = []
        do {
            try runtime.prepare()
            logs.prune(keeping: Set(RunRecords(directory: runtime).live().map(\.run)))
            logFile = try RunLogFile(path: logs.logPath(of: runID))
        } catch {
            setupProblems.append("\(error); the run goes on without a record (chronetix ps, stop, logs do not see it)")
        }
        let logFile = logFile
        var logger = Logger(label: "chronetix.run") { _ in
            RunLogHandler { line in
                RunLogHandler.standardError(line)
                logFile?.append(line)
            }
        }
        logger[metadataKey: "run"] = "\(runID)"
        logger.logLevel = options.quiet ? .warning : .info
        self.logger = logger
        for problem in setupProblems { logger.warning("\(problem)") }
        let board = try RunBoard(nodes: flow.nodes.map(\.id), run: runID, flow: flow.flow, startNanoseconds: startNanoseconds)
        self.board = board
        // Read at every scrape, on the endpoint's thread: the board is shared under its lock.
        metrics.setRestartSource { node in UInt64(board.restartCount(of: node)) }
        if let path = options.eventsFile {
            guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                throw RunFailure("cannot write the events to \(path)")
            }
            eventsHandle = handle
        }
    }

    deinit { finish() }

    // MARK: - Setting up

    /// Creates one ring per data edge, sized from its queue capacity (a power of two, at least 4 KiB).
    func createRings() throws {
        for edge in flow.routes.edges {
            let name = ringName(edge)
            let capacity = max(4096, Self.powerOfTwo(atLeast: Int(clamping: edge.queue.capacityBytes)))
            let configuration = RingConfiguration(
                dataCapacity: capacity,
                consumerCount: max(1, edge.to.count),
                policy: edge.queue.policy
            )
            rings[edge.id] = RingHolder(edge: edge.id, try RingSegment(creating: name, configuration: configuration))
        }
    }

    /// Starts the bus on a thread of its own.
    func startBus() throws {
        let assignments = try Dictionary(uniqueKeysWithValues: flow.nodes.map { node in
            (node.id, try RunCoding.document(assignment(for: node)))
        })
        let board = board
        let flowName = flow.flow
        let nodeList = flow.nodes.map(\.id).joined(separator: ", ")
        let byHand = Set(options.attach)
        var hooks = BusServer.Hooks()
        hooks.admit = { hello, peer in
            // An observer (a dashboard, a test, a person's script) holds the token too; it gets no assignment
            // and may subscribe, to the ExecutionEvent stream (`flow.F.execution.*`) for instance.
            if hello.role == "observer" { return .welcome(document: nil) }
            guard hello.role == "worker" else {
                return .refuse(BusRefusal(.unknownRole, "a run admits workers and observers only, not role \"\(hello.role)\""))
            }
            guard let document = assignments[hello.name] else {
                return .refuse(BusRefusal(.unknownNode, "flow \(flowName) has no node \"\(hello.name)\" (its nodes: \(nodeList))"))
            }
            if let holder = board.claim(hello.name, pid: peer.processID, connection: peer.connectionID) {
                return .refuse(BusRefusal(.duplicateNode, "node \"\(hello.name)\" is already attached (pid \(holder))"))
            }
            if byHand.contains(hello.name) {
                board.log(.nodeStarted, node: hello.name, pid: peer.processID, detail: "attached by hand")
            }
            return .welcome(document: document)
        }
        hooks.onEvent = { event in
            if case .detached(let peer, let reason, let detail) = event {
                board.detached(connection: peer.connectionID, reason: "\(reason): \(detail)", missedHeartbeats: reason == .heartbeatTimeout)
            }
        }
        hooks.services = [
            BusServer.Service(pattern: try TopicPattern("flow.\(flow.flow).*.events")) { request, peer in
                guard let message = try? RunCoding.decode(WorkerMessage.self, from: request.payload) else {
                    return .failure(BusServiceFailure(.badRequest, "not a worker message"))
                }
                guard message.node == peer.name else {
                    return .failure(BusServiceFailure(.badRequest, "a worker reports for its own node only"))
                }
                // A predecessor's message, handled after its replacement attached, is not recorded.
                board.record(message, connection: peer.connectionID)
                return .success(Envelope(id: request.id, topic: request.topic))
            },
            // A person's tools (`chronetix ps`, `top`, `stop`), attached as observers with the record's token.
            BusServer.Service(pattern: try TopicPattern(Topics.runStatus(flow: flow.flow))) { [statusReport] request, _ in
                guard let payload = try? RunCoding.encode(statusReport()) else {
                    return .failure(BusServiceFailure(.serviceFailed, "the status could not be encoded"))
                }
                return .success(Envelope(id: request.id, topic: request.topic, contentType: RunCoding.contentType, payload: payload))
            },
            BusServer.Service(pattern: try TopicPattern(Topics.runStop(flow: flow.flow))) { request, peer in
                guard let stop = try? RunCoding.decode(RunStopRequest.self, from: request.payload) else {
                    return .failure(BusServiceFailure(.badRequest, "not a stop request"))
                }
                if let timeout = stop.drainTimeoutNanoseconds, timeout > 86_400_000_000_000 {
                    return .failure(BusServiceFailure(.badRequest, "a drain timeout is at most 86400 s"))
                }
                board.requestStop(cause: "chronetix stop (pid \(peer.processID))", drainTimeoutNanoseconds: stop.drainTimeoutNanoseconds)
                return .success(Envelope(id: request.id, topic: request.topic))
            },
        ]
        // Each worker's metrics snapshots, for its own node only (a worker attaches as its node).
        let metrics = metrics
        hooks.taps = [
            BusServer.Tap(pattern: try TopicPattern("flow.\(flow.flow).*.metrics")) { envelope, peer in
                guard peer.role == "worker", let snapshot = try? RunCoding.decode(MetricsSnapshot.self, from: envelope.payload),
                    snapshot.node == peer.name
                else { return }  // not a worker's snapshot of its own node: ignored, as a peer is not trusted
                metrics.record(snapshot)
            }
        ]
        var busLogger = logger
        busLogger.logLevel = options.verbose ? .info : .warning
        var configuration = BusServer.Configuration(socketPath: socketPath, token: token, logger: busLogger)
        configuration.maxConnections = max(64, flow.nodes.count * 2)
        // Workers send a heartbeat every third of the hang timeout (from a thread of their own, also while
        // their node computes); three missed in a row declare the worker gone.
        configuration.heartbeatInterval = options.hangTimeout / 3
        configuration.heartbeatMisses = 3
        let server = try BusServer(configuration: configuration, hooks: hooks)
        self.server = server
        board.log(.runCreated, detail: traceParent)
        if logFile != nil {
            let record = RunRecord(
                run: runID, flow: flow.flow, coordinator: .current, socket: socketPath, token: token,
                startedAtNanoseconds: Clock.realtimeNanoseconds() - (Clock.monotonicNanoseconds() - startNanoseconds),
                log: RunLogs(directory: runtime).logPath(of: runID), nodes: flow.nodes.map(\.id),
                edges: flow.routes.edges.flatMap { edge in edge.to.map { "\(edge.from)->\($0)" } }
            )
            do {
                try RunRecords(directory: runtime).write(record)
                isRecorded = true
            } catch {
                logger.warning("\(error); chronetix ps, stop and logs do not see this run")
            }
        }
        let finished = serverFinished
        let logger = logger
        let thread = Thread {
            do throws(BusError) {
                try server.run()
            } catch {
                logger.error("the bus failed: \(error)")
                board.busFailed("the bus failed: \(error)")
            }
            finished.signal()
        }
        thread.name = "chronetix bus"
        thread.start()
    }

    /// The run as it stands, for `chronetix ps` and `top`: built from what other threads may read (the
    /// board, the metrics), on the bus's thread.
    private var statusReport: @Sendable () -> RunStatusReport {
        let board = board, metrics = metrics, flow = flow, runID = runID, start = startNanoseconds
        return {
            let states = board.nodes
            let figures = Dictionary(metrics.nodes.map { ($0.node, $0) }, uniquingKeysWith: { first, _ in first })
            let nodes = flow.nodes.map { manifest in
                let state = states[manifest.id]
                let name: String =
                    if state?.report?.kind == .report { "completed" }
                    else if state?.failure != nil { "failed" }
                    else if state?.isReady == true { "ready" }
                    else if (state?.generation ?? 0) > 0 { "restarting" }
                    else { "starting" }
                return RunStatusReport.Node(
                    id: manifest.id, kind: manifest.kind, state: name, pid: state?.attachedPID ?? figures[manifest.id]?.pid,
                    restarts: state?.generation ?? 0, framesIn: figures[manifest.id]?.framesIn ?? 0,
                    framesOut: figures[manifest.id]?.framesOut ?? 0
                )
            }
            let edges = metrics.edges.map { edge in
                RunStatusReport.Edge(
                    key: edge.key, frames: edge.frames, bytes: edge.bytes, framesPerSecond: edge.framesPerSecond,
                    bytesPerSecond: edge.bytesPerSecond, drops: edge.drops, late: edge.deadlineMisses, queueDepth: edge.queueDepth,
                    latencyP50Nanoseconds: edge.latency.p50, latencyP99Nanoseconds: edge.latency.p99
                )
            }
            let phase = ["starting", "running", "stopping"][Int(min(board.phase.load(ordering: .relaxed), 2))]
            return RunStatusReport(
                run: runID, flow: flow.flow, pid: FileSystem.currentProcessID(), phase: phase,
                uptimeNanoseconds: Clock.monotonicNanoseconds() - start, nodes: nodes, edges: edges
            )
        }
    }

    /// Starts a worker for every node not attached by hand.
    func spawnWorkers() throws {
        for node in flow.nodes where !options.attach.contains(node.id) {
            let worker = try spawn(node.id)
            board.log(.nodeStarted, node: node.id, pid: worker.child.pid)
        }
    }

    /// Starts one worker process for `node`, its standard error captured into the run's log, and watches for
    /// its end.
    private func spawn(_ node: String) throws -> WorkerProcess {
        let errors: PipeEnds
        do {
            errors = try FileDescriptor.pipe()
        } catch {
            throw RunFailure("cannot make a pipe for the worker of node \(node): \(error)")
        }
        let child: ChildProcess
        do {
            child = try ChildProcess(
                path: options.workerPath,
                arguments: ["--bus", socketPath, "--node", node, "--parent", "\(FileSystem.currentProcessID())"],
                environment: workerEnvironment,
                newProcessGroup: true,
                standardError: errors.writing.rawValue
            )
        } catch {
            throw RunFailure("cannot start the worker for node \(node) (\(options.workerPath)): \(error)")
        }
        let reading = errors.reading.takeRawValue()
        errors.writing.close()  // the worker (and its program) hold the only writing ends: their end is the pipe's
        let worker = WorkerProcess(node: node, child: child)
        worker.logCapture = WorkerLogCapture(descriptor: reading, node: node, pid: child.pid, logger: logger)
        // Without an exit descriptor (a kernel before 5.3) the end is still found by polling, every 10 ms.
        if let descriptor = try? child.exitDescriptor() {
            let raw = descriptor.takeRawValue()
            if (try? board.watch(raw)) != nil {
                worker.exitDescriptor = raw
            } else {
                FileDescriptor(adopting: raw).close()
            }
        }
        workers[node] = worker
        return worker
    }

    private lazy var workerEnvironment: [String] = {
        var environment = ProcessInfo.processInfo.environment
        environment["CHRONETIX_TOKEN"] = token
        return environment.map { "\($0.key)=\($0.value)" }
    }()

    /// The command a person runs to attach `node` by hand.
    func attachCommand(for node: String) -> String {
        "\(options.workerPath) --bus \(socketPath) --node \(node) --token \(token)"
    }

    // MARK: - Running

    private enum Phase {
        /// Waiting for every node to be ready.
        case starting
        /// The sources were told to start.
        case running
        /// The sources were told to stop; the rest drains.
        case stopping
    }

    /// Waits until every node is ready, then starts the flow and waits for its end, supervising the workers
    /// all along: a worker that crashes, hangs, fails or exits early is restarted under its node's restart
    /// policy (the flow goes on), or its failure is final (the flow stops, or the node is left down). A
    /// failure or an interruption stops the sources, and the run still waits for every node to drain and
    /// report, for at most the drain timeout; the nodes still running then are cut.
    func run() -> (Status, [String]) {
        var problems: [String] = []
        var status = Status.completed
        var phase = Phase.starting
        let attachDeadline = options.attachTimeout.map { startNanoseconds + Clock.nanoseconds($0) }
        var stopDeadline: UInt64 = .max
        while true {
            reapChildren()
            let now = Clock.monotonicNanoseconds()
            let nodes = board.nodes
            for manifest in flow.nodes where !settled.contains(manifest.id) {
                guard let state = nodes[manifest.id] else { continue }
                if options.attach.contains(manifest.id) {
                    superviseByHand(manifest, state, phase: phase, now: now, attachDeadline: attachDeadline, problems: &problems, status: &status)
                } else {
                    supervise(manifest, state, phase: phase, now: now, problems: &problems, status: &status)
                }
            }
            endStreamsOfGoneProducers()
            checkRings(problems: &problems, status: &status)
            if let failure = board.busFailureReason, status == .completed {
                problems.append(failure)
                status = .failed
            }
            if board.interruptions.load(ordering: .relaxed) > 0 && status == .completed { status = .interrupted }
            let current = board.nodes
            switch phase {
            case .starting where status == .completed:
                if current.allSatisfy({ $0.value.isReady || leftDown.contains($0.key) }) {
                    readyNanoseconds = Clock.monotonicNanoseconds()
                    publish(.start)
                    for (id, node) in current { commanded[id] = node.generation }
                    board.log(.flowStarted)
                    phase = .running
                    board.phase.store(1, ordering: .relaxed)
                }
            case .running:
                // A restarted node that is ready now gets the start the others had.
                for (id, node) in current where node.isReady && commanded[id] != node.generation {
                    publish(.start, to: id)
                    commanded[id] = node.generation
                }
            case .stopping:
                // One that got ready after the stop went out is told to stop too.
                for (id, node) in current where node.isReady && commanded[id] != node.generation {
                    publish(.stop, to: id)
                    commanded[id] = node.generation
                }
            default:
                break
            }
            if status != .completed && phase != .stopping {
                phase = .stopping
                board.phase.store(2, ordering: .relaxed)
                publish(.stop)
                for (id, node) in current where node.isReady { commanded[id] = node.generation }
                let cause = status == .interrupted ? board.interruptionCause : nil
                board.log(.flowStopping, detail: status.rawValue + (cause.map { " (\($0))" } ?? ""))
                let now = Clock.monotonicNanoseconds()
                stop = Stop(reason: status, cause: cause, at: now)
                stopDeadline = now + (board.requestedDrainTimeout ?? Clock.nanoseconds(options.drainTimeout))
                continue  // supervise once more under the stop: no restarts from now on
            }
            if settled.count == flow.nodes.count {
                stop?.drainedAt = Clock.monotonicNanoseconds()
                break
            }
            let secondInterruption = board.interruptions.load(ordering: .relaxed) > 1
            if secondInterruption || Clock.monotonicNanoseconds() > stopDeadline {
                // What has not reported by now is cut: its worker is stopped below, its frames stay unread.
                let running = flow.nodes.map(\.id).filter { !settled.contains($0) && current[$0]?.attachedPID != nil }
                stop?.cut = running
                let when = secondInterruption ? "at the second interruption" : "\(Self.secondsText(options.drainTimeout)) after the stop"
                problems.append("nodes cut \(when), still running: \(running.joined(separator: ", "))")
                break
            }
            board.wait(milliseconds: waitMilliseconds(now: Clock.monotonicNanoseconds()))
        }
        endNanoseconds = Clock.monotonicNanoseconds()
        let reported = board.nodes
        stop?.drained = flow.nodes.map(\.id).filter { reported[$0]?.report != nil }
        waitForWorkers(timeoutNanoseconds: 2_000_000_000, stoppingFirst: stop?.cut ?? [])
        for id in flow.nodes.map(\.id) where status == .completed {
            if let termination = workers[id]?.termination, termination != .exited(0) {
                problems.append("the worker of node \(id) ended with \(termination)")
                status = .failed
            }
        }
        if !leftDown.isEmpty && status == .completed { status = .failed }
        endStreamsOfGoneProducers()
        checkAccounts(problems: &problems, status: &status)
        board.log(.flowCompleted, detail: status.rawValue)
        flushEvents()
        return (status, problems)
    }

    /// How long the main loop may sleep: until the next restart is due, at most 10 ms (workers' ends wake it
    /// at once through their exit descriptors, messages through the board).
    private func waitMilliseconds(now: UInt64) -> Int32 {
        guard let next = pendingRestarts.values.map(\.at).min() else { return 10 }
        return next <= now ? 0 : Int32(min(10, (next - now + 999_999) / 1_000_000))
    }

    // MARK: - Supervision

    /// One spawned node: its worker's health, its end, and what follows under its restart policy.
    private func supervise(
        _ manifest: NodeManifest, _ state: RunBoard.Node, phase: Phase, now: UInt64, problems: inout [String], status: inout Status
    ) {
        let id = manifest.id
        guard let worker = workers[id] else { return }
        if let pending = pendingRestarts[id] {
            // Down, waiting for its backoff; a stop cancels the restart.
            if phase == .stopping {
                pendingRestarts[id] = nil
                settle(id, failedFinally: true)
            } else if now >= pending.at {
                pendingRestarts[id] = nil
                restartNode(id, after: worker, pending)
            }
            return
        }
        guard let termination = worker.termination else {
            watchAlive(worker, state, phase: phase, now: now)
            return
        }
        // The worker ended: completed (it reported, exit 0) or failed.
        let completed = state.report?.kind == .report && termination == .exited(0)
        if completed && !(manifest.restart.mode == .always && manifest.inputs.isEmpty) {
            settle(id, failedFinally: false)
            return
        }
        let cause = completed ? "completed" : failureCause(state, worker, termination)
        if !completed && state.failure == nil { board.fail(id, cause, pid: worker.child.pid) }
        guard phase != .stopping else {
            if !completed { problems.append("node \(id) failed: \(cause)") }
            settle(id, failedFinally: !completed)
            return
        }
        var tracker = trackers[id] ?? RestartTracker(policy: manifest.restart)
        let decision = tracker.decide(after: completed ? .completed : .failed, isSource: manifest.inputs.isEmpty, now: now)
        trackers[id] = tracker
        switch decision {
        case .restart(let delay):
            pendingRestarts[id] = PendingRestart(at: now &+ delay, delay: delay, cause: cause)
            if !completed {
                logger.warning(
                    "failed (\(cause)); restart \(tracker.restarts) in \(Self.durationText(delay))",
                    metadata: ["node": "\(id)", "pid": "\(worker.child.pid)"]
                )
            }
        case .stayDown:
            problems.append(completed ? "node \(id) ended" : "node \(id) failed: \(cause)")
            status = .failed
            settle(id, failedFinally: true)
        case .giveUp(let count):
            let window = Self.durationText(manifest.restart.windowNanoseconds)
            let what = manifest.restart.giveUp == .leaveDown ? "left down" : "stopping the flow"
            let line = "node \(id) failed again after \(count) restart\(count == 1 ? "" : "s") within \(window): circuit breaker open, \(what) (last failure: \(cause))"
            board.log(.nodeGaveUp, node: id, pid: worker.child.pid, detail: line)
            problems.append(line)
            if manifest.restart.giveUp == .leaveDown {
                leftDown.insert(id)
                logger.error("\(line)", metadata: ["node": "\(id)"])
            } else {
                status = .failed
            }
            settle(id, failedFinally: true)
        }
    }

    /// A live worker: killed if it hangs (missed heartbeats), lingers after its failure or its bus
    /// connection's end, or is not ready 30 s after its start. Its end then comes through its exit descriptor.
    private func watchAlive(_ worker: WorkerProcess, _ state: RunBoard.Node, phase: Phase, now: UInt64) {
        guard worker.killedBecause == nil else { return }
        if state.missedHeartbeats {
            worker.kill(because: "hung: no heartbeat for \(Self.secondsText(options.hangTimeout)), killed")
        } else if state.report?.kind == .report {
            return  // completed; it exits by itself, and waitForWorkers stops it if it does not
        } else if state.failure != nil || state.detached != nil {
            // It reported a failure or lost its connection: it exits by itself, in well under a second.
            if worker.lingerDeadline == nil { worker.lingerDeadline = now &+ 2_000_000_000 }
            if now > worker.lingerDeadline! {
                worker.kill(because: "still running 2 s after it \(state.failure != nil ? "failed" : "disconnected"), killed")
            }
        } else if !state.isReady && now > worker.startedAt &+ 30_000_000_000 {
            worker.kill(because: "not ready 30 s after its worker started, killed")
        }
    }

    /// Why a worker's end is a failure, for people and the node-failed event.
    private func failureCause(_ state: RunBoard.Node, _ worker: WorkerProcess, _ termination: ChildProcess.Termination) -> String {
        if let reason = worker.killedBecause { return reason }
        if let failure = state.failure { return failure }
        if let detached = state.detached, termination == .exited(WorkerExit.busLost) {
            return "disconnected before it reported (\(detached))"
        }
        if state.report?.kind == .report { return "its worker ended with \(termination) after it reported" }
        return "its worker ended (\(termination)) before it reported"
    }

    /// Starts `id` again after its previous worker ended.
    private func restartNode(_ id: String, after previous: WorkerProcess, _ pending: PendingRestart) {
        board.restart(id)
        let count = trackers[id]?.restarts ?? 0
        do {
            let worker = try spawn(id)
            board.log(
                .nodeRestarted, node: id, pid: worker.child.pid,
                detail: "restart \(count) after \(Self.durationText(pending.delay)) (previous worker, pid \(previous.child.pid): \(pending.cause))"
            )
        } catch {
            // Cannot even start it: as final as a failure can be.
            board.fail(id, "\(error)")
            settle(id, failedFinally: true)
        }
    }

    /// A node hand-attached: no restarts; its end is final.
    private func superviseByHand(
        _ manifest: NodeManifest, _ state: RunBoard.Node, phase: Phase, now: UInt64, attachDeadline: UInt64?,
        problems: inout [String], status: inout Status
    ) {
        let id = manifest.id
        if state.report?.kind == .report {
            settle(id, failedFinally: false)
        } else if let failure = state.failure {
            problems.append("node \(id) failed: \(failure)")
            status = .failed
            settle(id, failedFinally: true)
        } else if let detached = state.detached {
            problems.append("node \(id) disconnected before it reported (\(detached))")
            status = .failed
            settle(id, failedFinally: true)
        } else if phase == .stopping && state.attachedPID == nil {
            settle(id, failedFinally: true)  // never attached: nothing to wait for
        } else if phase == .starting, !state.isReady, let attachDeadline, now > attachDeadline {
            problems.append("node \(id) did not \(state.attachedPID == nil ? "attach" : "get ready") within the attach timeout")
            status = .failed
        }
    }

    /// The node's fate is known. Its output streams are ended once its worker is gone, if it did not end them
    /// itself (it failed or crashed under a restart policy, or it is a source under `always` that completed
    /// just before a stop): its consumers drain and end. A node that failed for good reads no more: its
    /// places in its input rings are retired (the nodes feeding it are not held up for room it will never
    /// release).
    private func settle(_ id: String, failedFinally: Bool) {
        settled.insert(id)
        for edge in flow.routes.edges where edge.from.node == id { streamsToEnd.insert(edge.id) }
        if failedFinally { retireInputs(of: id) }
    }

    /// Ends the streams of producers that are gone for good (refused, and tried again, while one lives).
    private func endStreamsOfGoneProducers() {
        for edge in streamsToEnd where rings[edge]?.endStreamOfGoneProducer() ?? true {
            streamsToEnd.remove(edge)
        }
    }

    /// A ring truncated or corrupted by another process fails the run (once, with what is wrong); the
    /// coordinator stays off its mapping from then on, so it survives to report and clean up.
    private func checkRings(problems: inout [String], status: inout Status) {
        for (id, ring) in rings where !ring.isReported {
            ring.check()
            guard let problem = ring.problem else { continue }
            ring.isReported = true
            ringProblems[id] = problem
            problems.append(problem)
            logger.error("\(problem)")
            if status == .completed { status = .failed }
        }
    }

    /// At the end, with every worker gone: the rings' checked counters for the summary. A ring found corrupt
    /// fails the run, and so does, in a run that would have completed, a stream that ended with frames its
    /// reader neither read nor lost to its policy (a forged `closed` flag, for instance).
    private func checkAccounts(problems: inout [String], status: inout Status) {
        for (id, ring) in rings { if let ringStatus = ring.status() { ringStatuses[id] = ringStatus } }
        checkRings(problems: &problems, status: &status)
        guard status == .completed else { return }
        for edge in flow.routes.edges {
            guard let ringStatus = ringStatuses[edge.id] else { continue }
            for (slot, target) in edge.to.enumerated() {
                let missing = ringStatus.unaccountedFrames(slot: slot)
                guard missing > 0 else { continue }
                let key = "\(edge.from)->\(target)"
                unaccounted[key] = missing
                problems.append("edge \(key) failed: its stream ended with \(missing) of \(ringStatus.writeFrames) frames not accounted for (neither read nor dropped)")
                status = .failed
            }
        }
    }

    static func secondsText(_ duration: Duration) -> String {
        let seconds = Double(Clock.nanoseconds(duration)) / 1e9
        return seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
    }

    static func durationText(_ nanoseconds: UInt64) -> String {
        nanoseconds >= 1_000_000_000 && nanoseconds % 1_000_000 == 0
            ? secondsText(.nanoseconds(Int64(clamping: nanoseconds))) : "\(nanoseconds / 1_000_000) ms"
    }

    /// Retires `node`'s consumer slots in the rings it reads.
    private func retireInputs(of node: String) {
        for edge in flow.routes.edges {
            for (slot, target) in edge.to.enumerated() where target.node == node {
                rings[edge.id]?.retireConsumer(slot)
            }
        }
    }

    private func publish(_ command: ControlCommand, to node: String? = nil) {
        let topic = node.map { Topics.control(flow: flow.flow, node: $0) } ?? Topics.control(flow: flow.flow)
        // Cannot fail: a message of one enum field always encodes.
        guard let payload = try? RunCoding.encode(ControlMessage(command)) else { return }
        server?.publish(Envelope(id: 0, topic: topic, contentType: RunCoding.contentType, payload: payload))
    }

    /// Reaps the workers that ended (their exit descriptors woke the loop; polled as well), and records each
    /// end against the start it ends.
    private func reapChildren() {
        for worker in workers.values where worker.termination == nil {
            guard (try? worker.child.hasEnded()) ?? true else { continue }
            // Ended but not reaped: its group id is still reserved, so this reaches only what it left behind
            // (a `process` node's program orphaned by a crash), never an unrelated process.
            worker.child.sendToGroup(signal: SIGKILL)
            if let termination = try? worker.child.poll() { recordEnd(of: worker, termination) }
        }
        flushEvents()
    }

    private func recordEnd(of worker: WorkerProcess, _ termination: ChildProcess.Termination) {
        worker.termination = termination
        if let descriptor = worker.exitDescriptor {
            board.unwatch(descriptor)
            FileDescriptor(adopting: descriptor).close()
            worker.exitDescriptor = nil
        }
        board.log(.nodeExited, node: worker.node, pid: worker.child.pid, detail: termination.description)
    }

    /// How each node's last worker ended.
    var terminations: [String: ChildProcess.Termination] {
        workers.compactMapValues(\.termination)
    }

    /// Restarts per node.
    var restarts: [String: Int] { trackers.mapValues(\.restarts) }

    /// Hands the events logged since the last call to their readers: the bus (`flow.F.execution.KIND`), the
    /// terminal (`--events`), the JSON-lines file (`--events-file`).
    func flushEvents() {
        for event in board.takeEvents() {
            if let server, let payload = try? RunCoding.encode(event) {
                server.publish(Envelope(id: 0, topic: ExecutionEvent.topic(flow: flow.flow, kind: event.kind), contentType: RunCoding.contentType, payload: payload))
            }
            if options.showEvents && !outputClosed && !StandardOutput.write(Self.eventLine(event) + "\n") {
                // Its reader is gone (`| head`) or its terminal closed: nobody sees the run any more; it stops
                // as after Ctrl-C, and the summary still goes to --summary-json.
                outputClosed = true
                board.interrupt("standard output closed")
            }
            if let eventsHandle, let document = try? RunCoding.document(event) {
                eventsHandle.write(Data((JSONText.write(document, style: .compact) + "\n").utf8))
            }
        }
    }

    /// `+   52.1 ms  node-ready      gain (pid 1234): detail`.
    static func eventLine(_ event: ExecutionEvent) -> String {
        let elapsed = String(format: "+%9.1f ms", Double(event.elapsedNanoseconds) / 1e6)
        let kind = event.kind.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)
        var line = "\(elapsed)  \(kind)"
        if let node = event.node { line += " \(node)" }
        if let pid = event.pid { line += " (pid \(pid))" }
        if let detail = event.detail { line += event.node == nil && event.pid == nil ? " \(detail)" : ": \(detail)" }
        return line.trimmingCharacters(in: .whitespaces)
    }

    /// Waits for the workers to exit; stops those that do not (SIGTERM, then SIGKILL). The workers of `cut`
    /// nodes get their SIGTERM at once.
    private func waitForWorkers(timeoutNanoseconds: UInt64, stoppingFirst cut: [String] = []) {
        for id in cut { workers[id]?.signalIfRunning(SIGTERM) }
        // The timeout to end on their own, SIGTERM, a second more, SIGKILL; each signal to each worker's process
        // group: a `process` node's program (in its worker's group) goes too.
        let teardown = Teardown([
            .wait(.nanoseconds(Int64(clamping: timeoutNanoseconds))),
            .send(.terminate, allowedDurationToNextStep: .seconds(1)),
        ])
        teardown.perform(
            send: { signal in for worker in workers.values { worker.signalIfRunning(signal.rawValue) } },
            hasEnded: { !workers.values.contains(where: { $0.termination == nil }) },
            pause: {
                reapChildren()
                board.wait(milliseconds: 10)
            }
        )
        // What is left was sent SIGKILL: reap it.
        for worker in workers.values where worker.termination == nil {
            if let termination = try? worker.child.wait() { recordEnd(of: worker, termination) }
        }
    }

    /// Undoes everything the run made; safe to call more than once.
    func finish() {
        if workers.values.contains(where: { $0.termination == nil }) { waitForWorkers(timeoutNanoseconds: 0) }
        // The workers' last lines, once they and their groups are gone (a second at most, in all).
        let logDeadline = Clock.monotonicNanoseconds() + 1_000_000_000
        for worker in workers.values {
            let left = Int((logDeadline.subtractingReportingOverflow(Clock.monotonicNanoseconds()).partialValue) / 1_000_000)
            if worker.logCapture?.wait(milliseconds: max(0, min(left, 1000))) ?? true { worker.logCapture = nil }
        }
        flushEvents()
        try? eventsHandle?.close()
        eventsHandle = nil
        for (id, ring) in rings {
            if ringStatuses[id] == nil, let status = ring.status() { ringStatuses[id] = status }
            if let problem = ring.problem { ringProblems[id] = problem }
            ring.remove()
        }
        rings = [:]
        if let server {
            server.stop()
            serverFinished.wait()
            self.server = nil
        }
        if isRecorded {
            RunRecords(directory: runtime).remove(runID)
            isRecorded = false
        }
    }

    // MARK: - Helpers

    func ringName(_ edge: DataEdge) -> String {
        layout.ringName(node: edge.from.node, output: edge.from.port)
    }

    private func assignment(for node: NodeManifest) throws -> WorkerAssignment {
        let edges = Dictionary(uniqueKeysWithValues: flow.routes.edges.map { ($0.id, $0) })
        let inputs = try node.inputs.map { port in
            guard let edge = edges[port.edge],
                let slot = edge.to.firstIndex(of: PortReference(node: node.id, port: port.name))
            else { throw RunFailure("the compiled flow has no edge \(port.edge) into \(node.id)/\(port.name)") }
            return WorkerAssignment.InputBinding(
                port: port.name,
                edge: edge.id,
                ring: ringName(edge),
                slot: slot,
                deadlineNanoseconds: edge.deadlineNanoseconds
            )
        }
        let outputs = try node.outputs.map { port in
            guard let edge = edges[port.edge] else { throw RunFailure("the compiled flow has no edge \(port.edge)") }
            return WorkerAssignment.OutputBinding(
                port: port.name,
                edge: edge.id,
                ring: ringName(edge),
                contentType: edge.contentType,
                deadlineNanoseconds: edge.deadlineNanoseconds,
                priority: edge.qos
            )
        }
        var node = node
        if var process = node.process {
            // A process node's program runs where the coordinator runs (or in `cwd` from there), also when its
            // worker is started by hand in another directory.
            let here = FileManager.default.currentDirectoryPath
            let directory = process.workingDirectory ?? "."
            process.workingDirectory = directory.hasPrefix("/") ? directory : (URL(fileURLWithPath: here).appendingPathComponent(directory).standardizedFileURL.path)
            node.process = process
        }
        return WorkerAssignment(
            run: runID,
            flow: flow.flow,
            traceParent: traceParent,
            node: node,
            controlTopics: [Topics.control(flow: flow.flow), Topics.control(flow: flow.flow, node: node.id)],
            eventsTopic: Topics.events(flow: flow.flow, node: node.id),
            inputs: inputs,
            outputs: outputs,
            metricsTopic: Topics.metrics(flow: flow.flow, node: node.id)
        )
    }

    static func powerOfTwo(atLeast value: Int) -> Int {
        var result = 1
        while result < value && result < (1 << 30) { result <<= 1 }
        return result
    }

}

/// One start of a node's worker process. A death is attributed to the start it ends (its pid), never to the
/// replacement started after it (a new `WorkerProcess`; the board's generation tells their messages apart).
final class WorkerProcess {
    let node: String
    let child: ChildProcess
    /// `CLOCK_MONOTONIC` at the spawn.
    let startedAt = Clock.monotonicNanoseconds()
    /// The pidfd the run's board watches, until the worker is reaped; closed by the run. A raw descriptor,
    /// because an optional noncopyable `FileDescriptor` stored in a class crashes the Swift 6.3.1 compiler.
    var exitDescriptor: Int32?
    var termination: ChildProcess.Termination?
    /// Why the coordinator killed it, when it did.
    private(set) var killedBecause: String?
    /// When a worker that failed or lost its connection, and is still running, is killed.
    var lingerDeadline: UInt64?
    /// Its standard error, read into the run's log.
    var logCapture: WorkerLogCapture?

    init(node: String, child: ChildProcess) {
        self.node = node
        self.child = child
    }

    /// SIGKILL to the worker's process group (its program too), and the reason, for its failure.
    func kill(because reason: String) {
        killedBecause = reason
        signalIfRunning(SIGKILL)
    }

    /// A signal to the worker's process group, while it is not reaped (its pid cannot be reused until then).
    func signalIfRunning(_ signal: Int32) {
        if termination == nil { child.sendToGroup(signal: signal) }
    }
}

/// A run that could not be set up or carried out; the message is for people.
struct RunFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
