/// Builds any `Decodable` from a ``StructuredValue``, strictly.
///
/// Unknown map keys are ignored (a newer writer may add fields); a known key with a value of the wrong
/// type is an error. An integer is accepted where a `Double` is expected (it widens); a double is never
/// accepted where an integer is expected. `[UInt8]` is read from ``StructuredValue/bytes(_:)`` or from a
/// base64 string (the JSON form of bytes).
public struct StructuredValueDecoder {
    public init() {}

    /// Decodes a `T` from `value`.
    /// - Throws: `DecodingError` naming the coding path of the first problem.
    public func decode<T: Decodable>(_ type: T.Type, from value: StructuredValue) throws -> T {
        try TreeDecoding(value: value, codingPath: []).decodeValue(type)
    }
}

private struct TreeDecoding: Decoder {
    let value: StructuredValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func mismatch(_ expected: Any.Type, _ what: String) -> DecodingError {
        .typeMismatch(
            expected,
            .init(codingPath: codingPath, debugDescription: "expected \(what), found \(value.kindDescription)")
        )
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .map(let entries) = value else { throw mismatch([String: Any].self, "a map") }
        return KeyedDecodingContainer(KeyedTreeDecoding<Key>(entries: entries, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw mismatch([Any].self, "a list") }
        return UnkeyedTreeDecoding(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleTreeDecoding(decoding: self) }

    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        if type == StructuredValue.self { return value as! T }  // checked by the condition
        if type == [UInt8].self { return try decodeBytes() as! T }  // checked by the condition
        return try T(from: self)
    }

    func decodeBytes() throws -> [UInt8] {
        switch value {
        case .bytes(let bytes): return bytes
        case .string(let text):
            guard let bytes = Base64.decode(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "invalid base64"))
            }
            return bytes
        default: throw mismatch([UInt8].self, "a byte string")
        }
    }

    func decodeBool() throws -> Bool {
        guard case .bool(let flag) = value else { throw mismatch(Bool.self, "a boolean") }
        return flag
    }

    func decodeString() throws -> String {
        guard case .string(let text) = value else { throw mismatch(String.self, "a string") }
        return text
    }

    func decodeDouble() throws -> Double {
        switch value {
        case .double(let number): return number
        case .integer(let number): return Double(number)
        default: throw mismatch(Double.self, "a number")
        }
    }

    func decodeInteger<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        guard case .integer(let number) = value else { throw mismatch(type, "an integer") }
        guard let exact = T(exactly: number) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: codingPath, debugDescription: "\(number) is out of range for \(type)")
            )
        }
        return exact
    }
}

private struct KeyedTreeDecoding<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let entries: [StructuredValue.Entry]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { entries.compactMap { Key(stringValue: $0.key) } }

    func contains(_ key: Key) -> Bool { entries.contains(where: { $0.key == key.stringValue }) }

    private func decoding(_ key: Key) throws -> TreeDecoding {
        guard let entry = entries.first(where: { $0.key == key.stringValue }) else {
            throw DecodingError.keyNotFound(
                key,
                .init(codingPath: codingPath, debugDescription: "missing key '\(key.stringValue)'")
            )
        }
        return TreeDecoding(value: entry.value, codingPath: codingPath + [key])
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let entry = entries.first(where: { $0.key == key.stringValue }) else { return true }
        return entry.value == .null
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decoding(key).decodeBool() }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decoding(key).decodeString() }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decoding(key).decodeDouble() }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { Float(try decoding(key).decodeDouble()) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decoding(key).decodeInteger(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decoding(key).decodeInteger(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decoding(key).decodeInteger(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decoding(key).decodeInteger(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decoding(key).decodeInteger(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decoding(key).decodeInteger(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decoding(key).decodeInteger(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decoding(key).decodeInteger(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decoding(key).decodeInteger(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decoding(key).decodeInteger(type) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decoding(key).decodeValue(type) }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type,
        forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try decoding(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoding(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { try decoding(Key(stringValue: "super")!) }
    func superDecoder(forKey key: Key) throws -> any Decoder { try decoding(key) }
}

private struct UnkeyedTreeDecoding: UnkeyedDecodingContainer {
    let items: [StructuredValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(items: [StructuredValue], codingPath: [any CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func next() throws -> TreeDecoding {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                Any.self,
                .init(codingPath: codingPath + [IndexKey(currentIndex)], debugDescription: "list ended early")
            )
        }
        defer { currentIndex += 1 }
        return TreeDecoding(value: items[currentIndex], codingPath: codingPath + [IndexKey(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next().decodeBool() }
    mutating func decode(_ type: String.Type) throws -> String { try next().decodeString() }
    mutating func decode(_ type: Double.Type) throws -> Double { try next().decodeDouble() }
    mutating func decode(_ type: Float.Type) throws -> Float { Float(try next().decodeDouble()) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next().decodeInteger(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next().decodeInteger(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next().decodeInteger(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next().decodeInteger(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next().decodeInteger(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next().decodeInteger(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next().decodeInteger(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next().decodeInteger(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next().decodeInteger(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next().decodeInteger(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decodeValue(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> any Decoder { try next() }
}

private struct SingleTreeDecoding: SingleValueDecodingContainer {
    let decoding: TreeDecoding
    var codingPath: [any CodingKey] { decoding.codingPath }

    func decodeNil() -> Bool { decoding.value == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try decoding.decodeBool() }
    func decode(_ type: String.Type) throws -> String { try decoding.decodeString() }
    func decode(_ type: Double.Type) throws -> Double { try decoding.decodeDouble() }
    func decode(_ type: Float.Type) throws -> Float { Float(try decoding.decodeDouble()) }
    func decode(_ type: Int.Type) throws -> Int { try decoding.decodeInteger(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoding.decodeInteger(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoding.decodeInteger(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoding.decodeInteger(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoding.decodeInteger(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoding.decodeInteger(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoding.decodeInteger(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoding.decodeInteger(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoding.decodeInteger(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoding.decodeInteger(type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoding.decodeValue(type) }
}
