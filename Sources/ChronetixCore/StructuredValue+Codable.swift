/// ``StructuredValue`` encodes as itself through ``StructuredValueEncoder`` and as the natural shape
/// (maps, lists, scalars) through any other `Encoder`.
extension StructuredValue: Codable {
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { self.stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .map(let entries):
            var container = encoder.container(keyedBy: AnyKey.self)
            for entry in entries { try container.encode(entry.value, forKey: AnyKey(entry.key)) }
        case .array(let items):
            var container = encoder.unkeyedContainer()
            for item in items { try container.encode(item) }
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .bool(let flag):
            var container = encoder.singleValueContainer()
            try container.encode(flag)
        case .integer(let number):
            var container = encoder.singleValueContainer()
            try container.encode(number)
        case .double(let number):
            var container = encoder.singleValueContainer()
            try container.encode(number)
        case .string(let text):
            var container = encoder.singleValueContainer()
            try container.encode(text)
        case .bytes(let bytes):
            var container = encoder.singleValueContainer()
            try container.encode(Base64.encode(bytes))
        }
    }

    public init(from decoder: any Decoder) throws {
        if let container = try? decoder.container(keyedBy: AnyKey.self) {  // not a map: try the other shapes
            self = .map(try container.allKeys.map { Entry($0.stringValue, try container.decode(Self.self, forKey: $0)) })
            return
        }
        if var container = try? decoder.unkeyedContainer() {  // not a list: try the scalar shapes
            var items: [StructuredValue] = []
            while !container.isAtEnd { items.append(try container.decode(Self.self)) }
            self = .array(items)
            return
        }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {  // each try? probes one scalar type in turn
            self = .bool(flag)
        } else if let number = try? container.decode(Int64.self) {
            self = .integer(number)
        } else if let number = try? container.decode(Double.self) {
            self = .double(number)
        } else {
            self = .string(try container.decode(String.self))
        }
    }
}
