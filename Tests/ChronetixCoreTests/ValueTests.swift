import ChronetixCore
import Testing

@Suite struct ValueTests {
    struct Sample: Codable, Equatable {
        var name: String
        var count: Int64
        var ratio: Double
        var whole: Double
        var flags: [Bool]
        var payload: [UInt8]
        var empty: [Int]
        var nested: [String: Int]?
        var config: StructuredValue
    }

    let sample = Sample(
        name: "gain", count: -3, ratio: 0.1, whole: 2.0, flags: [true, false], payload: [0, 255, 7], empty: [],
        nested: nil, config: .map([.init("factor", 2.0), .init("list", [1, "x", nil])])
    )

    @Test func encodesInKeyOrderAndKeepsDoublesApartFromIntegers() throws {
        let tree = try StructuredValueEncoder().encode(sample)
        guard case .map(let entries) = tree else {
            Issue.record("expected a map, got \(tree)")
            return
        }
        #expect(entries.map(\.key) == ["name", "count", "ratio", "whole", "flags", "payload", "empty", "config"])
        #expect(tree["whole"] == .double(2.0))
        #expect(tree["payload"] == .bytes([0, 255, 7]))
        #expect(tree["empty"] == .array([]))  // an empty array is not mistaken for bytes
        #expect(JSONText.write(tree["whole"]!, style: .compact) == "2.0")
    }

    @Test func decodesBackToTheSameValue() throws {
        let tree = try StructuredValueEncoder().encode(sample)
        #expect(try StructuredValueDecoder().decode(Sample.self, from: tree) == sample)
    }

    @Test func decodingIsStrictAboutTypesButIgnoresUnknownKeys() throws {
        struct Small: Codable, Equatable { var count: Int; var ratio: Double }
        let tree: StructuredValue = .map([.init("count", 5), .init("ratio", 3), .init("extra", "ignored")])
        #expect(try StructuredValueDecoder().decode(Small.self, from: tree) == Small(count: 5, ratio: 3))
        let wrong: StructuredValue = .map([.init("count", 5.5), .init("ratio", 1)])
        #expect(throws: DecodingError.self) { try StructuredValueDecoder().decode(Small.self, from: wrong) }
        let missing: StructuredValue = .map([.init("count", 5)])
        #expect(throws: DecodingError.self) { try StructuredValueDecoder().decode(Small.self, from: missing) }
    }

    @Test func unsignedValuesAboveInt64AreRefused() {
        #expect(throws: EncodingError.self) { try StructuredValueEncoder().encode([UInt64.max]) }
    }

    @Test func jsonTextEscapesAndFormats() {
        let value: StructuredValue = .map([
            .init("text", "a\"b\\c\n\u{01}é"), .init("n", .integer(-7)), .init("x", 1e20), .init("b", .bytes([1, 2, 3])),
            .init("nan", .double(.nan)),
        ])
        #expect(
            JSONText.write(value, style: .compact)
                == #"{"text":"a\"b\\c\n\u0001é","n":-7,"x":1e+20,"b":"AQID","nan":null}"#
        )
        #expect(JSONText.write(.map([]), style: .pretty) == "{}\n")
    }

    @Test(arguments: [[], [0], [1, 2], [1, 2, 3], [255, 254, 253, 252], Array(0...255)] as [[UInt8]])
    func base64RoundTrips(_ bytes: [UInt8]) {
        #expect(Base64.decode(Base64.encode(bytes)) == bytes)
    }

    @Test func base64RefusesNonCanonicalText() {
        #expect(Base64.encode([1, 2, 3]) == "AQID")
        #expect(Base64.decode("AQI=") == [1, 2])
        for bad in ["AQI", "A===", "AQJ=", "AQ=D", "AQ!D", "=AQD"] { #expect(Base64.decode(bad) == nil, "\(bad)") }
    }

    @Test func traceParentParsesAndPrintsTheW3CForm() throws {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let parent = try #require(TraceParent(text))
        #expect(parent.text == text)
        #expect(parent.binary.count == TraceParent.binaryLength)
        #expect(TraceParent(binary: parent.binary) == parent)
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero parent id
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // uppercase
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // unknown version
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            #expect(TraceParent(bad) == nil, "\(bad)")
        }
    }

    @Test func envelopeHasAJSONDocumentForm() throws {
        let envelope = Envelope(
            id: 9, topic: "flow.f.n.events", deadlineNanoseconds: 5, priority: .high,
            traceParent: TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), traceState: "k=v",
            headers: [.init("a", "1"), .init("a", "2")], payload: [1, 2, 3]
        )
        let tree = try StructuredValueEncoder().encode(envelope)
        #expect(tree["priority"] == "high")
        #expect(tree["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        #expect(JSONText.write(tree["payload"]!, style: .compact) == "\"AQID\"")
        #expect(try StructuredValueDecoder().decode(Envelope.self, from: tree) == envelope)
        // JSON carries the payload as base64 text; it decodes back to the bytes.
        let fromJSON: StructuredValue = .map(
            (tree.mapEntries ?? []).map { $0.key == "payload" ? .init("payload", "AQID") : $0 }
        )
        #expect(try StructuredValueDecoder().decode(Envelope.self, from: fromJSON) == envelope)
    }
}

extension StructuredValue {
    fileprivate var mapEntries: [Entry]? {
        guard case .map(let entries) = self else { return nil }
        return entries
    }
}
