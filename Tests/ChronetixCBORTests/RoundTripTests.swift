import ChronetixCBOR
import ChronetixCore
import Testing

struct RoundTripTests {
    static let documents: [StructuredValue] = [
        nil, true, false, 0, -1, .integer(.max), .integer(.min), 0.5, -0.0, .double(.greatestFiniteMagnitude),
        "", "ü水𐅑", .bytes([]), .bytes([0xFF]), [], .map([]), nestedDocument,
        .array([.array([.array([.map([.init("", .null)])])])]),
    ]

    @Test(arguments: documents)
    func roundTripsDocument(_ value: StructuredValue) throws {
        #expect(equivalent(try CBOR.decodeValue(CBOR.encode(value)), value))
    }

    @Test func keepsMapEntryOrder() throws {
        let value: StructuredValue = .map([.init("z", 1), .init("a", 2), .init("m", 3)])
        let decoded = try CBOR.decodeValue(CBOR.encode(value))
        guard case .map(let entries) = decoded else { Issue.record("not a map: \(decoded)"); return }
        #expect(entries.map(\.key) == ["z", "a", "m"])
    }

    @Test func decodesFromNonContiguousAndSlicedCollections() throws {
        let bytes = CBOR.encode(nestedDocument)
        #expect(try CBOR.decodeValue(bytes[...]) == nestedDocument)
        #expect(try CBOR.decodeValue(([0xAA] + bytes).dropFirst()) == nestedDocument)
        #expect(try CBOR.decodeValue(bytes.lazy.map { $0 }) == nestedDocument)
    }

    static let envelopes: [Envelope] = [
        fullEnvelope, minimalEnvelope,
        Envelope(id: 1, topic: "a", deadlineNanoseconds: 5),
        Envelope(id: 2, topic: "a", traceParent: fullEnvelope.traceParent),
        Envelope(id: 3, topic: "a", traceState: ""),
        Envelope(id: 4, topic: "a", headers: [.init("", "")]),
        Envelope(id: .max, topic: String(repeating: "x", count: 300), schemaVersion: .max, deadlineNanoseconds: .max),
    ]

    @Test(arguments: envelopes)
    func roundTripsEnvelope(_ envelope: Envelope) throws {
        #expect(try Envelope(cbor: CBOR.encode(envelope)) == envelope)
    }

    @Test func encodesEnvelopeKeysAscendingAndOmitsDefaults() throws {
        #expect(hexString(CBOR.encode(minimalEnvelope)) == "a6" + "0000" + "016174" + "0260" + "0300" + "0500" + "0940")
    }

    @Test func roundTripsAOneMebibytePayloadWithinRaisedLimits() throws {
        let envelope = Envelope(
            id: 9,
            topic: "bulk",
            payload: (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        )
        let bytes = CBOR.encode(envelope)
        #expect(try Envelope(cbor: bytes, limits: CBORLimits(maxBytes: 2 << 20)) == envelope)
        #expect(codecError { _ = try Envelope(cbor: bytes) }?.code == .tooLarge)
    }

    @Test func decodesWithoutCopyingThePayload() throws {
        let bytes = CBOR.encode(fullEnvelope)
        let (envelope, range) = try Envelope.decodeLeavingPayload(cbor: bytes)
        #expect(envelope.payload.isEmpty)
        #expect(Array(bytes[range]) == fullEnvelope.payload)
        var expected = fullEnvelope
        expected.payload = []
        #expect(envelope == expected)
    }

    @Test func skipsUnknownEnvelopeKeys() throws {
        var writer = CBORWriter()
        writer.writeMapHeader(count: 9)
        writer.writeUnsigned(0); writer.writeUnsigned(1)
        writer.writeUnsigned(1); writer.writeText("t")
        writer.writeUnsigned(2); writer.writeText("c")
        writer.writeUnsigned(3); writer.writeUnsigned(1)
        writer.writeUnsigned(5); writer.writeUnsigned(2)
        writer.writeUnsigned(9); writer.writeBytes([1])
        writer.writeUnsigned(10); CBOR.encode(nestedDocument, into: &writer)
        writer.writeUnsigned(64); writer.writeDouble(1.5)
        writer.writeUnsigned(1 << 40); writer.writeArrayHeader(count: 1); writer.writeNull()
        let envelope = try Envelope(cbor: writer.bytes)
        #expect(envelope == Envelope(id: 1, topic: "t", contentType: "c", priority: .high, payload: [1]))
    }
}

extension RoundTripTests {
    @Test func rejectsEnvelopeAsDocumentBecauseKeysAreIntegers() {
        #expect(codecError { _ = try CBOR.decodeValue(CBOR.encode(minimalEnvelope)) }?.code == .typeMismatch)
    }
}
