public import ChronetixCore

/// The integer keys of an envelope's CBOR map (see `docs/wire-format.md`).
package enum EnvelopeKey {
    /// `id`, unsigned integer.
    package static let id: UInt64 = 0
    /// `topic`, text.
    package static let topic: UInt64 = 1
    /// `content_type`, text.
    package static let contentType: UInt64 = 2
    /// `schema_ver`, unsigned integer within `UInt32`.
    package static let schemaVersion: UInt64 = 3
    /// `deadline_ns`, unsigned integer; omitted when 0.
    package static let deadlineNanoseconds: UInt64 = 4
    /// `priority`, unsigned integer 0...3.
    package static let priority: UInt64 = 5
    /// `traceparent`, 26-byte byte string; omitted when absent.
    package static let traceParent: UInt64 = 6
    /// `tracestate`, text; omitted when absent.
    package static let traceState: UInt64 = 7
    /// `headers`, array of `[name, value]` text pairs; omitted when empty.
    package static let headers: UInt64 = 8
    /// `payload`, byte string.
    package static let payload: UInt64 = 9

    /// The keys every envelope carries, as a bit set.
    package static let requiredMask: UInt64 =
        1 << id | 1 << topic | 1 << contentType | 1 << schemaVersion
        | 1 << priority | 1 << payload

    /// The field name of a key, for error messages.
    package static func name(_ key: UInt64) -> String {
        switch key {
        case id: "id"
        case topic: "topic"
        case contentType: "content_type"
        case schemaVersion: "schema_ver"
        case deadlineNanoseconds: "deadline_ns"
        case priority: "priority"
        case traceParent: "traceparent"
        case traceState: "tracestate"
        case headers: "headers"
        case payload: "payload"
        default: "key \(key)"
        }
    }
}

extension Envelope {
    /// Appends this envelope's CBOR map (integer keys in ascending order) to `writer`.
    ///
    /// Performs no heap allocation when `writer`'s buffer is already large enough: strings and the
    /// payload are copied straight from their storage, the traceparent is written field by field.
    /// - Parameter writer: Where the bytes go; reuse one (``CBORWriter/reset()``) per message.
    public func encode(into writer: inout CBORWriter) {
        var entryCount = 6
        if deadlineNanoseconds != 0 { entryCount += 1 }
        if traceParent != nil { entryCount += 1 }
        if traceState != nil { entryCount += 1 }
        if !headers.isEmpty { entryCount += 1 }
        writer.writeMapHeader(count: entryCount)
        writer.writeUnsigned(EnvelopeKey.id)
        writer.writeUnsigned(id)
        writer.writeUnsigned(EnvelopeKey.topic)
        writer.writeText(topic)
        writer.writeUnsigned(EnvelopeKey.contentType)
        writer.writeText(contentType)
        writer.writeUnsigned(EnvelopeKey.schemaVersion)
        writer.writeUnsigned(UInt64(schemaVersion))
        if deadlineNanoseconds != 0 {
            writer.writeUnsigned(EnvelopeKey.deadlineNanoseconds)
            writer.writeUnsigned(deadlineNanoseconds)
        }
        writer.writeUnsigned(EnvelopeKey.priority)
        writer.writeUnsigned(UInt64(priority.rawValue))
        if let traceParent {
            writer.writeUnsigned(EnvelopeKey.traceParent)
            writer.writeTraceParentBytes(
                version: traceParent.version,
                (traceParent.traceIDHigh, traceParent.traceIDLow, traceParent.parentID),
                flags: traceParent.flags
            )
        }
        if let traceState {
            writer.writeUnsigned(EnvelopeKey.traceState)
            writer.writeText(traceState)
        }
        if !headers.isEmpty {
            writer.writeUnsigned(EnvelopeKey.headers)
            writer.writeArrayHeader(count: headers.count)
            for header in headers {
                writer.writeArrayHeader(count: 2)
                writer.writeText(header.name)
                writer.writeText(header.value)
            }
        }
        writer.writeUnsigned(EnvelopeKey.payload)
        writer.writeBytes(payload)
    }

    /// Decodes an envelope from an untrusted peer.
    ///
    /// Required keys: 0 `id`, 1 `topic`, 2 `content_type`, 3 `schema_ver`, 5 `priority`, 9 `payload`.
    /// Keys must be unsigned integers in strictly ascending order (as ``encode(into:)`` writes them),
    /// which rules out duplicates without allocating; unknown keys are skipped for forward
    /// compatibility, known keys must have their documented type.
    /// - Parameters:
    ///   - bytes: Exactly one CBOR map.
    ///   - limits: The size and nesting bounds.
    /// - Throws: `CodecError`: `.missingKey`, `.duplicateKey` (repeated or descending key),
    ///   `.typeMismatch`, `.outOfRange` (`schema_ver` beyond `UInt32`, `priority` above 3),
    ///   `.invalidValue` (traceparent), and every structural error of ``CBOR/decodeValue(_:limits:)``.
    public init(cbor bytes: some Collection<UInt8>, limits: CBORLimits = .default) throws(CodecError) {
        self = try CBOR.withReader(bytes, limits: limits) { (reader) throws(CodecError) in
            try Envelope.read(from: &reader, copyingPayload: true).envelope
        }
    }

