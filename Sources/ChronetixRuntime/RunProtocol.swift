public import ChronetixCore
internal import ChronetixCBOR

/// What the coordinator tells a worker in its welcome: the node it runs and where its data goes.
///
/// Sent as the welcome's document (a `StructuredValue` built from this `Codable` value), so the bus carries
/// it as CBOR. `docs/running.md` lists the fields.
public struct WorkerAssignment: Hashable, Sendable, Codable {
    /// The run's id: names the ring segments and the run directory.
    public var run: String
    /// The flow's name.
    public var flow: String
    /// The W3C trace context of the run (`00-<trace id>-<span id>-01`): every frame of the run belongs to it.
    public var traceParent: String
    /// The node's compiled manifest (kind, config, ports, deadline, policies).
    public var node: NodeManifest
    /// The topics the worker subscribes to for commands (`flow.F.control`, `flow.F.N.control`).
    public var controlTopics: [String]
    /// The topic the worker sends its lifecycle messages to (`flow.F.N.events`), as requests.
    public var eventsTopic: String
    /// The topic the worker publishes its ``MetricsSnapshot``s on (`flow.F.N.metrics`); nil: none are sent.
    public var metricsTopic: String?
    /// One per input port, in the manifest's order.
    public var inputs: [InputBinding]
    /// One per output port, in the manifest's order.
    public var outputs: [OutputBinding]

    /// Where an input port reads: a consumer slot of the producing node's ring.
    public struct InputBinding: Hashable, Sendable, Codable {
        public var port: String
        /// The data edge (`node/output`).
        public var edge: String
        /// The ring segment's name.
        public var ring: String
        /// The consumer slot this input owns in the ring (its place in the edge's fan-out).
        public var slot: Int
        /// The budget from a frame's timestamp to its consumption, in nanoseconds; 0 for none.
        public var deadlineNanoseconds: UInt64

        public init(port: String, edge: String, ring: String, slot: Int, deadlineNanoseconds: UInt64) {
            self.port = port
            self.edge = edge
            self.ring = ring
            self.slot = slot
            self.deadlineNanoseconds = deadlineNanoseconds
        }
    }

    /// Where an output port writes: the producing side of its edge's ring.
    public struct OutputBinding: Hashable, Sendable, Codable {
        public var port: String
        public var edge: String
        public var ring: String
        /// The content type stamped on every frame (the edge's, as compiled).
        public var contentType: ContentType
        /// The deadline budget stamped on every frame (timestamp + budget), in nanoseconds; 0 for none.
        public var deadlineNanoseconds: UInt64
        /// The priority stamped on every frame.
        public var priority: QoSClass

        public init(port: String, edge: String, ring: String, contentType: ContentType, deadlineNanoseconds: UInt64, priority: QoSClass) {
            self.port = port
            self.edge = edge
            self.ring = ring
            self.contentType = contentType
            self.deadlineNanoseconds = deadlineNanoseconds
            self.priority = priority
        }
    }

    public init(
        run: String,
        flow: String,
        traceParent: String,
        node: NodeManifest,
        controlTopics: [String],
        eventsTopic: String,
        inputs: [InputBinding],
        outputs: [OutputBinding],
        metricsTopic: String? = nil
    ) {
        self.run = run
        self.flow = flow
        self.traceParent = traceParent
        self.node = node
        self.controlTopics = controlTopics
        self.eventsTopic = eventsTopic
        self.metricsTopic = metricsTopic
        self.inputs = inputs
        self.outputs = outputs
    }
}

/// What one input of a node saw: the consumer's half of an edge's figures.
public struct InputReport: Hashable, Sendable, Codable {
    public var port: String
    public var edge: String
    public var slot: Int
    /// Frames received.
    public var frames: UInt64
    /// Payload bytes received.
    public var bytes: UInt64
    /// Frames received again after the worker re-attached (counted by the ring).
    public var duplicates: UInt64
    /// Frames received after their deadline.
    public var deadlineMisses: UInt64
    /// Of those, the frames not handed to the node because its `on_late` is `drop`.
    public var lateDrops: UInt64
    /// From a frame's timestamp (when its source made it) to its receipt here, in nanoseconds.
    public var latencyP50: UInt64
    public var latencyP95: UInt64
    public var latencyP99: UInt64

    public init(
        port: String, edge: String, slot: Int, frames: UInt64, bytes: UInt64, duplicates: UInt64,
        deadlineMisses: UInt64, lateDrops: UInt64 = 0, latencyP50: UInt64, latencyP95: UInt64, latencyP99: UInt64
    ) {
        self.port = port
        self.edge = edge
        self.slot = slot
        self.frames = frames
        self.bytes = bytes
        self.duplicates = duplicates
        self.deadlineMisses = deadlineMisses
        self.lateDrops = lateDrops
        self.latencyP50 = latencyP50
        self.latencyP95 = latencyP95
        self.latencyP99 = latencyP99
    }
}

