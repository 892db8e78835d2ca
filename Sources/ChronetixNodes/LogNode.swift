import ChronetixCore

/// `log`: writes one line per logged frame through ``NodeContext/log``: its sequence number, content
/// type, size and a preview of its payload.
///
/// Frames 0, N, 2N… in arrival order are logged (N is `every`). A line reads
///
/// ```text
/// seq=12 type=f64 bytes=40 shape=2x2 values=[0.0, 0.5, 1.0, -0.5]
/// seq=13 type=bytes bytes=20 hex=48 65 6c 6c 6f 0a 77 6f 72 6c 64 21 21 21 21 21 ... ascii=|hello.world!!!!!|...
/// seq=14 type=cbor bytes=3 hex=82 01 02
/// ```
///
/// f64 frames show their shape and first ``previewValues`` values in storage order (a malformed frame
/// says why and falls back to hex); `bytes` frames show their first ``previewBytes`` bytes in hex and
/// as printable ASCII (`.` for the rest); other types show hex. `...` marks a cut preview, and an empty
/// payload shows `(empty)`.
public struct LogNode: SinkNode {
    /// Bytes shown in a hex preview.
    public static let previewBytes = 16
    /// Values shown in an f64 preview.
    public static let previewValues = 4

    /// One frame in `every` is logged.
    public let every: Int
    /// Frames consumed so far.
    public private(set) var frames: UInt64 = 0
    /// Frames logged so far.
    public private(set) var logged: UInt64 = 0

    private let log: @Sendable (String) -> Void

    /// Makes a log node writing through `context.log`.
    /// - Parameters:
    ///   - config: `every` (integer, at least 1).
    ///   - context: Where the node runs; its `log` receives the lines.
    /// - Throws: A ``NodeError`` when `every` is missing or below 1.
    public init(config: NodeConfig, context: NodeContext) throws(NodeError) {
        let every = try config.integer("every")
        guard every >= 1, let small = Int(exactly: every) else {
            throw NodeError(config.node, "config key every is \(every); it must be at least 1")
        }
        self.every = small
        log = context.log
    }

    /// Logs the frame when it is one of every N.
    /// - Parameters:
    ///   - info: The frame's facts.
    ///   - payload: Its bytes.
    public mutating func consume(_ info: FrameInfo, _ payload: RawSpan) throws {
        defer { frames += 1 }
        guard frames % UInt64(every) == 0 else { return }
        log(Self.line(info, payload))
        logged += 1
    }

    /// What the summary shows: frames seen and frames logged.
    public func report() -> NodeReport {
        [("frames", .integer(Int64(frames))), ("logged", .integer(Int64(logged)))]
    }

    /// The line logged for a frame.
    /// - Parameters:
    ///   - info: The frame's facts.
    ///   - payload: Its bytes.
    /// - Returns: The line, without a line end.
    public static func line(_ info: FrameInfo, _ payload: RawSpan) -> String {
        let facts = "seq=\(info.sequence) type=\(info.contentType.name) bytes=\(payload.byteCount)"
        return "\(facts) \(preview(info.contentType, payload))"
    }

    /// The payload preview: f64 values, bytes in hex and ASCII, or hex.
    static func preview(_ type: ContentType, _ payload: RawSpan) -> String {
        guard payload.byteCount > 0 else { return "(empty)" }
        switch type {
        case .f64:
            let shape: F64Frame.Shape
            do {
                shape = try F64Frame.shape(of: payload)
            } catch {
                return "malformed (\(error.description)) \(hex(payload))"
            }
            let shown = min(shape.count, previewValues)
            let values = (0..<shown).map { String(F64Frame.value(in: payload, at: $0)) }
            let more = shape.count > shown ? ", ..." : ""
            return "shape=\(shape.channels)x\(shape.samples) values=[\(values.joined(separator: ", "))\(more)]"
        case .bytes:
            return "\(hex(payload)) ascii=|\(ascii(payload))|\(payload.byteCount > previewBytes ? "..." : "")"
        default:
            return hex(payload)
        }
    }

    /// The first ``previewBytes`` bytes as two-digit lowercase hex, space-separated, then `...` when cut.
    static func hex(_ payload: RawSpan) -> String {
        let shown = min(payload.byteCount, previewBytes)
        var text = "hex="
        for offset in 0..<shown {
            if offset > 0 { text += " " }
            let byte = Self.byte(payload, offset)
            if byte < 0x10 { text += "0" }
            text += String(byte, radix: 16)
        }
        if payload.byteCount > shown { text += " ..." }
        return text
    }

    /// The first ``previewBytes`` bytes as ASCII, with `.` for bytes that are not printable.
    static func ascii(_ payload: RawSpan) -> String {
        var text = ""
        for offset in 0..<min(payload.byteCount, previewBytes) {
            let byte = Self.byte(payload, offset)
            text.append((0x20...0x7E).contains(byte) ? Character(Unicode.Scalar(byte)) : ".")
        }
        return text
    }

    @inline(__always)
    private static func byte(_ payload: RawSpan, _ offset: Int) -> UInt8 {
        // Safe: RawSpan bounds-checks the offset, and every bit pattern is a UInt8.
        unsafe payload.unsafeLoad(fromByteOffset: offset, as: UInt8.self)
    }
}
