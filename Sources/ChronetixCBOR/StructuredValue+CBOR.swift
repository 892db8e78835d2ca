public import ChronetixCore

extension CBOR {
    /// Encodes a document as CBOR: maps with text keys in their stored order, shortest-form integers
    /// and floats (see ``CBORWriter/writeDouble(_:)``), definite lengths.
    /// - Parameter value: The document.
    /// - Returns: Its CBOR bytes.
    public static func encode(_ value: StructuredValue) -> [UInt8] {
        var writer = CBORWriter()
        encode(value, into: &writer)
        return writer.bytes
    }

    /// Appends a document's CBOR encoding to `writer`.
    /// - Parameters:
    ///   - value: The document.
    ///   - writer: Where the bytes go.
    public static func encode(_ value: StructuredValue, into writer: inout CBORWriter) {
        switch value {
        case .null: writer.writeNull()
        case .bool(let flag): writer.writeBool(flag)
        case .integer(let number): writer.writeSigned(number)
        case .double(let number): writer.writeDouble(number)
        case .string(let text): writer.writeText(text)
        case .bytes(let bytes): writer.writeBytes(bytes)
        case .array(let items):
            writer.writeArrayHeader(count: items.count)
            for item in items { encode(item, into: &writer) }
        case .map(let entries):
            writer.writeMapHeader(count: entries.count)
            for entry in entries {
                writer.writeText(entry.key)
                encode(entry.value, into: &writer)
            }
        }
    }

    /// Decodes one CBOR document from an untrusted peer.
    ///
    /// Accepts integers of either sign within `Int64`, floats of any width, text and byte strings,
    /// `true`/`false`/`null`, and definite-length arrays and maps whose keys are unique text strings.
    /// - Parameters:
    ///   - bytes: Exactly one CBOR item.
    ///   - limits: The size and nesting bounds.
    /// - Returns: The document, with map entries in their encoded order.
    /// - Throws: `CodecError`: `.tooLarge`, `.truncated`, `.trailingBytes`, `.tooDeep`, `.typeMismatch`
    ///   (non-text key, `undefined`), `.outOfRange` (integer outside `Int64`), `.duplicateKey`,
    ///   `.invalidUTF8`, `.indefiniteLength`, `.tagNotAllowed`, `.malformed`.
    public static func decodeValue(
        _ bytes: some Collection<UInt8>,
        limits: CBORLimits = .default
    ) throws(CodecError) -> StructuredValue {
        try withReader(bytes, limits: limits) { (reader) throws(CodecError) in
            try readValue(from: &reader, depth: 0)
        }
    }

    /// Reads one document item at nesting `depth` (the number of containers around it).
    /// - Parameters:
    ///   - reader: Positioned at the item.
    ///   - depth: How many arrays and maps enclose it.
    /// - Returns: The value.
    /// - Throws: As ``decodeValue(_:limits:)``.
    package static func readValue(from reader: inout UnsafeCBORReader, depth: Int) throws(CodecError) -> StructuredValue
    {
        let head = try reader.readHead()
        switch head.kind {
        case .unsigned, .negative:
            return .integer(try UnsafeCBORReader.int64(from: head))
        case .float:
            return .double(head.number)
        case .bool:
            return .bool(head.argument != 0)
        case .null:
            return .null
        case .text:
            return .string(try reader.text(of: head))
        case .bytes:
            return .bytes(reader.bytes(of: head))
        case .array:
            guard depth < reader.limits.maxDepth else {
                throw UnsafeCBORReader.tooDeep(at: head.offset, limit: reader.limits.maxDepth)
            }
            // `readHead` bounded the count by the remaining bytes, so this reservation is bounded too.
            let count = Int(head.argument)
            var items: [StructuredValue] = []
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(try readValue(from: &reader, depth: depth + 1)) }
            return .array(items)
        case .map:
            guard depth < reader.limits.maxDepth else {
                throw UnsafeCBORReader.tooDeep(at: head.offset, limit: reader.limits.maxDepth)
            }
            let count = Int(head.argument)
            var entries: [StructuredValue.Entry] = []
            entries.reserveCapacity(count)
            // Small maps are checked for duplicates by scanning; large ones by hashing, so a hostile
            // map of many keys costs O(n), not O(n²).
            var seenKeys: Set<String> = count > 8 ? Set(minimumCapacity: count) : []
            for _ in 0..<count {
                let keyHead = try reader.readHead()
                guard keyHead.kind == .text else {
                    throw UnsafeCBORReader.mismatch(expected: "a text string as map key", found: keyHead)
                }
                let key = try reader.text(of: keyHead)
                let isDuplicate =
                    count > 8 ? !seenKeys.insert(key).inserted : entries.contains(where: { $0.key == key })
                guard !isDuplicate else {
                    throw CodecError(.duplicateKey, "map key \"\(key)\" appears twice", offset: keyHead.offset)
                }
                entries.append(StructuredValue.Entry(key, try readValue(from: &reader, depth: depth + 1)))
            }
            return .map(entries)
        }
    }
}
