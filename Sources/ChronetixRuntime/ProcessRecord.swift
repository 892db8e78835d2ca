/// The record format of a `process` node's standard input and output: each frame is a 40-byte header and
/// its payload, the same both ways. `docs/nodes.md` ("Process nodes") is the user's description; this type
/// is the one definition the runtime reads and writes.
///
/// | offset | size | field | standard input (runtime → process) | standard output (process → runtime) |
/// |---|---|---|---|---|
/// | 0 | 4 | magic `CXF1` | always | required |
/// | 4 | 4 | payload length, u32 LE | the frame's bytes | the frame's bytes |
/// | 8 | 2 | port, u16 LE | the input's index | the output's index |
/// | 10 | 2 | flags, u16 LE | 0 | 0 a frame, 1 an error report |
/// | 12 | 4 | reserved | 0 | must be 0 |
/// | 16 | 8 | sequence, u64 LE | the frame's sequence on its edge | with flag 1: the input frame concerned |
/// | 24 | 8 | timestamp, i64 LE | `CLOCK_MONOTONIC` ns of the frame | 0: the runtime's choice, else kept |
/// | 32 | 8 | deadline, i64 LE | `CLOCK_MONOTONIC` ns, 0 for none | ignored (the edge's deadline applies) |
public enum ProcessRecord {
    /// `CXF1` as the four bytes 0x43 0x58 0x46 0x31 (a little-endian `UInt32` read of them).
    public static let magic: UInt32 = 0x3146_5843
    /// The header's size in bytes.
    public static let headerSize = 40
    /// Standard output only: the payload is a UTF-8 message about input frame `sequence` (an error the
    /// process met with it); the node's `on_error` policy applies.
    public static let errorFlag: UInt16 = 1
    /// The longest error message taken, in bytes.
    public static let maximumErrorLength = 64 * 1024

    /// One record's header.
    public struct Header: Hashable, Sendable {
        public var length: UInt32
        public var port: UInt16
        public var flags: UInt16
        public var sequence: UInt64
        public var timestamp: Int64
        public var deadline: Int64

        public init(length: UInt32, port: UInt16, flags: UInt16 = 0, sequence: UInt64 = 0, timestamp: Int64 = 0, deadline: Int64 = 0) {
            self.length = length
            self.port = port
            self.flags = flags
            self.sequence = sequence
            self.timestamp = timestamp
            self.deadline = deadline
        }
    }

    /// Why bytes from a process are not a record header.
    public struct Malformed: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Writes `header` into the first ``headerSize`` bytes of `buffer`.
    public static func write(_ header: Header, into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= headerSize, "a process record header needs \(headerSize) bytes")
        // Safe: every store is within the first 40 bytes, checked above; storeBytes allows unaligned offsets.
        unsafe buffer.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        unsafe buffer.storeBytes(of: header.length.littleEndian, toByteOffset: 4, as: UInt32.self)
        unsafe buffer.storeBytes(of: header.port.littleEndian, toByteOffset: 8, as: UInt16.self)
        unsafe buffer.storeBytes(of: header.flags.littleEndian, toByteOffset: 10, as: UInt16.self)
        unsafe buffer.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
        unsafe buffer.storeBytes(of: header.sequence.littleEndian, toByteOffset: 16, as: UInt64.self)
        unsafe buffer.storeBytes(of: header.timestamp.littleEndian, toByteOffset: 24, as: Int64.self)
        unsafe buffer.storeBytes(of: header.deadline.littleEndian, toByteOffset: 32, as: Int64.self)
    }

    /// Checks that `bytes` (a whole header, or the start of one where the output ended early) begin with the
    /// magic, quoting what is there instead.
    /// - Throws: ``Malformed``; text where a record should be (a stray `print` to standard output) is quoted.
    public static func checkStart(_ bytes: UnsafeRawBufferPointer) throws(Malformed) {
        let expected: [UInt8] = [0x43, 0x58, 0x46, 0x31]
        let start = unsafe Array(bytes.prefix(headerSize))
        guard !start.prefix(4).elementsEqual(expected.prefix(start.count)) else { return }
        let printable = start.allSatisfy { byte in byte == 0x09 || byte == 0x0A || (byte >= 0x20 && byte <= 0x7E) }
        let shown: String
        if printable {
            shown = "text \"\(String(decoding: start.prefix(32), as: UTF8.self))…\" (something printed to standard output?)"
        } else {
            shown = "bytes " + start.prefix(8).map { String($0, radix: 16) }.joined(separator: " ")
        }
        throw Malformed(description: "a record must start with CXF1, but the process wrote \(shown)")
    }

    /// Reads a header from the first ``headerSize`` bytes of `buffer`, checking its magic, reserved field and
    /// flags (the port and length are the caller's to check against the node's outputs and rings).
    /// - Throws: ``Malformed`` naming what is wrong; text where a record should be (a stray `print` to
    ///   standard output) is quoted.
    public static func read(from buffer: UnsafeRawBufferPointer) throws(Malformed) -> Header {
        precondition(buffer.count >= headerSize, "a process record header needs \(headerSize) bytes")
        // Safe: every load is within the first 40 bytes, checked above; loadUnaligned allows any offset.
        try checkStart(UnsafeRawBufferPointer(rebasing: buffer[0..<headerSize]))
        let reserved = unsafe buffer.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
        guard reserved == 0 else { throw Malformed(description: "the reserved field (bytes 12..<16) must be 0") }
        let header = unsafe Header(
            length: UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
            port: UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: 8, as: UInt16.self)),
            flags: UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: 10, as: UInt16.self)),
            sequence: UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
            timestamp: Int64(littleEndian: buffer.loadUnaligned(fromByteOffset: 24, as: Int64.self)),
            deadline: Int64(littleEndian: buffer.loadUnaligned(fromByteOffset: 32, as: Int64.self))
        )
        guard header.flags & ~errorFlag == 0 else {
            throw Malformed(description: "unknown flags 0x\(String(header.flags, radix: 16)) (only 0x1, an error report, is defined)")
        }
        if header.flags & errorFlag != 0 && Int(header.length) > maximumErrorLength {
            throw Malformed(description: "an error report of \(header.length) bytes (at most \(maximumErrorLength))")
        }
        return header
    }
}
