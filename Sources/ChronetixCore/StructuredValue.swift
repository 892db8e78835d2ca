/// An ordered, typed tree of values: what a document (a compiled flow, a manifest, a node's config)
/// looks like before it becomes CBOR or JSON bytes.
///
/// Maps keep their keys in insertion order, so a document always encodes to the same bytes.
/// Integers and doubles stay distinct (`2` is not `2.0`), which JSON libraries that go through
/// `Double` lose; both of Chronetix's encodings (``JSONText`` and ChronetixCBOR) keep it.
public indirect enum StructuredValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case array([StructuredValue])
    case map([Entry])

    /// One key and value of a ``StructuredValue/map(_:)``.
    public struct Entry: Hashable, Sendable {
        public var key: String
        public var value: StructuredValue

        public init(_ key: String, _ value: StructuredValue) {
            self.key = key
            self.value = value
        }
    }

    /// The value stored under `key` when this is a map; nil otherwise or when the key is absent.
    public subscript(key: String) -> StructuredValue? {
        guard case .map(let entries) = self else { return nil }
        return entries.first(where: { $0.key == key })?.value
    }

    /// A short name for the kind of value, for error messages ("expected an integer, found a string").
    public var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .bytes: "a byte string"
        case .array: "a list"
        case .map: "a map"
        }
    }

    /// Counts this value and everything under it.
    public var nodeCount: Int {
        switch self {
        case .array(let items): 1 + items.reduce(0) { $0 + $1.nodeCount }
        case .map(let entries): 1 + entries.reduce(0) { $0 + $1.value.nodeCount }
        default: 1
        }
    }
}

extension StructuredValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: StructuredValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }
}
