/// The content type of the frames on a port or edge.
///
/// Flow files and the node catalogue use the short names; the media type is what envelopes and the
/// frame header carry. `any` appears only on catalogue ports: the compiler resolves it to a concrete
/// type from the edge that feeds the port.
public struct ContentType: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The small integer carried in frame headers (0 is `any`, which no frame carries). The whole value:
    /// a content type is a plain byte, so the frame facts that carry one (`FrameInfo`) copy without
    /// reference counting on the data path.
    public let wireCode: UInt8

    private init(code: UInt8) { wireCode = code }

    /// Multi-channel little-endian f64 frames (channels × samples, interleaved by sample).
    public static let f64 = ContentType(code: 2)
    /// Raw bytes with no structure Chronetix looks at.
    public static let bytes = ContentType(code: 1)
    /// One CBOR data item per frame.
    public static let cbor = ContentType(code: 3)
    /// Apache Arrow IPC stream bytes, passed through untouched.
    public static let arrow = ContentType(code: 4)
    /// Whatever arrives: a wildcard on catalogue ports, never on a compiled edge.
    public static let any = ContentType(code: 0)

    /// Every content type a flow file may name.
    public static let all: [ContentType] = [.f64, .bytes, .cbor, .arrow, .any]

    /// Parses a short name; nil when it is not one of ``all``.
    public init?(name: String) {
        guard let match = Self.all.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    /// The short name: `f64`, `bytes`, `cbor`, `arrow` or `any`.
    public var name: String {
        switch wireCode {
        case 1: "bytes"
        case 2: "f64"
        case 3: "cbor"
        case 4: "arrow"
        default: "any"
        }
    }

    /// Whether this is the `any` wildcard.
    public var isWildcard: Bool { self == .any }

    /// The IANA-style media type carried in envelopes.
    public var mediaType: String {
        switch wireCode {
        case 1: "application/octet-stream"
        case 2: "application/x-chronetix-f64"
        case 3: "application/cbor"
        case 4: "application/vnd.apache.arrow.stream"
        default: "*/*"
        }
    }

    /// The small integer carried in frame headers (0 is reserved for "unknown"): ``wireCode`` widened.
    public var wireIdentifier: UInt16 { UInt16(wireCode) }

    public var description: String { name }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = ContentType(name: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown content type '\(text)'")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}
