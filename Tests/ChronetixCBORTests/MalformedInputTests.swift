import ChronetixCBOR
import ChronetixCore
import Testing

/// Every malformed message must produce a `CodecError`: never a crash, a hang or a huge allocation.
struct MalformedInputTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let code: CodecError.Code
        var limits = CBORLimits.default
        var testDescription: String { name }
    }

    static let documentCases: [Case] = [
        .init(name: "empty input", bytes: [], code: .truncated),
        .init(name: "uint8 head without its byte", bytes: hex("18"), code: .truncated),
        .init(name: "uint64 head cut short", bytes: hex("1b000000"), code: .truncated),
        .init(name: "text declaring more bytes than remain", bytes: hex("62 61"), code: .truncated),
        .init(name: "array missing its items", bytes: hex("83 01 02"), code: .truncated),
        .init(name: "map missing a value", bytes: hex("a1 61 61"), code: .truncated),
        .init(name: "array claiming 16 items with none present", bytes: hex("9a00000010"), code: .truncated),
        .init(name: "byte string of 2^62 bytes", bytes: hex("5b4000000000000000"), code: .tooLarge),
        .init(name: "byte string of 2^64-1 bytes", bytes: hex("5bffffffffffffffff 00"), code: .tooLarge),
        .init(name: "text string of 2^62 bytes", bytes: hex("7b4000000000000000"), code: .tooLarge),
        .init(name: "array of 2^62 elements", bytes: hex("9b4000000000000000 00"), code: .tooLarge),
        .init(name: "array of 2^64-1 elements", bytes: hex("9bffffffffffffffff"), code: .tooLarge),
        .init(name: "map of 2^32 entries", bytes: hex("bb0000000100000000 6161 01"), code: .tooLarge),
        .init(name: "map of 2^31 entries (4-byte count)", bytes: hex("ba80000000"), code: .tooLarge),
        .init(name: "10000 nested arrays", bytes: [UInt8](repeating: 0x81, count: 10_000) + [0], code: .tooDeep),
        .init(
            name: "10000 nested maps",
            bytes: (0..<10_000).flatMap { _ in hex("a1 6161") } + [0],
            code: .tooDeep
        ),
        .init(name: "65 nested arrays", bytes: [UInt8](repeating: 0x81, count: 65) + [0], code: .tooDeep),
        .init(
            name: "3 nested arrays over a limit of 2",
            bytes: hex("81818100"),
            code: .tooDeep,
            limits: CBORLimits(maxDepth: 2)
        ),
        .init(name: "indefinite byte string", bytes: hex("5f 41 00 ff"), code: .indefiniteLength),
        .init(name: "indefinite text string", bytes: hex("7f 61 61 ff"), code: .indefiniteLength),
        .init(name: "indefinite array", bytes: hex("9f 01 ff"), code: .indefiniteLength),
        .init(name: "indefinite map", bytes: hex("bf 61 61 01 ff"), code: .indefiniteLength),
        .init(name: "nested indefinite array", bytes: hex("81 9f ff"), code: .indefiniteLength),
        .init(name: "stray break", bytes: hex("ff"), code: .indefiniteLength),
        .init(name: "trailing byte", bytes: hex("00 00"), code: .trailingBytes),
        .init(name: "trailing garbage after a map", bytes: hex("a0 ff ff ff"), code: .trailingBytes),
        .init(name: "invalid UTF-8 continuation", bytes: hex("62 c3 28"), code: .invalidUTF8),
        .init(name: "UTF-8 surrogate", bytes: hex("63 ed a0 80"), code: .invalidUTF8),
        .init(name: "overlong UTF-8", bytes: hex("62 c0 80"), code: .invalidUTF8),
        .init(
            name: "cut 4-byte sequence (its repair keeps the length)",
            bytes: hex("64 f0 90 80 41"),
            code: .invalidUTF8
        ),
        .init(name: "lone continuation byte after ASCII", bytes: hex("69 6161616161616161 80"), code: .invalidUTF8),
        .init(name: "invalid UTF-8 in a map key", bytes: hex("a1 61 ff 01"), code: .invalidUTF8),
        .init(name: "duplicate map key", bytes: hex("a2 6161 01 6161 02"), code: .duplicateKey),
        .init(
            name: "duplicate key in a large map",
            bytes: hex("aa") + (0..<9).flatMap { [0x61, 0x61 + UInt8($0), 0x00] } + hex("6161 00"),
            code: .duplicateKey
        ),
        .init(name: "integer map key", bytes: hex("a1 01 01"), code: .typeMismatch),
        .init(name: "byte-string map key", bytes: hex("a1 4161 01"), code: .typeMismatch),
        .init(name: "undefined", bytes: hex("f7"), code: .typeMismatch),
        .init(name: "tag 0", bytes: hex("c0 60"), code: .tagNotAllowed),
        .init(name: "tag 24 inside an array", bytes: hex("81 d818 40"), code: .tagNotAllowed),
        .init(name: "reserved additional info 28", bytes: hex("1c"), code: .malformed),
        .init(name: "reserved additional info in a string", bytes: hex("5c"), code: .malformed),
        .init(name: "unassigned simple value", bytes: hex("f0"), code: .malformed),
        .init(name: "one-byte simple value", bytes: hex("f8 20"), code: .malformed),
        .init(name: "unsigned above Int64.max", bytes: hex("1b8000000000000000"), code: .outOfRange),
        .init(name: "unsigned 2^64-1", bytes: hex("1bffffffffffffffff"), code: .outOfRange),
        .init(name: "negative below Int64.min", bytes: hex("3b8000000000000000"), code: .outOfRange),
        .init(name: "negative -2^64", bytes: hex("3bffffffffffffffff"), code: .outOfRange),
        .init(
            name: "message beyond maxBytes (checked before decoding)",
            bytes: [UInt8](repeating: 0xFF, count: (1 << 20) + 1),
            code: .tooLarge
        ),
        .init(
            name: "message beyond a small maxBytes",
            bytes: hex("6461626364"),
            code: .tooLarge,
            limits: CBORLimits(maxBytes: 4)
        ),
    ]

    @Test(arguments: documentCases)
    func rejectsMalformedDocument(_ testCase: Case) {
        let error = codecError { _ = try CBOR.decodeValue(testCase.bytes, limits: testCase.limits) }
        #expect(error?.code == testCase.code, "\(error.map { "\($0)" } ?? "decoded successfully")")
    }

    @Test func acceptsTheDeepestAllowedNesting() throws {
        let bytes = [UInt8](repeating: 0x81, count: 64) + [0]
        _ = try CBOR.decodeValue(bytes)
        let limits = CBORLimits(maxDepth: 1024)
        _ = try CBOR.decodeValue([UInt8](repeating: 0x81, count: 1024) + [0], limits: limits)
    }

    @Test func reportsTheOffsetOfTheOffendingItem() {
        let error = codecError { _ = try CBOR.decodeValue(hex("83 01 02 f7")) }
        #expect(error?.offset == 3)
        #expect(error?.code == .typeMismatch)
    }

    // MARK: - Truncation at every offset

    static let envelopeEncoding = CBOR.encode(fullEnvelope)
    static let documentEncoding = CBOR.encode(nestedDocument)

    @Test(arguments: 0..<envelopeEncoding.count)
    func rejectsEnvelopeTruncatedAt(_ length: Int) {
        let error = codecError { _ = try Envelope(cbor: Self.envelopeEncoding[..<length]) }
        #expect(error?.code == .truncated, "prefix of \(length) bytes: \(error.map { "\($0)" } ?? "decoded")")
    }

    @Test(arguments: 0..<documentEncoding.count)
    func rejectsDocumentTruncatedAt(_ length: Int) {
        let error = codecError { _ = try CBOR.decodeValue(Self.documentEncoding[..<length]) }
        #expect(error?.code == .truncated, "prefix of \(length) bytes: \(error.map { "\($0)" } ?? "decoded")")
    }

    // MARK: - Envelope fields

    /// Writes a valid envelope map, letting `override` replace the value of one key (or drop it).
    static func envelopeBytes(
        replacing key: UInt64,
        drop: Bool = false,
        with value: (inout CBORWriter) -> Void = { _ in }
    )
        -> [UInt8]
    {
        let fields: [(UInt64, (inout CBORWriter) -> Void)] = [
            (0, { $0.writeUnsigned(1) }),
            (1, { $0.writeText("topic") }),
            (2, { $0.writeText("application/cbor") }),
            (3, { $0.writeUnsigned(1) }),
            (4, { $0.writeUnsigned(99) }),
            (5, { $0.writeUnsigned(1) }),
            (6, { $0.writeBytes(fullEnvelope.traceParent!.binary) }),
            (7, { $0.writeText("state") }),
            (
                8,
                {
                    $0.writeArrayHeader(count: 1)
                    $0.writeArrayHeader(count: 2)
                    $0.writeText("n")
                    $0.writeText("v")
                }
            ),
            (9, { $0.writeBytes([1, 2, 3]) }),
        ]
        var writer = CBORWriter()
        writer.writeMapHeader(count: drop ? fields.count - 1 : fields.count)
        for (fieldKey, write) in fields {
            if fieldKey == key && drop { continue }
            writer.writeUnsigned(fieldKey)
            if fieldKey == key { value(&writer) } else { write(&writer) }
        }
        return writer.bytes
    }

    @Test func envelopeFixtureIsValid() throws {
        let envelope = try Envelope(cbor: Self.envelopeBytes(replacing: 99))
        #expect(envelope.headers == [.init("n", "v")])
        #expect(envelope.traceParent == fullEnvelope.traceParent)
    }

    static let envelopeCases: [Case] = {
        var cases: [Case] = []
        let wrongTypes: [(String, (inout CBORWriter) -> Void)] = [
            ("text", { $0.writeText("1") }),
            ("negative", { $0.writeSigned(-1) }),
            ("null", { $0.writeNull() }),
            ("float", { $0.writeDouble(1) }),
            ("map", { $0.writeMapHeader(count: 0) }),
        ]
        let expected: [UInt64: String] = [
            0: "negative", 1: "null", 2: "float", 3: "text", 4: "map", 5: "float", 6: "text", 7: "negative",
            8: "map", 9: "text",
        ]
        for key in UInt64(0)...9 {
            for (name, write) in wrongTypes where name == expected[key] || name == "null" {
                cases.append(
                    .init(
                        name: "key \(key) as \(name)",
                        bytes: envelopeBytes(replacing: key, with: write),
                        code: .typeMismatch
                    )
                )
            }
        }
        for key: UInt64 in [0, 1, 2, 3, 5, 9] {
            cases.append(
                .init(name: "missing key \(key)", bytes: envelopeBytes(replacing: key, drop: true), code: .missingKey)
            )
        }
        cases += [
            .init(name: "priority 4", bytes: envelopeBytes(replacing: 5) { $0.writeUnsigned(4) }, code: .outOfRange),
            .init(
                name: "priority 2^40",
                bytes: envelopeBytes(replacing: 5) { $0.writeUnsigned(1 << 40) },
                code: .outOfRange
            ),
            .init(
                name: "schema_ver 2^32",
                bytes: envelopeBytes(replacing: 3) { $0.writeUnsigned(1 << 32) },
                code: .outOfRange
            ),
            .init(
                name: "traceparent of 25 bytes",
                bytes: envelopeBytes(replacing: 6) { $0.writeBytes([UInt8](repeating: 1, count: 25)) },
                code: .invalidValue
            ),
            .init(
                name: "traceparent with zero ids",
                bytes: envelopeBytes(replacing: 6) { $0.writeBytes([UInt8](repeating: 0, count: 26)) },
                code: .invalidValue
            ),
            .init(
                name: "traceparent version 1",
                bytes: envelopeBytes(replacing: 6) { $0.writeBytes([1] + [UInt8](repeating: 1, count: 25)) },
                code: .invalidValue
            ),
            .init(
                name: "header triple",
                bytes: envelopeBytes(replacing: 8) {
                    $0.writeArrayHeader(count: 1)
                    $0.writeArrayHeader(count: 3)
                    $0.writeText("a"); $0.writeText("b"); $0.writeText("c")
                },
                code: .typeMismatch
            ),
            .init(
                name: "header value as bytes",
                bytes: envelopeBytes(replacing: 8) {
                    $0.writeArrayHeader(count: 1)
                    $0.writeArrayHeader(count: 2)
                    $0.writeText("a"); $0.writeBytes([1])
                },
                code: .typeMismatch
            ),
            .init(
                name: "topic with invalid UTF-8",
                bytes: envelopeBytes(replacing: 1) { writer in
                    hex("62 c3 28").withUnsafeBytes { writer.writeEncoded($0) }
                },
                code: .invalidUTF8
            ),
            .init(
                name: "unknown key holding an indefinite array",
                bytes: hex("a7 0001 016174 0260 0300 0500 0940 0a 9f ff"),
                code: .indefiniteLength
            ),
            .init(name: "duplicate key", bytes: hex("a7 0001 0001 016174 0260 0300 0500 0940"), code: .duplicateKey),
            .init(name: "descending keys", bytes: hex("a6 016174 0001 0260 0300 0500 0940"), code: .duplicateKey),
            .init(name: "text key", bytes: hex("a7 0001 016174 0260 0300 0500 0940 6178 00"), code: .typeMismatch),
            .init(name: "not a map", bytes: hex("80"), code: .typeMismatch),
            .init(name: "trailing bytes", bytes: hex("a6 0001 016174 0260 0300 0500 0940 00"), code: .trailingBytes),
            .init(
                name: "headers beyond maxDepth",
                bytes: envelopeBytes(replacing: 99),
                code: .tooDeep,
                limits: CBORLimits(maxDepth: 2)
            ),
            .init(
                name: "unknown key nesting beyond maxDepth",
                bytes: hex("a7 0001 016174 0260 0300 0500 0940 0a") + [UInt8](repeating: 0x81, count: 70) + [0],
                code: .tooDeep
            ),
        ]
        return cases
    }()

    @Test(arguments: envelopeCases)
    func rejectsMalformedEnvelope(_ testCase: Case) {
        let error = codecError { _ = try Envelope(cbor: testCase.bytes, limits: testCase.limits) }
        #expect(error?.code == testCase.code, "\(error.map { "\($0)" } ?? "decoded successfully")")
    }
}

extension MalformedInputTests {
    @Test func namesTheEnvelopeFieldWithTheWrongType() {
        let topicAsNull = Self.envelopeBytes(replacing: 1) { $0.writeNull() }
        let error = codecError { _ = try Envelope(cbor: topicAsNull) }
        #expect(error?.message == "topic: expected a text string, found null")
        let priorityAsText = Self.envelopeBytes(replacing: 5) { $0.writeText("high") }
        #expect(codecError { _ = try Envelope(cbor: priorityAsText) }?.message.hasPrefix("priority: ") == true)
    }
}
