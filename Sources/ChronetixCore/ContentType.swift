/// The content type of the frames on a port or edge.
///
/// Flow files and the node catalogue use the short names; the media type is what envelopes and the
/// frame header carry. `any` appears only on catalogue ports: the compiler resolves it to a concrete
/// type from the edge that feeds the port.
public struct ContentType: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The short name: `f64`, `bytes`, `cbor`, `arrow` or `any`.
    public let name: String

    private init(unchecked name: String) { self.name = name }

    /// Multi-channel little-endian f64 frames (channels × samples, interleaved by sample).
    public static let f64 = ContentType(unchecked: "f64")
    /// Raw bytes with no structure Chronetix looks at.
    public static let bytes = ContentType(unchecked: "bytes")
    /// One CBOR data item per frame.
    public static let cbor = ContentType(unchecked: "cbor")
    /// Apache Arrow IPC stream bytes, passed through untouched.
    public static let arrow = ContentType(unchecked: "arrow")
    /// Whatever arrives: a wildcard on catalogue ports, never on a compiled edge.
    public static let any = ContentType(unchecked: "any")

    /// Every content type a flow file may name.
    public static let all: [ContentType] = [.f64, .bytes, .cbor, .arrow, .any]

    /// Parses a short name; nil when it is not one of ``all``.
    public init?(name: String) {
        guard let match = Self.all.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    /// Whether this is the `any` wildcard.
    public var isWildcard: Bool { self == .any }

    /// The IANA-style media type carried in envelopes.
    public var mediaType: String {
        switch name {
        case "f64": "application/x-chronetix-f64"
        case "bytes": "application/octet-stream"
        case "cbor": "application/cbor"
        case "arrow": "application/vnd.apache.arrow.stream"
        default: "*/*"
        }
    }

    /// The small integer carried in frame headers (0 is reserved for "unknown").
    public var wireIdentifier: UInt16 {
        switch name {
        case "bytes": 1
        case "f64": 2
        case "cbor": 3
        case "arrow": 4
        default: 0
        }
    }

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