    /// Decodes an envelope from an array; the same as the generic initializer, without its generic
    /// overhead across module boundaries.
    /// - Parameters:
    ///   - bytes: Exactly one CBOR map.
    ///   - limits: The size and nesting bounds.
    /// - Throws: As ``init(cbor:limits:)-(some Collection<UInt8>,_)``.
    public init(cbor bytes: [UInt8], limits: CBORLimits = .default) throws(CodecError) {
        // Safe: the raw view covers the array's storage for the closure's duration.
        self = try unsafe bytes.withUnsafeBytes { buffer in
            Result { () throws(CodecError) in try unsafe Envelope(unsafeCBOR: buffer, limits: limits) }
        }.get()
    }

    /// Decodes an envelope straight from caller memory, such as a ring slot or a receive buffer.
    /// - Parameters:
    ///   - buffer: Exactly one CBOR map; only read during the call.
    ///   - limits: The size and nesting bounds.
    /// - Throws: As ``init(cbor:limits:)-(some Collection<UInt8>,_)``.
    /// - Warning: `buffer` must be valid and not mutated for the duration of the call.
    public init(unsafeCBOR buffer: UnsafeRawBufferPointer, limits: CBORLimits = .default) throws(CodecError) {
        self = try unsafe CBOR.withReader(unsafeBuffer: buffer, limits: limits) { (reader) throws(CodecError) in
            try Envelope.read(from: &reader, copyingPayload: true).envelope
        }
    }

    /// Decodes an envelope but leaves ``payload`` empty, returning where the payload's bytes are in
    /// `bytes` instead of copying them.
    /// - Parameters:
    ///   - bytes: Exactly one CBOR map.
    ///   - limits: The size and nesting bounds.
    /// - Returns: The envelope (empty payload) and the payload's range, as offsets from the start of `bytes`.
    /// - Throws: As ``init(cbor:limits:)``.
    package static func decodeLeavingPayload(
        cbor bytes: some Collection<UInt8>,
        limits: CBORLimits = .default
    ) throws(CodecError) -> (envelope: Envelope, payloadRange: Range<Int>) {
        try CBOR.withReader(bytes, limits: limits) { (reader) throws(CodecError) in
            let read = try Envelope.read(from: &reader, copyingPayload: false)
            return (read.envelope, read.payloadRange)
        }
    }

