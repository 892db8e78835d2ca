/// A ``FrameOutput`` that keeps every frame in memory: for tests, and for running a node without a ring.
public struct MemoryOutput: FrameOutput {
    /// The frames written, in order.
    public private(set) var frames: [[UInt8]] = []
    /// The largest frame accepted, in bytes.
    public var maximumFrameBytes: Int

    /// Creates an empty output.
    /// - Parameter maximumFrameBytes: The largest frame accepted, like an edge's ring.
    public init(maximumFrameBytes: Int = 1 << 30) {
        self.maximumFrameBytes = maximumFrameBytes
    }

    public mutating func emit(capacity: Int, _ body: (inout MutableRawSpan) throws -> Int) throws {
        guard capacity >= 0, capacity <= maximumFrameBytes else {
            throw NodeError("output", "a frame of \(capacity) bytes is larger than the output's \(maximumFrameBytes)")
        }
        var bytes = [UInt8](repeating: 0, count: capacity)
        var elements = bytes.mutableSpan
        var span = unsafe elements.mutableBytes  // safe: a byte is a byte, every pattern valid
        let written = try body(&span)
        precondition(written >= 0 && written <= capacity, "a node wrote \(written) bytes into a frame of \(capacity)")
        bytes.removeLast(capacity - written)
        frames.append(bytes)
    }

    /// Forgets the frames written so far.
    public mutating func removeAll() { frames.removeAll() }
}
