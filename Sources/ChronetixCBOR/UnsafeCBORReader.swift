internal import CLibCBOR

/// A pull parser over one CBOR message in memory, one item head at a time, via `cbor_stream_decode`.
///
/// It allocates nothing except what a caller asks for (``readText()``, ``readBytes()``), and every
/// declared length and count is checked against the bytes that remain before anyone can act on it.
/// Only definite lengths are accepted; tags, `undefined` and simple values are rejected.
///
/// Create one with ``CBOR/withReader(_:limits:_:)``, which bounds the message size and checks for
/// trailing bytes.
///
/// - Warning: The reader points into the caller's bytes; it must not escape the closure that received it.
@safe
package struct UnsafeCBORReader {
    /// One decoded item head.
    package struct Head {
        /// The major kind of the item.
        package var kind: Kind
        /// The value, length, count or boolean (0/1), depending on ``kind``.
        package var argument: UInt64
        /// The value of a float.
        package var number: Double
        /// Where the item starts in the input.
        package var offset: Int
        /// For strings, where the string's bytes are in the input.
        package var contentRange: Range<Int>
    }

    /// The kinds of item the reader hands out; indefinite lengths, tags and `undefined` never get here.
    package enum Kind: Hashable, Sendable {
        /// Major type 0; the value is the head's argument.
        case unsigned
        /// Major type 1; the value is `-1 - argument`.
        case negative
        /// A definite byte string; `argument` is its length.
        case bytes
        /// A definite text string; `argument` is its length.
        case text
        /// A definite array; `argument` is its element count.
        case array
        /// A definite map; `argument` is its entry count.
        case map
        /// A half, single or double float, in `number`.
        case float
        /// `false` or `true` (`argument` 0 or 1).
        case bool
        /// `null`.
        case null

        /// For error messages: "expected a text string, found an array".
        package var name: String {
            switch self {
            case .unsigned: "an unsigned integer"
            case .negative: "a negative integer"
            case .bytes: "a byte string"
            case .text: "a text string"
            case .array: "an array"
            case .map: "a map"
            case .float: "a float"
            case .bool: "a boolean"
            case .null: "null"
            }
        }
    }

    // Invariant: `bytes` is valid for the reader's whole (closure-scoped) life; 0 <= offset <= count.
    private let bytes: UnsafeRawBufferPointer
    /// `count`, kept apart so that bounds arithmetic needs no unsafe access.
    private let count: Int
    /// The limits this message is decoded under.
    package let limits: CBORLimits
    /// The position of the next item head.
    package private(set) var offset: Int = 0

    /// Creates a reader over `bytes`, which must stay valid while the reader is used.
    /// - Parameters:
    ///   - bytes: The message.
    ///   - limits: The bounds; ``CBORLimits/maxBytes`` is not checked here (``CBOR/withReader(_:limits:_:)`` does).
    package init(unsafeBytes bytes: UnsafeRawBufferPointer, limits: CBORLimits) {
        unsafe self.bytes = bytes
        self.count = bytes.count
        self.limits = limits
    }

    /// Whether every byte has been consumed.
    package var isAtEnd: Bool { offset == count }

    /// The number of bytes not yet consumed.
    package var remainingCount: Int { count - offset }

    // MARK: - Heads

    /// Decodes the next item head with `cbor_stream_decode` and consumes it (and a string's bytes).
    /// - Returns: The head.
    /// - Throws: `.truncated`, `.tooLarge`, `.malformed`, `.indefiniteLength`, `.tagNotAllowed`.
    package mutating func readHead() throws(CodecError) -> Head {
        let start = offset
        guard start < count else {
            throw CodecError(.truncated, "the input ends where an item should start", offset: start)
        }
        // Safe: `start < count`, so the base address is non-nil and `count - start` bytes
        // are readable from `base + start`; libcbor reads no further.
        let decoded = unsafe cx_cbor_decode_head(
            bytes.baseAddress!.advanced(by: start).assumingMemoryBound(to: UInt8.self),
            count - start
        )
        switch decoded.status {
        case .CX_CBOR_STATUS_FINISHED: break
        case .CX_CBOR_STATUS_TRUNCATED: throw truncation(at: start)
        case .CX_CBOR_STATUS_MALFORMED:
            throw CodecError(.malformed, "reserved or unassigned initial byte \(hex(at: start))", offset: start)
        }
        let read = Int(decoded.read)
        let kind: Kind
        var contentRange = start + read..<start + read
        switch decoded.kind {
        case .CX_CBOR_KIND_UNSIGNED: kind = .unsigned
        case .CX_CBOR_KIND_NEGATIVE: kind = .negative
        case .CX_CBOR_KIND_BYTES, .CX_CBOR_KIND_TEXT:
            kind = decoded.kind == .CX_CBOR_KIND_BYTES ? .bytes : .text
            // libcbor consumed the string's bytes with the head; they are the last `argument` of `read`.
            contentRange = start + read - Int(decoded.argument)..<start + read
        case .CX_CBOR_KIND_ARRAY, .CX_CBOR_KIND_MAP:
            kind = decoded.kind == .CX_CBOR_KIND_ARRAY ? .array : .map
            // Every element takes at least one byte (two per map entry): a count the remaining input
            // cannot hold is rejected here, before any caller reserves capacity for it.
            let perElement: UInt64 = kind == .array ? 1 : 2
            let available = UInt64(count - start - read)
            if decoded.argument > available / perElement {
                throw tooLong(kind: kind, declared: decoded.argument, unit: "items", available: available, at: start)
            }
        case .CX_CBOR_KIND_FLOAT: kind = .float
        case .CX_CBOR_KIND_BOOL: kind = .bool
        case .CX_CBOR_KIND_NULL: kind = .null
        case .CX_CBOR_KIND_TAG:
            throw CodecError(
                .tagNotAllowed,
                "tag \(decoded.argument) where an untagged item was expected",
                offset: start
            )
        case .CX_CBOR_KIND_UNDEFINED:
            throw CodecError(.typeMismatch, "`undefined` is not a Chronetix value", offset: start)
        case .CX_CBOR_KIND_INDEFINITE:
            throw CodecError(
                .indefiniteLength,
                "indefinite-length item \(hex(at: start)); only definite lengths are accepted",
                offset: start
            )
        case .CX_CBOR_KIND_BREAK:
            throw CodecError(.indefiniteLength, "stray break code 0xff", offset: start)
        case .CX_CBOR_KIND_NONE:
            throw CodecError(.malformed, "libcbor decoded no item at \(hex(at: start))", offset: start)
        }
        offset = start + read
        return Head(
            kind: kind,
            argument: decoded.argument,
            number: decoded.number,
            offset: start,
            contentRange: contentRange
        )
    }

    /// Reads a head and requires it to be of `kind`.
    /// - Parameter kind: The expected kind.
    /// - Returns: The head.
    /// - Throws: `.typeMismatch` for another kind, or whatever ``readHead()`` throws.
    package mutating func readHead(expecting kind: Kind) throws(CodecError) -> Head {
        let head = try readHead()
        guard head.kind == kind else { throw Self.mismatch(expected: kind.name, found: head) }
        return head
    }

    // MARK: - Typed reads

    /// Reads an unsigned integer.
    /// - Returns: Its value.
    /// - Throws: `.typeMismatch` for anything but major type 0.
    package mutating func readUnsigned() throws(CodecError) -> UInt64 {
        try readHead(expecting: .unsigned).argument
    }

    /// Reads an integer of either sign that fits in `Int64`.
    /// - Returns: Its value.
    /// - Throws: `.typeMismatch` for a non-integer, `.outOfRange` outside `Int64`.
    package mutating func readInt64() throws(CodecError) -> Int64 {
        let head = try readHead()
        return try Self.int64(from: head)
    }

    /// Reads a text string, validating its UTF-8.
    /// - Returns: The string.
    /// - Throws: `.typeMismatch`, `.invalidUTF8`.
    package mutating func readText() throws(CodecError) -> String {
        try text(of: readHead(expecting: .text))
    }

    /// Reads a byte string into a new array.
    /// - Returns: The bytes.
    /// - Throws: `.typeMismatch`.
    package mutating func readBytes() throws(CodecError) -> [UInt8] {
        bytes(of: try readHead(expecting: .bytes))
    }

    /// Reads a byte string and returns where its bytes are in the input, without copying them.
    /// - Returns: The range of the content within the message.
    /// - Throws: `.typeMismatch`.
    package mutating func readBytesRange() throws(CodecError) -> Range<Int> {
        try readHead(expecting: .bytes).contentRange
    }

    /// Reads an array head.
    /// - Returns: The element count, already checked against the remaining input.
    /// - Throws: `.typeMismatch`, `.truncated`/`.tooLarge` for an impossible count.
    package mutating func readArrayHeader() throws(CodecError) -> Int {
        Int(try readHead(expecting: .array).argument)
    }

    /// Reads a map head.
    /// - Returns: The entry count, already checked against the remaining input.
    /// - Throws: `.typeMismatch`, `.truncated`/`.tooLarge` for an impossible count.
    package mutating func readMapHeader() throws(CodecError) -> Int {
        Int(try readHead(expecting: .map).argument)
    }

    /// Reads a boolean.
    /// - Returns: Its value.
    /// - Throws: `.typeMismatch`.
    package mutating func readBool() throws(CodecError) -> Bool {
        try readHead(expecting: .bool).argument != 0
    }

    /// Reads a float of any width.
    /// - Returns: Its value.
    /// - Throws: `.typeMismatch`.
    package mutating func readDouble() throws(CodecError) -> Double {
        try readHead(expecting: .float).number
    }

    /// Skips one complete item, including everything nested in it (text strings are still validated).
    ///
    /// Recursive, one level per nesting level, so bounded by ``CBORLimits/maxDepth`` (at most 1024).
    /// - Parameter depth: How many containers enclose the item (the top-level item is at depth 0).
    /// - Throws: Whatever a malformed item causes; `.tooDeep` for nesting beyond the limit.
    package mutating func skipValue(depth: Int) throws(CodecError) {
        let head = try readHead()
        switch head.kind {
        case .text:
            _ = try text(of: head)  // validates the UTF-8; the String itself is not needed
        case .array, .map:
            guard depth < limits.maxDepth else { throw Self.tooDeep(at: head.offset, limit: limits.maxDepth) }
            // Cannot overflow: `readHead` bounded the count by the remaining bytes.
            let items = head.kind == .array ? head.argument : head.argument * 2
            for _ in 0..<items { try skipValue(depth: depth + 1) }
        default:
            break
        }
    }

    // MARK: - Content

    /// Validates and copies a text string's content.
    /// - Parameter head: A head of kind `.text` from this reader.
    /// - Returns: The string.
    /// - Throws: `.invalidUTF8`.
    package func text(of head: Head) throws(CodecError) -> String {
        // Safe: `contentRange` was computed by `readHead` within `bytes`, which holds plain bytes, so
        // viewing them as `UInt8` is valid for this call.
        let content = unsafe UnsafeRawBufferPointer(rebasing: bytes[head.contentRange])
            .assumingMemoryBound(to: UInt8.self)
        // `String(validating:as:)` goes through unspecialised generic code (metadata lookups on every
        // call). `String(decoding:as:)` has a fast path for a UInt8 buffer but repairs invalid input
        // with U+FFFD; the repaired string is valid UTF-8, so it equals the input byte for byte
        // exactly when the input was valid.
        let string = unsafe String(decoding: content, as: UTF8.self)
        // ASCII (the common case) is valid as is. Otherwise: a repair replaces 1-3 bytes by 3, so a
        // length change proves invalid input, and equal lengths need the byte comparison, run over
        // contiguous storage (small strings are spilled to the stack).
        guard string.utf8.count == content.count else {
            throw Self.invalidUTF8(at: head.offset, count: content.count)
        }
        if unsafe Self.isASCII(content) { return string }
        guard unsafe string.utf8.withContiguousStorageIfAvailable({ unsafe $0.elementsEqual(content) }) == true
        else { throw Self.invalidUTF8(at: head.offset, count: content.count) }
        return string
    }

    /// Validates a text string's content without building a string when it is ASCII.
    /// - Parameter head: A head of kind `.text` from this reader.
    /// - Throws: `.invalidUTF8`.
    package func validateText(of head: Head) throws(CodecError) {
        // Safe: as in `text(of:)`; the view is only read during this call.
        let content = unsafe UnsafeRawBufferPointer(rebasing: bytes[head.contentRange])
            .assumingMemoryBound(to: UInt8.self)
        if unsafe Self.isASCII(content) { return }
        _ = try text(of: head)  // non-ASCII text: validated by building (and dropping) the string
    }

    private static func invalidUTF8(at offset: Int, count: Int) -> CodecError {
        CodecError(.invalidUTF8, "text string of \(count) bytes is not valid UTF-8", offset: offset)
    }

    /// Whether every byte is below 0x80, eight bytes at a time.
    private static func isASCII(_ content: UnsafeBufferPointer<UInt8>) -> Bool {
        let raw = UnsafeRawBufferPointer(content)
        var index = 0
        var bits: UInt64 = 0
        while index + 8 <= raw.count {
            // Safe: `index + 8 <= raw.count`; unaligned loads of plain bytes are valid.
            bits |= unsafe raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < raw.count {
            // Safe: `index < raw.count`.
            bits |= UInt64(unsafe raw[index])
            index += 1
        }
        return bits & 0x8080_8080_8080_8080 == 0
    }

    /// Copies a byte string's content.
    /// - Parameter head: A head of kind `.bytes` from this reader.
    /// - Returns: The bytes.
    package func bytes(of head: Head) -> [UInt8] {
        // Safe: `contentRange` was computed by `readHead` within `bytes`.
        unsafe [UInt8](UnsafeRawBufferPointer(rebasing: bytes[head.contentRange]))
    }

    /// Calls `body` with a string's content in place.
    /// - Parameters:
    ///   - head: A `.bytes` or `.text` head from this reader.
    ///   - body: Reads the content; the pointer must not escape.
    /// - Returns: What `body` returns.
    package func withContent<R>(of head: Head, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        // Safe: `contentRange` lies within `bytes`, and the view is scoped to `body`.
        unsafe body(UnsafeRawBufferPointer(rebasing: bytes[head.contentRange]))
    }

    /// Calls `body` with a range of the input in place.
    /// - Parameters:
    ///   - range: Offsets within the input, such as a range a decoder returned.
    ///   - body: Reads the bytes; the pointer must not escape.
    /// - Returns: What `body` returns.
    package func withBytes<R>(in range: Range<Int>, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range outside the reader's input")
        // Safe: `range` lies within `bytes` (checked above), and the view is scoped to `body`.
        return unsafe body(UnsafeRawBufferPointer(rebasing: bytes[range]))
    }

    // MARK: - Errors

    /// `.typeMismatch` naming what was expected and what was found.
    package static func mismatch(expected: String, found head: Head) -> CodecError {
        CodecError(.typeMismatch, "expected \(expected), found \(head.kind.name)", offset: head.offset)
    }

    /// `.tooDeep` for a container opened beyond `limit`.
    package static func tooDeep(at offset: Int, limit: Int) -> CodecError {
        CodecError(.tooDeep, "nesting exceeds the limit of \(limit) levels", offset: offset)
    }

    /// Converts an integer head to `Int64`.
    package static func int64(from head: Head) throws(CodecError) -> Int64 {
        switch head.kind {
        case .unsigned:
            guard head.argument <= UInt64(Int64.max) else {
                throw CodecError(.outOfRange, "integer \(head.argument) exceeds Int64.max", offset: head.offset)
            }
            return Int64(head.argument)
        case .negative:
            guard head.argument <= UInt64(Int64.max) else {
                throw CodecError(.outOfRange, "integer -1-\(head.argument) is below Int64.min", offset: head.offset)
            }
            return ~Int64(head.argument)  // -1 - n
        default:
            throw mismatch(expected: "an integer", found: head)
        }
    }

    /// Explains a `CBOR_DECODER_NEDATA` result: a cut-off head, or a string longer than what is left.
    private func truncation(at start: Int) -> CodecError {
        // Safe: `start < count` (checked by the caller).
        let initial = unsafe bytes[start]
        let major = initial >> 5
        let info = Int(initial & 0x1f)
        let argumentSize = info < 24 ? 0 : info <= 27 ? 1 << (info - 24) : 0
        let available = count - start - 1
        if (major == 2 || major == 3) && available >= argumentSize {
            var declared: UInt64 = info < 24 ? UInt64(info) : 0
            for index in 0..<argumentSize {
                // Safe: `index < argumentSize <= available`, so the byte is within `bytes`.
                declared = unsafe declared << 8 | UInt64(bytes[start + 1 + index])
            }
            let kind: Kind = major == 2 ? .bytes : .text
            return tooLong(
                kind: kind,
                declared: declared,
                unit: "bytes",
                available: UInt64(available - argumentSize),
                at: start
            )
        }
        return CodecError(
            .truncated,
            "the input ends inside the head \(hex(at: start)) (\(count - start) bytes left)",
            offset: start
        )
    }

    private func tooLong(kind: Kind, declared: UInt64, unit: String, available: UInt64, at start: Int) -> CodecError {
        let code: CodecError.Code = declared > UInt64(limits.maxBytes) ? .tooLarge : .truncated
        return CodecError(
            code,
            "\(kind.name) declares \(declared) \(unit) but only \(available) bytes remain (limit \(limits.maxBytes))",
            offset: start
        )
    }

    private func hex(at position: Int) -> String {
        // Safe: callers pass a position within `bytes`.
        let byte = unsafe bytes[position]
        return "0x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
    }
}
