/// A W3C Trace Context `traceparent` (version 00): trace id, parent span id and flags.
///
/// Text form: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lowercase; an all-zero trace or
/// parent id is invalid (W3C Trace Context, §3.2). The binary form is 26 bytes:
/// version, 16 bytes of trace id, 8 bytes of parent id, flags.
public struct TraceParent: Hashable, Sendable {
    /// The format version; only 0 is produced, and unknown versions are refused when parsing.
    public var version: UInt8
    /// The 16-byte trace id, big-endian: high 8 bytes.
    public var traceIDHigh: UInt64
    /// The 16-byte trace id, big-endian: low 8 bytes.
    public var traceIDLow: UInt64
    /// The 8-byte id of the parent span.
    public var parentID: UInt64
    /// Trace flags; bit 0 is "sampled".
    public var flags: UInt8

    /// The length of ``binary``.
    public static let binaryLength = 26

    /// Creates a trace parent; returns nil when the trace id or the parent id is all zeros.
    public init?(traceIDHigh: UInt64, traceIDLow: UInt64, parentID: UInt64, flags: UInt8 = 1) {
        guard traceIDHigh | traceIDLow != 0, parentID != 0 else { return nil }
        self.version = 0
        self.traceIDHigh = traceIDHigh
        self.traceIDLow = traceIDLow
        self.parentID = parentID
        self.flags = flags
    }

    /// Parses the text form; nil when it is not a valid version-00 traceparent.
    public init?(_ text: String) {
        let utf8 = Array(text.utf8)
        guard utf8.count == 55, utf8[2] == UInt8(ascii: "-"), utf8[35] == UInt8(ascii: "-"),
            utf8[52] == UInt8(ascii: "-"),
            let version = Self.hex(utf8[0..<2]), version == 0,
            let high = Self.hex(utf8[3..<19]), let low = Self.hex(utf8[19..<35]),
            let parent = Self.hex(utf8[36..<52]), let flags = Self.hex(utf8[53..<55])
        else { return nil }
        self.init(traceIDHigh: high, traceIDLow: low, parentID: parent, flags: UInt8(flags))
    }

    /// Reads the 26-byte binary form; nil when the length, version or ids are invalid.
    public init?(binary: some Collection<UInt8>) {
        guard binary.count == Self.binaryLength else { return nil }
        let bytes = Array(binary)
        guard bytes[0] == 0 else { return nil }
        func word(_ start: Int) -> UInt64 { bytes[start..<start + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        self.init(traceIDHigh: word(1), traceIDLow: word(9), parentID: word(17), flags: bytes[25])
    }

    /// The 26-byte binary form.
    public var binary: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Self.binaryLength)
        out.append(version)
        for word in [traceIDHigh, traceIDLow, parentID] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        out.append(flags)
        return out
    }

    /// The text form, as sent in a `traceparent` header.
    public var text: String {
        func hex(_ value: UInt64, digits: Int) -> String {
            let raw = String(value, radix: 16)
            return String(repeating: "0", count: max(0, digits - raw.count)) + raw
        }
        return "\(hex(UInt64(version), digits: 2))-\(hex(traceIDHigh, digits: 16))\(hex(traceIDLow, digits: 16))-"
            + "\(hex(parentID, digits: 16))-\(hex(UInt64(flags), digits: 2))"
    }

    private static func hex(_ digits: ArraySlice<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        for digit in digits {
            let nibble: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = digit - UInt8(ascii: "a") + 10
            default: return nil  // W3C requires lowercase hex
            }
            value = value << 4 | UInt64(nibble)
        }
        return value
    }
}
