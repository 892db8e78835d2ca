/// Cuts a byte stream (a child's standard error, read in chunks) into lines: each `\n` ends one, and a line
/// that reaches `limit` bytes without one is handed over as it is, so that a peer that never writes a newline
/// cannot make the reader hold unbounded memory.
public struct LineAssembler: Sendable {
    /// The longest line handed over whole, in bytes.
    public let limit: Int
    private var line: [UInt8] = []

    public init(limit: Int) {
        precondition(limit > 0, "a line limit must be positive")
        self.limit = limit
    }

    /// Adds a chunk; calls `emit` with each line it completes (without its `\n`; invalid UTF-8 repaired).
    public mutating func append(_ bytes: some Sequence<UInt8>, _ emit: (String) -> Void) {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") || line.count == limit {
                emit(String(decoding: line, as: UTF8.self))
                line.removeAll(keepingCapacity: true)
                if byte == UInt8(ascii: "\n") { continue }
            }
            line.append(byte)
        }
    }

    /// At the end of the stream: hands over what is left of an unterminated last line, if anything.
    public mutating func finish(_ emit: (String) -> Void) {
        if !line.isEmpty { emit(String(decoding: line, as: UTF8.self)) }
        line.removeAll()
    }
}