    /// Reads one envelope map.
    /// - Parameters:
    ///   - reader: Positioned at the map.
    ///   - copyingPayload: Whether to copy the payload into the envelope.
    ///   - materializingText: Whether to build the text fields (topic, trace state, headers). When
    ///     `false` they are validated in place and left empty, so that a router that forwards the
    ///     envelope's bytes checks them without allocating (ASCII text never allocates; other text is
    ///     validated through a temporary string).
    /// - Returns: The envelope, and the payload's and the topic's ranges in the reader's input.
    /// - Throws: As ``init(cbor:limits:)``.
    package static func read(
        from reader: inout UnsafeCBORReader,
        copyingPayload: Bool,
        materializingText: Bool = true
    ) throws(CodecError) -> (envelope: Envelope, payloadRange: Range<Int>, topicRange: Range<Int>) {
        let mapHead = try reader.readHead()
        guard mapHead.kind == .map else {
            throw UnsafeCBORReader.mismatch(expected: "an envelope map", found: mapHead)
        }
        guard reader.limits.maxDepth >= 1 else {
            throw UnsafeCBORReader.tooDeep(at: mapHead.offset, limit: reader.limits.maxDepth)
        }
        // Fields are gathered in locals and the envelope is built once, at the end.
        var id: UInt64 = 0
        var topic = ""
        var contentType = ""
        var schemaVersion: UInt32 = 0
        var deadlineNanoseconds: UInt64 = 0
        var priority = QoSClass.normal
        var traceParent: TraceParent?
        var traceState: String?
        var headers: [Header] = []
        var payload: [UInt8] = []
        var payloadRange = 0..<0
        var topicRange = 0..<0
        var seen: UInt64 = 0
        var previousKey: UInt64?
        for _ in 0..<mapHead.argument {
            let keyHead = try reader.readHead()
            guard keyHead.kind == .unsigned else {
                throw UnsafeCBORReader.mismatch(expected: "an unsigned integer envelope key", found: keyHead)
            }
            let key = keyHead.argument
            if let previousKey, key <= previousKey {
                throw CodecError(
                    .duplicateKey,
                    "envelope key \(key) follows key \(previousKey); keys must be unique and ascending",
                    offset: keyHead.offset
                )
            }
            previousKey = key
            if key < 64 { seen |= 1 << key }
            switch key {
            case EnvelopeKey.id:
                id = try field(key) { (reader) throws(CodecError) in try reader.readUnsigned() }
            case EnvelopeKey.topic:
                let head = try reader.readHead()
                guard head.kind == .text else { throw wrongType(of: key, expected: "a text string", found: head) }
                topicRange = head.contentRange
                if materializingText { topic = try reader.text(of: head) } else { try reader.validateText(of: head) }
            case EnvelopeKey.contentType:
                let head = try reader.readHead()
                guard head.kind == .text else { throw wrongType(of: key, expected: "a text string", found: head) }
                if let known = knownMediaType(head, in: reader) {
                    contentType = known
                } else if materializingText {
                    contentType = try reader.text(of: head)
                } else {
                    try reader.validateText(of: head)
                }
            case EnvelopeKey.schemaVersion:
                let head = try reader.readHead()
                let value = try unsigned(head, key: key)
                guard value <= UInt64(UInt32.max) else {
                    throw CodecError(.outOfRange, "schema_ver \(value) exceeds UInt32.max", offset: head.offset)
                }
                schemaVersion = UInt32(value)
            case EnvelopeKey.deadlineNanoseconds:
                deadlineNanoseconds = try field(key) { (reader) throws(CodecError) in
                    try reader.readUnsigned()
                }
            case EnvelopeKey.priority:
                let head = try reader.readHead()
                let value = try unsigned(head, key: key)
                guard value <= 3, let decoded = QoSClass(rawValue: UInt8(value)) else {
                    throw CodecError(.outOfRange, "priority \(value) is not in 0...3", offset: head.offset)
                }
                priority = decoded
            case EnvelopeKey.traceParent:
                traceParent = try readTraceParent(from: &reader)
            case EnvelopeKey.traceState:
                let head = try reader.readHead()
                guard head.kind == .text else { throw wrongType(of: key, expected: "a text string", found: head) }
                if materializingText { traceState = try reader.text(of: head) } else { try reader.validateText(of: head) }
            case EnvelopeKey.headers:
                headers = try readHeaders(from: &reader, collecting: materializingText)
            case EnvelopeKey.payload:
                let head = try reader.readHead()
                guard head.kind == .bytes else { throw wrongType(of: key, expected: "a byte string", found: head) }
                payloadRange = head.contentRange
                if copyingPayload { payload = reader.bytes(of: head) }
            default:
                // An envelope field from a newer Chronetix: skipped, but still validated.
                try reader.skipValue(depth: 1)
            }
        }
        let missing = EnvelopeKey.requiredMask & ~seen
        guard missing == 0 else {
            let key = UInt64(missing.trailingZeroBitCount)
            throw CodecError(
                .missingKey,
                "envelope lacks required key \(key) (\(EnvelopeKey.name(key)))",
                offset: mapHead.offset
            )
        }
        let envelope = Envelope(
            id: id,
            topic: topic,
            contentType: contentType,
            schemaVersion: schemaVersion,
            deadlineNanoseconds: deadlineNanoseconds,
            priority: priority,
            traceParent: traceParent,
            traceState: traceState,
            headers: headers,
            payload: payload
        )
        return (envelope, payloadRange, topicRange)

        /// Runs a typed read and rewrites a type mismatch to name the field.
        func field<T>(
            _ key: UInt64,
            _ body: (inout UnsafeCBORReader) throws(CodecError) -> T
        ) throws(CodecError) -> T {
            do {
                return try body(&reader)
            } catch {
                guard error.code == .typeMismatch else { throw error }
                var named = error
                named.message = "\(EnvelopeKey.name(key)): \(error.message)"
                throw named
            }
        }
    }

    /// The media types of ``ContentType/all``: string literals, so returning one allocates nothing.
    private static let knownMediaTypes: [String] = ContentType.all.map(\.mediaType)

