internal import ChronetixCore
internal import ChronetixNodes
internal import ChronetixSystem
internal import IpcEventBus
internal import ShmDataPort

/// How a worker was started: which bus, which node, with which token.
public struct WorkerOptions: Sendable {
    /// The bus socket's path.
    public var socketPath: String
    /// The node to run.
    public var node: String
    /// The run's token.
    public var token: String
    /// Where the worker's lines go (stderr by default), already prefixed with the node id.
    public var log: @Sendable (String) -> Void

    public init(socketPath: String, node: String, token: String, log: @escaping @Sendable (String) -> Void) {
        self.socketPath = socketPath
        self.node = node
        self.token = token
        self.log = log
    }
}

/// A worker's exit statuses.
public enum WorkerExit {
    /// The node ran to its end (or was stopped) and reported.
    public static let completed: Int32 = 0
    /// The node failed (its config, a frame under `on_error: propagate`, a ring).
    public static let nodeFailed: Int32 = 1
    /// The worker could not attach: refused (unknown node, duplicate, bad token), no bus, a bad welcome.
    public static let attachFailed: Int32 = 3
    /// The bus went away during the run (the coordinator died or closed the connection).
    public static let busLost: Int32 = 4
}

/// Runs one node of a flow in this process: attach to the coordinator's bus, receive the assignment, open
/// the rings, initialise the node, say ready, run, report, detach.
public enum WorkerRuntime {
    /// Runs the worker to its end.
    /// - Parameter options: The bus, node and token.
    /// - Returns: The process's exit status (``WorkerExit``).
    public static func run(_ options: WorkerOptions) -> Int32 {
        let log = options.log
        var configuration = BusClient.Configuration(socketPath: options.socketPath, role: "worker", name: options.node, token: options.token)
        // The writer thread sends heartbeats while the node computes, and batches lifecycle messages.
        configuration.sending = .onThread
        let client: BusClient
        do {
            client = try BusClient(configuration: configuration)
        } catch {
            log("cannot attach to the bus at \(options.socketPath): \(error)")
            return WorkerExit.attachFailed
        }
        defer { client.close() }
        let assignment: WorkerAssignment
        do {
            guard let document = client.welcome.document else { throw WorkerAbort("the welcome carries no assignment") }
            assignment = try RunCoding.value(WorkerAssignment.self, from: document)
        } catch {
            log("the coordinator's welcome is not an assignment this worker understands: \(error)")
            return WorkerExit.attachFailed
        }
        let session = WorkerSession(client: client, assignment: assignment, log: log)
        return session.run()
    }
}

/// Thrown out of a source's blocked `emit` when the run stops: the frame is not made.
struct SourceStopped: Error {}

/// One attached worker's run.
final class WorkerSession {
    let client: BusClient
    let assignment: WorkerAssignment
    let log: @Sendable (String) -> Void
    private(set) var isStarted = false
    private(set) var isStopping = false
    // Touched for every frame; only the worker's thread uses a session (see OutputPort on exclusivity).
    @exclusivity(unchecked) private var nextService: UInt64 = 0
    var errors: UInt64 = 0
    @exclusivity(unchecked) var firstFrame: UInt64 = 0
    @exclusivity(unchecked) var lastFrame: UInt64 = 0
    /// The periodic metrics snapshots (WorkerSession+Metrics.swift).
    @exclusivity(unchecked) var metrics = WorkerMetrics()

    init(client: BusClient, assignment: WorkerAssignment, log: @escaping @Sendable (String) -> Void) {
        self.client = client
        self.assignment = assignment
        self.log = log
    }

    var node: NodeManifest { assignment.node }

    func run() -> Int32 {
        var inputs: [InputPort] = []
        var outputs: [OutputPort] = []
        do {
            for topic in assignment.controlTopics { _ = try client.subscribe(topic) }
            for (index, binding) in assignment.inputs.enumerated() {
                let type = node.inputs.first(where: { $0.name == binding.port })?.contentType ?? .any
                inputs.append(try InputPort(binding: binding, index: index, contentType: type, onLate: node.onLate))
            }
            for binding in assignment.outputs {
                outputs.append(try OutputPort(binding: binding) { [unowned self] in try serviceWhileBlocked() })
            }
        } catch {
            return fail("cannot open the node's ports: \(error)", outputs: outputs)
        }
        metrics.attach(inputs: inputs, outputs: outputs)
        let runner: NodeRunner
        do {
            runner = try NodeRunner(session: self, inputs: inputs, outputs: outputs)
        } catch {
            return fail("\(error)", outputs: outputs)
        }
        do {
            try send(WorkerMessage(kind: .ready, node: node.id, pid: FileSystem.currentProcessID()))
        } catch {
            return fail("the coordinator did not take the ready message: \(error)", outputs: outputs)
        }
        do {
            try runner.run()
        } catch let abort as WorkerAbort {
            for output in outputs { output.close() }
            log(abort.description)
            return WorkerExit.busLost
        } catch {
            return fail("\(error)", outputs: outputs, inputs: inputs, runner: runner)
        }
        publishMetrics(isFinal: true)
        do {
            try send(report(inputs: inputs, outputs: outputs, details: runner.details()))
        } catch {
            log("the coordinator did not take the report: \(error)")
            return WorkerExit.busLost
        }
        return WorkerExit.completed
    }

