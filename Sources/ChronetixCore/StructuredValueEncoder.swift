/// Turns any `Encodable` into a ``StructuredValue``, keeping the order in which keys are encoded.
///
/// `[UInt8]` becomes ``StructuredValue/bytes(_:)``; optionals encoded with `encodeIfPresent` and nil are
/// left out; unsigned integers above `Int64.max` are an error (documents carry signed 64-bit integers).
public struct StructuredValueEncoder {
    public init() {}

    /// Encodes `value` into a tree.
    /// - Throws: `EncodingError.invalidValue` for an integer that does not fit in `Int64` or a value
    ///   that encoded nothing.
    public func encode(_ value: some Encodable) throws -> StructuredValue {
        let box = TreeBox()
        try TreeEncoding(box: box, codingPath: []).encodeValue(value)
        guard let result = box.value else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "value encoded nothing"))
        }
        return result
    }
}

/// A slot that a container fills in; containers nest by holding their children's boxes.
private final class TreeBox {
    enum Content {
        case single(StructuredValue)
        case keyed([(String, TreeBox)])
        case unkeyed([TreeBox])
    }
    var content: Content?

    init(_ content: Content? = nil) { self.content = content }

    var value: StructuredValue? {
        switch content {
        case nil: nil
        case .single(let value): value
        case .keyed(let entries):
            .map(entries.compactMap { key, box in box.value.map { StructuredValue.Entry(key, $0) } })
        case .unkeyed(let boxes): .array(boxes.compactMap(\.value))
        }
    }
}

private struct TreeEncoding: Encoder {
    let box: TreeBox
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .keyed = box.content {} else { box.content = .keyed([]) }
        return KeyedEncodingContainer(KeyedTreeContainer<Key>(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .unkeyed = box.content {} else { box.content = .unkeyed([]) }
        return UnkeyedTreeContainer(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleTreeContainer(encoding: self)
    }

    /// Encodes a value into this encoder's box, with the special cases documents need.
    func encodeValue(_ value: some Encodable) throws {
        if let tree = value as? StructuredValue {
            box.content = .single(tree)
        } else if type(of: value) == [UInt8].self, let bytes = value as? [UInt8] {  // an empty [T] casts to [UInt8] too
            box.content = .single(.bytes(bytes))
        } else {
            try value.encode(to: self)
        }
    }

    func integer<T: BinaryInteger>(_ value: T) throws -> StructuredValue {
        guard let exact = Int64(exactly: value) else {
            throw EncodingError.invalidValue(
                value,
                .init(codingPath: codingPath, debugDescription: "\(value) does not fit in a signed 64-bit integer")
            )
        }
        return .integer(exact)
    }
}

private struct KeyedTreeContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: TreeBox
    let codingPath: [any CodingKey]

    private func child(for key: Key) -> TreeBox {
        guard case .keyed(var entries) = box.content else { preconditionFailure("keyed container lost its box") }
        if let existing = entries.first(where: { $0.0 == key.stringValue }) { return existing.1 }
        let child = TreeBox()
        entries.append((key.stringValue, child))
        box.content = .keyed(entries)
        return child
    }

    private func encoding(for key: Key) -> TreeEncoding {
        TreeEncoding(box: child(for: key), codingPath: codingPath + [key])
    }

    mutating func encodeNil(forKey key: Key) throws { child(for: key).content = .single(.null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { child(for: key).content = .single(.bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { child(for: key).content = .single(.string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { child(for: key).content = .single(.double(value)) }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        child(for: key).content = .single(.double(Double(value)))
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: some Encodable, forKey key: Key) throws {
        try encoding(for: key).encodeValue(value)
    }

    private func encodeInteger<T: BinaryInteger>(_ value: T, _ key: Key) throws {
        let encoding = encoding(for: key)
        encoding.box.content = .single(try encoding.integer(value))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type,
        forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        encoding(for: key).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        encoding(for: key).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { encoding(for: Key(stringValue: "super")!) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { encoding(for: key) }
}

private struct UnkeyedTreeContainer: UnkeyedEncodingContainer {
    let box: TreeBox
    let codingPath: [any CodingKey]

    var count: Int {
        guard case .unkeyed(let boxes) = box.content else { return 0 }
        return boxes.count
    }

    private func nextEncoding() -> TreeEncoding {
        guard case .unkeyed(var boxes) = box.content else { preconditionFailure("unkeyed container lost its box") }
        let child = TreeBox()
        boxes.append(child)
        box.content = .unkeyed(boxes)
        return TreeEncoding(box: child, codingPath: codingPath + [IndexKey(boxes.count - 1)])
    }

    mutating func encodeNil() throws { nextEncoding().box.content = .single(.null) }
    mutating func encode(_ value: Bool) throws { nextEncoding().box.content = .single(.bool(value)) }
    mutating func encode(_ value: String) throws { nextEncoding().box.content = .single(.string(value)) }
    mutating func encode(_ value: Double) throws { nextEncoding().box.content = .single(.double(value)) }
    mutating func encode(_ value: Float) throws { nextEncoding().box.content = .single(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int8) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int16) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int32) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int64) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt8) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt16) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt32) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt64) throws { try encodeInteger(value) }
    mutating func encode(_ value: some Encodable) throws { try nextEncoding().encodeValue(value) }

    private func encodeInteger<T: BinaryInteger>(_ value: T) throws {
        let encoding = nextEncoding()
        encoding.box.content = .single(try encoding.integer(value))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type
    ) -> KeyedEncodingContainer<NestedKey> {
        nextEncoding().container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { nextEncoding().unkeyedContainer() }
    mutating func superEncoder() -> any Encoder { nextEncoding() }
}

private struct SingleTreeContainer: SingleValueEncodingContainer {
    let encoding: TreeEncoding
    var codingPath: [any CodingKey] { encoding.codingPath }

    private func set(_ value: StructuredValue) { encoding.box.content = .single(value) }

    mutating func encodeNil() throws { set(.null) }
    mutating func encode(_ value: Bool) throws { set(.bool(value)) }
    mutating func encode(_ value: String) throws { set(.string(value)) }
    mutating func encode(_ value: Double) throws { set(.double(value)) }
    mutating func encode(_ value: Float) throws { set(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { set(try encoding.integer(value)) }
    mutating func encode(_ value: Int8) throws { set(try encoding.integer(value)) }
    mutating func encode(_ value: Int16) throws { set(try encoding.integer(value)) }
    mutating func encode(_ value: Int32) throws { set(try encoding.integer(value)) }
    mutating func encode(_ value: Int64) throws { set(try encoding.integer(value)) }
    mutating func encode(_ value: UInt) throws { set(try encoding.integer(value)) }
    mutating func encode(_ value: UInt8) throws { set(try encoding.integer(value)) }
    mutating func encode(_ value: UInt16) throws { set(try encoding.integer(value)) }
    mutating func encode(_ value: UInt32) throws { set(try encoding.integer(value)) }
    mutating func encode(_ value: UInt64) throws { set(try encoding.integer(value)) }
    mutating func encode(_ value: some Encodable) throws { try encoding.encodeValue(value) }
}

/// The coding-path key of a list element, shared by the tree encoder and decoder.
struct IndexKey: CodingKey {
    var stringValue: String { "\(intValue ?? 0)" }
    var intValue: Int?
    init(_ index: Int) { self.intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}
