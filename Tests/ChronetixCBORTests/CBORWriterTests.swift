import ChronetixCBOR
import ChronetixCore
import Testing

struct CBORWriterTests {
    @Test func resetKeepsTheBuffer() {
        var writer = CBORWriter(capacity: 512)
        fullEnvelope.encode(into: &writer)
        let first = writer.bytes
        let capacity = writer.bufferCapacity
        for _ in 0..<100 {
            writer.reset()
            fullEnvelope.encode(into: &writer)
        }
        #expect(writer.bytes == first)
        #expect(writer.bufferCapacity == capacity)
    }

    @Test func growsPastItsInitialCapacity() throws {
        var writer = CBORWriter(capacity: 1)
        let big = Envelope(id: 1, topic: "t", payload: [UInt8](repeating: 7, count: 100_000))
        big.encode(into: &writer)
        #expect(writer.count == CBOR.encode(big).count)
        #expect(try Envelope(cbor: writer.bytes) == big)
    }

    @Test func encodesIntoCallerMemory() throws {
        let expected = CBOR.encode(fullEnvelope)
        var slot = [UInt8](repeating: 0, count: 1024)
        let written = try slot.withUnsafeMutableBytes { buffer throws(CodecError) in
            try CBORWriter.encode(into: buffer) { fullEnvelope.encode(into: &$0) }
        }
        #expect(Array(slot[0..<written]) == expected)
    }

    @Test func reportsABufferTooSmall() {
        var slot = [UInt8](repeating: 0, count: 40)
        let error = codecError {
            _ = try slot.withUnsafeMutableBytes { buffer throws(CodecError) in
                try CBORWriter.encode(into: buffer) { fullEnvelope.encode(into: &$0) }
            }
        }
        #expect(error?.code == .bufferTooSmall)
    }

    @Test func withUnsafeBytesSeesTheEncoding() {
        var writer = CBORWriter()
        writer.writeArrayHeader(count: 2)
        writer.writeText("a")
        writer.writeBytes([1])
        let seen = writer.withUnsafeBytes { Array($0) }
        #expect(hexString(seen) == "8261614101")
    }

    @Test func errorDescriptionIsOneLineWithOffsetAndLocation() {
        let error = codecError { _ = try CBOR.decodeValue(hex("8201")) }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.hasPrefix("CBOR truncated at byte 0: an array declares 2 items"))
        #expect(text.contains("ChronetixCBOR/"))
        #expect(!text.contains("\n"))
        #expect(error?.detailedDescription().contains("└─ location: ChronetixCBOR/") == true)
    }
}
