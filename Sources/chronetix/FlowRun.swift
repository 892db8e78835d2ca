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
        /// Log the bus's attachments and detachments on stderr (`--verbose`).
        var verbose = false
    }

    /// How a stop went: why, when, and which nodes drained or were cut.
    struct Stop {
        /// `failed` or `interrupted`.
        var reason: Status
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
    let token: String
    let traceParent: String
    let socketPath: String
    let board: RunBoard
    /// The workers' metrics as the coordinator gathers them (`--metrics-port`, the progress lines).
    let metrics: RunMetrics
    private var rings: [String: RingHolder] = [:]
    private var server: BusServer?
    private let serverFinished = DispatchSemaphore(value: 0)
    private var children: [String: ChildProcess] = [:]
    private(set) var terminations: [String: ChildProcess.Termination] = [:]
    private(set) var readyNanoseconds: UInt64 = 0
    private(set) var endNanoseconds: UInt64 = 0
    private(set) var ringStatuses: [String: RingStatus] = [:]
    /// Set when the run was stopped before its natural end.
    private(set) var stop: Stop?
    private var eventsHandle: FileHandle?

    /// A ring segment held for the run; removed by ``remove()`` or at the latest in `deinit`.
    final class RingHolder {
        var segment: RingSegment?
        init(_ segment: consuming RingSegment) { self.segment = consume segment }
        func status() -> RingStatus? { segment?.status() }
        func remove() {
            if let segment = segment.take() { try? segment.remove() }  // best effort: `chronetix gc` removes leftovers
        }
        deinit { remove() }
    }

    init(flow: CompiledFlow, options: Options, startNanoseconds: UInt64) throws {
        self.flow = flow
        self.options = options
        self.startNanoseconds = startNanoseconds
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        runID = "\(flow.flow)-\(String(repeating: "0", count: 8 - suffix.count))\(suffix)"
        token = (0..<4).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined()
        let traceHigh = UInt64.random(in: 1...UInt64.max)
        let traceLow = UInt64.random(in: 0...UInt64.max)
        let span = UInt64.random(in: 1...UInt64.max)
        traceParent = TraceParent(traceIDHigh: traceHigh, traceIDLow: traceLow, parentID: span)?.text ?? ""
        socketPath = "\(FileSystem.temporaryDirectory)/chronetix-\(runID)/bus.sock"
        metrics = RunMetrics(flow: flow, run: runID)
        board = try RunBoard(nodes: flow.nodes.map(\.id), run: runID, flow: flow.flow, startNanoseconds: startNanoseconds)
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
            rings[edge.id] = RingHolder(try RingSegment(creating: name, configuration: configuration))
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
                board.detached(connection: peer.connectionID, reason: "\(reason): \(detail)")
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
                board.record(message)
                return .success(Envelope(id: request.id, topic: request.topic))
            }
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
        var logger = Logger(label: "chronetix.run")
        logger.logLevel = options.verbose ? .info : .warning
        var configuration = BusServer.Configuration(socketPath: socketPath, token: token, logger: logger)
        configuration.maxConnections = max(64, flow.nodes.count * 2)
        let server = try BusServer(configuration: configuration, hooks: hooks)
        self.server = server
        board.log(.runCreated, detail: traceParent)
        let finished = serverFinished
        let thread = Thread {
            do throws(BusError) {
                try server.run()
            } catch {
                StandardError.print("chronetix run: the bus failed: \(error)")
                board.fail("", "the bus failed: \(error)")
            }
            finished.signal()
        }
        thread.name = "chronetix bus"
        thread.start()
    }

    /// Starts a worker for every node not attached by hand.
    func spawnWorkers() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["CHRONETIX_TOKEN"] = token
        let variables = environment.map { "\($0.key)=\($0.value)" }
        let parent = FileSystem.currentProcessID()
        for node in flow.nodes where !options.attach.contains(node.id) {
            do {
                let child = try ChildProcess(
                    path: options.workerPath,
                    arguments: ["--bus", socketPath, "--node", node.id, "--parent", "\(parent)"],
                    environment: variables,
                    newProcessGroup: true
                )
                children[node.id] = child
                board.log(.nodeStarted, node: node.id, pid: child.pid)
            } catch {
                throw RunFailure("cannot start the worker for node \(node.id) (\(options.workerPath)): \(error)")
            }
        }
    }

    /// The command a person runs to attach `node` by hand.
    func attachCommand(for node: String) -> String {
        "\(options.workerPath) --bus \(socketPath) --node \(node) --token \(token)"
    }

    // MARK: - Running

    /// Waits until every node is ready, then starts the flow and waits for its end. A failure or an
    /// interruption stops the sources (before or after the start), and the run still waits for every node
    /// to drain and report, for at most the drain timeout; the nodes still running then are cut.
    func run() -> (Status, [String]) {
        var problems: [String] = []
        var status = Status.completed
        // 1. Every node attached and ready.
        let attachDeadline = options.attachTimeout.map { startNanoseconds + Clock.nanoseconds($0) }
        let spawnDeadline = startNanoseconds + 30_000_000_000
        while status == .completed {
            reapChildren()
            let nodes = board.nodes
            problems = failures(nodes).lines
            if !problems.isEmpty {
                status = .failed
                break
            }
            if board.interruptions.load(ordering: .relaxed) > 0 {
                status = .interrupted
                break
            }
            if nodes.values.allSatisfy(\.isReady) { break }
            let now = Clock.monotonicNanoseconds()
            for (id, node) in nodes where !node.isReady {
                let byHand = options.attach.contains(id)
                if byHand, let attachDeadline, now > attachDeadline {
                    problems.append("node \(id) did not \(node.attachedPID == nil ? "attach" : "get ready") within the attach timeout")
                } else if !byHand && now > spawnDeadline {
                    problems.append("node \(id) was not ready 30 s after its worker started")
                }
            }
            if !problems.isEmpty {
                status = .failed
                break
            }
            board.wait(milliseconds: 10)
        }
        if status == .completed {
            readyNanoseconds = Clock.monotonicNanoseconds()
            publish(.start)
            board.log(.flowStarted)
        }
        // 2. Every node reported (or the run is stopped).
        var stopDeadline: UInt64 = .max
        var retired: Set<String> = []
        while true {
            reapChildren()
            let nodes = board.nodes
            let found = failures(nodes)
            if !found.lines.isEmpty && status != .failed {
                problems = found.lines
                status = .failed
            }
            // A failed node reads no more: its places in its input rings are retired, so that the nodes
            // feeding it are not held up waiting for room it will never release.
            for id in found.nodes where retired.insert(id).inserted {
                retireInputs(of: id)
            }
            if board.interruptions.load(ordering: .relaxed) > 0 && status == .completed { status = .interrupted }
            if status != .completed && stopDeadline == .max {
                publish(.stop)
                board.log(.flowStopping, detail: status.rawValue)
                let now = Clock.monotonicNanoseconds()
                stop = Stop(reason: status, at: now)
                stopDeadline = now + Clock.nanoseconds(options.drainTimeout)
            }
            let finished = nodes.allSatisfy { id, node in
                node.report != nil || node.failure != nil || terminations[id] != nil
                    || (node.attachedPID == nil && status != .completed)
            }
            if finished {
                stop?.drainedAt = Clock.monotonicNanoseconds()
                break
            }
            let secondInterruption = board.interruptions.load(ordering: .relaxed) > 1
            if secondInterruption || Clock.monotonicNanoseconds() > stopDeadline {
                // What has not reported by now is cut: its worker is stopped below, its frames stay unread.
                let running = flow.nodes.map(\.id).filter { id in
                    guard let node = nodes[id] else { return false }
                    return node.report == nil && node.failure == nil && terminations[id] == nil && node.attachedPID != nil
                }
                stop?.cut = running
                let when = secondInterruption ? "at the second interruption" : "\(Self.secondsText(options.drainTimeout)) after the stop"
                problems.append("nodes cut \(when), still running: \(running.joined(separator: ", "))")
                break
            }
            board.wait(milliseconds: 10)
        }
        endNanoseconds = Clock.monotonicNanoseconds()
        let reported = board.nodes
        stop?.drained = flow.nodes.map(\.id).filter { reported[$0]?.report != nil }
        waitForChildren(timeoutNanoseconds: 2_000_000_000, stoppingFirst: stop?.cut ?? [])
        for (id, termination) in terminations.sorted(by: { $0.key < $1.key }) where termination != .exited(0) && status == .completed {
            problems.append("the worker of node \(id) ended with \(termination)")
            status = .failed
        }
        board.log(.flowCompleted, detail: status.rawValue)
        flushEvents()
        return (status, problems)
    }

    static func secondsText(_ duration: Duration) -> String {
        let seconds = Double(Clock.nanoseconds(duration)) / 1e9
        return seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
    }

    /// Retires `node`'s consumer slots in the rings it reads.
    private func retireInputs(of node: String) {
        for edge in flow.routes.edges {
            for (slot, target) in edge.to.enumerated() where target.node == node {
                rings[edge.id]?.segment?.retireConsumer(slot)
            }
        }
    }

    private func publish(_ command: ControlCommand) {
        server?.publish(Envelope(id: 0, topic: Topics.control(flow: flow.flow), payload: Array(command.rawValue.utf8)))
    }

    /// Failures seen so far: the failed nodes, and one line per node for people.
    private func failures(_ nodes: [String: RunBoard.Node]) -> (nodes: [String], lines: [String]) {
        var failed: [String] = []
        var lines: [String] = []
        for node in flow.nodes {
            guard let state = nodes[node.id] else { continue }
            if let failure = state.failure {
                lines.append("node \(node.id) failed: \(failure)")
            } else if state.report == nil, let detached = state.detached {
                lines.append("node \(node.id) disconnected before it reported (\(detached))")
            } else if state.report == nil, let termination = terminations[node.id] {
                lines.append("the worker of node \(node.id) ended (\(termination)) before it reported")
            } else {
                continue
            }
            failed.append(node.id)
        }
        return (failed, lines)
    }

    private func reapChildren() {
        for (id, child) in children where terminations[id] == nil {
            if let termination = try? child.poll() { recordEnd(of: id, child, termination) }
        }
        flushEvents()
    }

    private func recordEnd(of node: String, _ child: ChildProcess, _ termination: ChildProcess.Termination) {
        terminations[node] = termination
        board.log(.nodeExited, node: node, pid: child.pid, detail: termination.description)
    }

    /// Hands the events logged since the last call to their readers: the bus (`flow.F.execution.KIND`), the
    /// terminal (`--events`), the JSON-lines file (`--events-file`).
    func flushEvents() {
        for event in board.takeEvents() {
            if let server, let payload = try? RunCoding.encode(event) {
                server.publish(Envelope(id: 0, topic: ExecutionEvent.topic(flow: flow.flow, kind: event.kind), contentType: RunCoding.contentType, payload: payload))
            }
            if options.showEvents {
                print(Self.eventLine(event))
                fflush(nil)  // nil: every stream, standard output included
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

    /// Waits for spawned workers to exit; stops those that do not (SIGTERM, then SIGKILL). The workers of
    /// `cut` nodes get their SIGTERM at once.
    private func waitForChildren(timeoutNanoseconds: UInt64, stoppingFirst cut: [String] = []) {
        for id in cut where terminations[id] == nil { children[id]?.sendToGroup(signal: SIGTERM) }
        let deadline = Clock.monotonicNanoseconds() + timeoutNanoseconds
        while children.keys.contains(where: { terminations[$0] == nil }) && Clock.monotonicNanoseconds() < deadline {
            reapChildren()
            board.wait(milliseconds: 2)
        }
        // To each worker's process group: a `process` node's program (in its worker's group) goes too.
        for (id, child) in children where terminations[id] == nil {
            child.sendToGroup(signal: SIGTERM)
        }
        let killDeadline = Clock.monotonicNanoseconds() + 1_000_000_000
        while children.keys.contains(where: { terminations[$0] == nil }) && Clock.monotonicNanoseconds() < killDeadline {
            reapChildren()
            board.wait(milliseconds: 5)
        }
        for (id, child) in children where terminations[id] == nil {
            child.sendToGroup(signal: SIGKILL)
            if let termination = try? child.wait() { recordEnd(of: id, child, termination) }
        }
    }

    /// Undoes everything the run made; safe to call more than once.
    func finish() {
        if !children.isEmpty { waitForChildren(timeoutNanoseconds: 0) }
        children = [:]
        flushEvents()
        try? eventsHandle?.close()
        eventsHandle = nil
        for (id, ring) in rings {
            if let status = ring.status() { ringStatuses[id] = status }
            ring.remove()
        }
        rings = [:]
        if let server {
            server.stop()
            serverFinished.wait()
            self.server = nil
        }
    }

    // MARK: - Helpers

    func ringName(_ edge: DataEdge) -> String {
        RingName.forEdge(runID: runID, node: edge.from.node, output: edge.from.port)
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

/// A run that could not be set up or carried out; the message is for people.
struct RunFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
