public import ChronetixCore

/// The facts a frame carries besides its payload (the envelope facts of the data plane).
public struct FrameInfo: Hashable, Sendable {
    /// The producer's sequence number on the edge: 0, 1, 2… without gaps.
    public var sequence: UInt64
    /// `CLOCK_MONOTONIC` nanoseconds when the flow's source made the frame (maps keep their input's).
    public var timestampNanoseconds: Int64
    /// `CLOCK_MONOTONIC` nanoseconds by which the frame should be consumed; 0 for none.
    public var deadlineNanoseconds: Int64
    /// The producing node's QoS class.
    public var priority: QoSClass
    /// The payload's content type.
    public var contentType: ContentType
    /// Which input of the node it arrived on, in the manifest's order (0 for single-input nodes).
    public var input: Int

    /// Creates frame facts.
    public init(
        sequence: UInt64 = 0,
        timestampNanoseconds: Int64 = 0,
        deadlineNanoseconds: Int64 = 0,
        priority: QoSClass = .normal,
        contentType: ContentType = .bytes,
        input: Int = 0
    ) {
        self.sequence = sequence
        self.timestampNanoseconds = timestampNanoseconds
        self.deadlineNanoseconds = deadlineNanoseconds
        self.priority = priority
        self.contentType = contentType
        self.input = input
    }
}

/// Where a node writes its frames: the next ring when the node runs in a worker, memory in tests.
///
/// A frame is written in place: ``emit(capacity:_:)`` lends the node the frame's bytes in the output
/// (in a ring, the reserved space itself), the node fills them and says how many it used. The runtime
/// stamps the frame's facts (a map's output keeps its input's timestamp).
public protocol FrameOutput {
    /// Writes one frame of at most `capacity` bytes.
    /// - Parameters:
    ///   - capacity: The most bytes the frame may take.
    ///   - body: Fills the span from its start and returns how many bytes it wrote (at most `capacity`).
    /// - Throws: What `body` throws, or a ``NodeError`` when the output is closed or the frame is larger than
    ///   the edge allows.
    mutating func emit(capacity: Int, _ body: (inout MutableRawSpan) throws -> Int) throws
}

extension FrameOutput {
    /// Writes a copy of `bytes` as one frame.
    /// - Parameter bytes: The payload.
    /// - Throws: As ``emit(capacity:_:)``.
    public mutating func emit(copying bytes: RawSpan) throws {
        try emit(capacity: bytes.byteCount) { output in
            ByteCopy.copy(bytes, into: &output)
            return bytes.byteCount
        }
    }

    /// Writes a copy of `bytes` as one frame.
    /// - Parameter bytes: The payload.
    /// - Throws: As ``emit(capacity:_:)``.
    public mutating func emit(copying bytes: [UInt8]) throws {
        // Safe: the bytes of a [UInt8] are exactly its elements.
        try emit(copying: unsafe bytes.span.bytes)
    }
}

/// What a node knows about where it runs.
public struct NodeContext: Sendable {
    /// The node's id in the flow.
    public var nodeID: String
    /// The flow's name.
    public var flow: String
    /// The content types of the node's inputs, in the manifest's order.
    public var inputTypes: [ContentType]
    /// The content types of its outputs.
    public var outputTypes: [ContentType]
    /// Where the node's lines go (the `log` node's output, warnings); the worker prefixes the node id.
    public var log: @Sendable (String) -> Void

    /// Creates a context.
    public init(
        nodeID: String,
        flow: String = "flow",
        inputTypes: [ContentType] = [],
        outputTypes: [ContentType] = [],
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.nodeID = nodeID
        self.flow = flow
        self.inputTypes = inputTypes
        self.outputTypes = outputTypes
        self.log = log
    }
}

/// What a node reports at the end of a run, shown in the summary (the `stats` node's counts, say).
public typealias NodeReport = [(key: String, value: StructuredValue)]

/// A node that makes frames: `sine`, `counter`, `random`, `file-reader`.
///
/// The runtime paces it (`rate_hz`) and stops it after `frames` frames when its config has those keys;
/// the node itself ends the stream by returning `false` (a file read to its end).
public protocol SourceNode {
    /// Makes one frame.
    /// - Parameter output: Where the frame goes.
    /// - Returns: `false` when the source has nothing more (and wrote nothing).
    mutating func produce(into output: inout some FrameOutput) throws -> Bool
    /// What to show in the summary; empty by default.
    func report() -> NodeReport
}

/// A node that turns input frames into output frames: `scale`, `filter`, `window`, `delay`, `merge`.
public protocol MapNode {
    /// Handles one input frame, writing zero or more output frames.
    /// - Parameters:
    ///   - info: The frame's facts.
    ///   - payload: Its bytes, valid during the call only.
    ///   - output: Where output frames go.
    mutating func process(_ info: FrameInfo, _ payload: RawSpan, into output: inout some FrameOutput) throws
    /// Called once every input has ended, before the output ends: write what is still held.
    mutating func finish(into output: inout some FrameOutput) throws
    /// What to show in the summary; empty by default.
    func report() -> NodeReport
}

/// A node that consumes frames: `stats`, `file-writer`, `log`, `discard`.
public protocol SinkNode {
    /// Handles one frame.
    /// - Parameters:
    ///   - info: The frame's facts.
    ///   - payload: Its bytes, valid during the call only.
    mutating func consume(_ info: FrameInfo, _ payload: RawSpan) throws
    /// Called once every input has ended: flush and close what the node holds.
    mutating func finish() throws
    /// What to show in the summary; empty by default.
    func report() -> NodeReport
}

extension SourceNode {
    public func report() -> NodeReport { [] }
}

extension MapNode {
    public mutating func finish(into output: inout some FrameOutput) throws {}
    public func report() -> NodeReport { [] }
}

extension SinkNode {
    public mutating func finish() throws {}
    public func report() -> NodeReport { [] }
}

/// Why a node cannot start or cannot handle a frame.
public struct NodeError: Error, CustomStringConvertible, Sendable {
    /// The node's id, when known.
    public var node: String
    /// A sentence saying what went wrong.
    public var message: String

    /// Creates an error.
    public init(_ node: String, _ message: String) {
        self.node = node
        self.message = message
    }

    public var description: String { "node \(node): \(message)" }
}