    // MARK: - The bus

    /// Handles what the bus sent, without waiting; throws when the bus is gone.
    func service() throws {
        do {
            while let event = try client.receive(timeout: .zero) { handle(event) }
        } catch {
            throw WorkerAbort("lost the coordinator's bus: \(error)")
        }
        let now = Clock.monotonicNanoseconds()
        nextService = now &+ 5_000_000
        if now >= metrics.nextSnapshot { publishMetrics(isFinal: false, now: now) }
    }

    /// ``service()`` at most every 5 ms.
    @inline(__always)
    func serviceIfDue(now: UInt64) throws {
        if now >= nextService { try service() }
    }

    /// Called while an output waits for room: services the bus. A stopping source gives up its frame.
    private func serviceWhileBlocked() throws {
        try service()
        if isStopping && node.inputs.isEmpty { throw SourceStopped() }
    }

    /// Waits up to `milliseconds` for a command.
    func waitForCommand(milliseconds: Int) throws {
        do {
            if let event = try client.receive(timeout: .milliseconds(milliseconds)) { handle(event) }
        } catch {
            throw WorkerAbort("lost the coordinator's bus: \(error)")
        }
    }

    private func handle(_ event: BusEvent) {
        guard case .message(let delivery) = event else { return }
        switch (try? RunCoding.decode(ControlMessage.self, from: delivery.envelope.payload))?.command {
        case .start: isStarted = true
        case .stop:
            isStarted = true
            isStopping = true
        case nil: log("ignoring an unknown command on \(delivery.envelope.topic)")
        }
    }

    private func send(_ message: WorkerMessage) throws {
        let envelope = Envelope(
            id: 0,
            topic: assignment.eventsTopic,
            contentType: RunCoding.contentType,
            payload: try RunCoding.encode(message)
        )
        _ = try client.request(envelope, timeout: .seconds(10))
    }

    // MARK: - Reports

    private func report(inputs: [InputPort], outputs: [OutputPort], details: StructuredValue) -> WorkerMessage {
        var message = WorkerMessage(kind: .report, node: node.id, pid: FileSystem.currentProcessID())
        message.framesIn = inputs.reduce(0) { $0 + $1.frames }
        message.framesOut = outputs.reduce(0) { $0 + $1.frames }
        message.errors = errors
        message.firstFrameNanoseconds = firstFrame
        message.lastFrameNanoseconds = lastFrame
        message.inputs = inputs.map { $0.report() }
        message.details = details
        return message
    }

    /// Ends an output at the node's own end. A source under `restart: always` that ends by itself (not told
    /// to stop) leaves its stream open: the coordinator starts it again and the new worker continues the
    /// stream, or ends the stream for it when it gives up.
    func endOutput(_ output: OutputPort) {
        if node.restart.mode == .always && node.inputs.isEmpty && !isStopping {
            output.publish()
        } else {
            output.close()
        }
    }

    private func fail(_ text: String, outputs: [OutputPort], inputs: [InputPort] = [], runner: NodeRunner? = nil) -> Int32 {
        // Downstream nodes drain what was sent and end, rather than wait for frames that will not come. A node
        // that may be restarted leaves its streams open for its replacement; if the coordinator gives up on it,
        // the coordinator ends them.
        if node.restart.mode == .never {
            for output in outputs { output.close() }
        } else {
            for output in outputs { output.publish() }
        }
        log("failed: \(text)")
        // The figures up to the failure, for the metrics (a restarted worker's count from zero again).
        if runner != nil { publishMetrics(isFinal: true) }
        var message = report(inputs: inputs, outputs: outputs, details: runner?.details() ?? .map([]))
        message.kind = .failed
        message.error = text
        do {
            try send(message)
        } catch {
            log("the coordinator did not take the failure report: \(error)")
        }
        return WorkerExit.nodeFailed
    }
}