/// A worker's lifecycle message to the coordinator, sent as a request on its events topic; the coordinator
/// answers each (so a worker knows its report arrived before it exits).
public struct WorkerMessage: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable {
        /// Attached, rings open, node initialised: the flow may start.
        case ready
        /// The node ended (completed or stopped): its figures follow.
        case report
        /// The node failed; `error` says why. A report may follow.
        case failed
    }

    public var kind: Kind
    /// The node's id.
    public var node: String
    /// The worker's pid.
    public var pid: Int32
    /// For `failed`: what went wrong.
    public var error: String?
    /// For `report`: frames the node received (all inputs) and sent (all outputs).
    public var framesIn: UInt64
    public var framesOut: UInt64
    /// Frames the node could not handle (skipped or replaced under its error policy).
    public var errors: UInt64
    /// `CLOCK_MONOTONIC` when a sink consumed its first frame; 0 if it consumed none or is not a sink.
    public var firstFrameNanoseconds: UInt64
    /// `CLOCK_MONOTONIC` when it consumed its last frame; 0 likewise.
    public var lastFrameNanoseconds: UInt64
    public var inputs: [InputReport]
    /// The node's own figures (`report()`), shown in the summary.
    public var details: StructuredValue

    public init(kind: Kind, node: String, pid: Int32) {
        self.kind = kind
        self.node = node
        self.pid = pid
        error = nil
        framesIn = 0
        framesOut = 0
        errors = 0
        firstFrameNanoseconds = 0
        lastFrameNanoseconds = 0
        inputs = []
        details = .map([])
    }
}

/// The coordinator's commands to its workers.
public enum ControlCommand: String, Hashable, Sendable, Codable {
    /// Every node is ready: sources begin.
    case start
    /// End the run early: sources stop and close their outputs, so the end of stream flows downstream and
    /// every node drains and reports as at a normal end.
    case stop
}

/// One command, as published on the control topics (`flow.F.control`, `flow.F.N.control`): CBOR
/// (``RunCoding``), like every other run message. A worker ignores (and logs) what it cannot decode.
public struct ControlMessage: Hashable, Sendable, Codable {
    public var command: ControlCommand

    public init(_ command: ControlCommand) {
        self.command = command
    }
}

/// Encoding of the run protocol's payloads: a `Codable` value as a `StructuredValue`, as CBOR.
public enum RunCoding {
    /// The content type of lifecycle messages.
    public static let contentType = "application/cbor"

    /// `value` as CBOR bytes.
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        CBOR.encode(try StructuredValueEncoder().encode(value))
    }

    /// A value from CBOR bytes, with the codec's default limits.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try StructuredValueDecoder().decode(type, from: CBOR.decodeValue(bytes))
    }

    /// `value` as a document (the welcome's).
    public static func document(_ value: some Encodable) throws -> StructuredValue {
        try StructuredValueEncoder().encode(value)
    }

    /// A value from a document.
    public static func value<T: Decodable>(_ type: T.Type, from document: StructuredValue) throws -> T {
        try StructuredValueDecoder().decode(type, from: document)
    }
}

/// One step of a run, as the coordinator saw it: the ExecutionEvent stream. Published on the bus under
/// ``topic(flow:kind:)`` (CBOR, ``RunCoding``), printed by `chronetix run --events` and written as JSON lines by
/// `--events-file`. `docs/running.md` lists the kinds.
public struct ExecutionEvent: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable, CaseIterable {
        /// The run exists: rings made, bus listening (`detail`: the trace context).
        case runCreated = "run-created"
        /// A worker was started for the node (`pid`), or attached by hand.
        case nodeStarted = "node-started"
        /// The node's worker attached and its node is initialised.
        case nodeReady = "node-ready"
        /// Every node is ready and the sources were told to start.
        case flowStarted = "flow-started"
        /// The node failed (`detail`: the cause).
        case nodeFailed = "node-failed"
        /// A new worker was started for the node under its restart policy (`pid`; `detail`: which restart,
        /// after what delay, and what ended the previous worker).
        case nodeRestarted = "node-restarted"
        /// The node's circuit breaker opened: too many restarts within its window (`detail`: what follows,
        /// the flow stopping or the node left down).
        case nodeGaveUp = "node-gave-up"
        /// The node drained its inputs, ended and reported.
        case nodeCompleted = "node-completed"
        /// The node's worker process ended (`detail`: its exit status or signal).
        case nodeExited = "node-exited"
        /// The sources were told to stop before their end (`detail`: `interrupted` or `failed`).
        case flowStopping = "flow-stopping"
        /// The run is over (`detail`: `completed`, `failed` or `interrupted`).
        case flowCompleted = "flow-completed"
    }

    public var kind: Kind
    /// The run's id (`<flow>-<8 hex digits>`).
    public var run: String
    public var flow: String
    public var node: String?
    /// Wall-clock time of the event, nanoseconds since the Unix epoch.
    public var timeNanoseconds: UInt64
    /// Nanoseconds since the command started.
    public var elapsedNanoseconds: UInt64
    public var pid: Int32?
    public var detail: String?

    public init(
        kind: Kind, run: String, flow: String, node: String? = nil, timeNanoseconds: UInt64, elapsedNanoseconds: UInt64,
        pid: Int32? = nil, detail: String? = nil
    ) {
        self.kind = kind
        self.run = run
        self.flow = flow
        self.node = node
        self.timeNanoseconds = timeNanoseconds
        self.elapsedNanoseconds = elapsedNanoseconds
        self.pid = pid
        self.detail = detail
    }

    /// `flow.<flow>.execution.<kind>`: subscribe to `flow.<flow>.execution.*` for all of a flow's events.
    public static func topic(flow: String, kind: Kind) -> String { "flow.\(flow).execution.\(kind.rawValue)" }

    private enum CodingKeys: String, CodingKey {
        case kind, run, flow, node
        case timeNanoseconds = "time_ns"
        case elapsedNanoseconds = "elapsed_ns"
        case pid, detail
    }
}