    /// The shared literal equal to a text item's bytes, when it is one of the known media types: the
    /// common content types then decode without allocating a String (they are longer than the 15
    /// bytes Swift stores inline).
    private static func knownMediaType(_ head: UnsafeCBORReader.Head, in reader: UnsafeCBORReader) -> String? {
        // Safe: `withContent` scopes the view to this closure; the known strings are valid UTF-8, so
        // byte equality also proves the input valid.
        unsafe reader.withContent(of: head) { content in
            for known in knownMediaTypes where known.utf8.count == content.count {
                let isEqual = unsafe known.utf8.withContiguousStorageIfAvailable { known in
                    unsafe known.elementsEqual(content)
                }
                if isEqual == true { return known }
            }
            return nil
        }
    }

    private static func unsigned(_ head: UnsafeCBORReader.Head, key: UInt64) throws(CodecError) -> UInt64 {
        guard head.kind == .unsigned else { throw wrongType(of: key, expected: "an unsigned integer", found: head) }
        return head.argument
    }

    private static func wrongType(of key: UInt64, expected: String, found head: UnsafeCBORReader.Head) -> CodecError {
        CodecError(
            .typeMismatch,
            "\(EnvelopeKey.name(key)): expected \(expected), found \(head.kind.name)",
            offset: head.offset
        )
    }

    private static func readTraceParent(from reader: inout UnsafeCBORReader) throws(CodecError) -> TraceParent {
        let head = try reader.readHead()
        guard head.kind == .bytes else {
            throw wrongType(of: EnvelopeKey.traceParent, expected: "a byte string", found: head)
        }
        guard head.contentRange.count == TraceParent.binaryLength else {
            throw CodecError(
                .invalidValue,
                "traceparent has \(head.contentRange.count) bytes, expected \(TraceParent.binaryLength)",
                offset: head.offset
            )
        }
        let parsed: TraceParent? = unsafe reader.withContent(of: head) { content in
            // Safe: `content` has exactly 26 bytes (checked above); the loads stay within it.
            let version = unsafe content.load(fromByteOffset: 0, as: UInt8.self)
            let high = unsafe UInt64(bigEndian: content.loadUnaligned(fromByteOffset: 1, as: UInt64.self))
            let low = unsafe UInt64(bigEndian: content.loadUnaligned(fromByteOffset: 9, as: UInt64.self))
            let parent = unsafe UInt64(bigEndian: content.loadUnaligned(fromByteOffset: 17, as: UInt64.self))
            let flags = unsafe content.load(fromByteOffset: 25, as: UInt8.self)
            guard version == 0 else { return nil }
            return TraceParent(traceIDHigh: high, traceIDLow: low, parentID: parent, flags: flags)
        }
        guard let parsed else {
            throw CodecError(
                .invalidValue,
                "traceparent has an unknown version or an all-zero trace or parent id",
                offset: head.offset
            )
        }
        return parsed
    }

    private static func readHeaders(from reader: inout UnsafeCBORReader, collecting: Bool) throws(CodecError) -> [Header] {
        let head = try reader.readHead()
        guard head.kind == .array else {
            throw wrongType(of: EnvelopeKey.headers, expected: "an array of [name, value] pairs", found: head)
        }
        // The headers array is at depth 2 and each pair at depth 3.
        guard reader.limits.maxDepth >= 3 else {
            throw UnsafeCBORReader.tooDeep(at: head.offset, limit: reader.limits.maxDepth)
        }
        var headers: [Header] = []
        // Bounded: `readHead` checked the count against the remaining bytes.
        if collecting { headers.reserveCapacity(Int(head.argument)) }
        for _ in 0..<head.argument {
            let pair = try reader.readHead()
            guard pair.kind == .array, pair.argument == 2 else {
                let found = pair.kind == .array ? "an array of \(pair.argument) items" : pair.kind.name
                throw CodecError(
                    .typeMismatch,
                    "headers: expected a [name, value] pair, found \(found)",
                    offset: pair.offset
                )
            }
            let nameHead = try reader.readHead()
            guard nameHead.kind == .text else {
                throw wrongType(of: EnvelopeKey.headers, expected: "a text header name", found: nameHead)
            }
            let valueHead = try reader.readHead()
            guard valueHead.kind == .text else {
                throw wrongType(of: EnvelopeKey.headers, expected: "a text header value", found: valueHead)
            }
            if collecting {
                headers.append(Header(try reader.text(of: nameHead), try reader.text(of: valueHead)))
            } else {
                try reader.validateText(of: nameHead)
                try reader.validateText(of: valueHead)
            }
        }
        return headers
    }
}

extension CBOR {
    /// Encodes an envelope into a new array (allocates; use ``Envelope/encode(into:)`` on the hot path).
    /// - Parameter envelope: The envelope.
    /// - Returns: Its CBOR bytes.
    public static func encode(_ envelope: Envelope) -> [UInt8] {
        var writer = CBORWriter(capacity: 64 + envelope.payload.count)
        envelope.encode(into: &writer)
        return writer.bytes
    }
}
