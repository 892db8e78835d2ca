/// The facts that travel with every message on the bus and every frame on a data edge.
///
/// An envelope is what `IpcEventBus` publishes and what a frame header is derived from. Its CBOR form
/// (integer keys, see `docs/wire-format.md`) is encoded on the hot path by ChronetixCBOR without
/// allocating.
public struct Envelope: Hashable, Sendable {
    /// A sender-assigned id, unique per sender; request/reply uses it as the correlation id.
    public var id: UInt64
    /// The dot-separated bus topic (`flow.sensor-chain.gain.events`).
    public var topic: String
    /// The media type of ``payload`` (see ``ContentType/mediaType``).
    public var contentType: String
    /// The version of the payload's schema for that content type.
    public var schemaVersion: UInt32
    /// Absolute deadline in nanoseconds on the host's `CLOCK_MONOTONIC`; 0 means none.
    public var deadlineNanoseconds: UInt64
    /// The QoS class; its raw value is the priority.
    public var priority: QoSClass
    /// The W3C `traceparent` of the flow run, when tracing.
    public var traceParent: TraceParent?
    /// The W3C `tracestate`, passed through untouched.
    public var traceState: String?
    /// Application headers, in order; names need not be unique.
    public var headers: [Header]
    /// The payload bytes.
    public var payload: [UInt8]

    /// One application header.
    public struct Header: Hashable, Sendable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(
        id: UInt64,
        topic: String,
        contentType: String = ContentType.bytes.mediaType,
        schemaVersion: UInt32 = 1,
        deadlineNanoseconds: UInt64 = 0,
        priority: QoSClass = .normal,
        traceParent: TraceParent? = nil,
        traceState: String? = nil,
        headers: [Header] = [],
        payload: [UInt8] = []
    ) {
        self.id = id
        self.topic = topic
        self.contentType = contentType
        self.schemaVersion = schemaVersion
        self.deadlineNanoseconds = deadlineNanoseconds
        self.priority = priority
        self.traceParent = traceParent
        self.traceState = traceState
        self.headers = headers
        self.payload = payload
    }
}
