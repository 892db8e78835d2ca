import ChronetixRuntime
import Testing

/// The record header of `process` nodes' pipes: the bytes docs/nodes.md and examples/process/passthrough.py
/// describe, and clear errors for what is not a record.
@Suite struct ProcessRecordTests {
    private func encode(_ header: ProcessRecord.Header) -> [UInt8] {
        var bytes = [UInt8](repeating: 0xEE, count: ProcessRecord.headerSize)
        unsafe bytes.withUnsafeMutableBytes { unsafe ProcessRecord.write(header, into: $0) }
        return bytes
    }

    private func decode(_ bytes: [UInt8]) throws -> ProcessRecord.Header {
        try unsafe bytes.withUnsafeBytes { try unsafe ProcessRecord.read(from: $0) }
    }

    @Test func theHeaderHasTheDocumentedLayout() throws {
        let header = ProcessRecord.Header(
            length: 0x0102_0304, port: 0x0506, flags: 0, sequence: 0x1112_1314_1516_1718,
            timestamp: 0x2122_2324_2526_2728, deadline: -2
        )
        let bytes = encode(header)
        #expect(bytes.count == 40)
        #expect(Array(bytes[0..<4]) == Array("CXF1".utf8))
        #expect(Array(bytes[4..<8]) == [0x04, 0x03, 0x02, 0x01])
        #expect(Array(bytes[8..<10]) == [0x06, 0x05])
        #expect(Array(bytes[10..<12]) == [0x00, 0x00])
        #expect(Array(bytes[12..<16]) == [0, 0, 0, 0])
        #expect(Array(bytes[16..<24]) == [0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11])
        #expect(Array(bytes[24..<32]) == [0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21])
        #expect(Array(bytes[32..<40]) == [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(try decode(bytes) == header)
    }

    @Test func textWhereARecordShouldBeIsQuoted() {
        let bytes = Array("Hello from the program, a debug print\n".utf8) + [UInt8](repeating: 0x20, count: 8)
        #expect {
            try decode(bytes)
        } throws: { error in
            "\(error)".contains("text \"Hello from the program, a debug ") && "\(error)".contains("something printed to standard output?")
        }
    }

    @Test func binaryGarbageIsShownAsBytes() {
        var bytes = encode(.init(length: 1, port: 0))
        bytes[0] = 0x00
        bytes[1] = 0xFF
        #expect {
            try decode(bytes)
        } throws: { error in
            "\(error)".contains("bytes 0 ff 46 31")
        }
    }

    @Test func theStartOfAHeaderIsCheckedOnItsOwn() throws {
        // A program that wrote a few bytes and ended: a prefix of the magic is fine, anything else is named.
        try unsafe Array("CX".utf8).withUnsafeBytes { try unsafe ProcessRecord.checkStart($0) }
        #expect(throws: ProcessRecord.Malformed.self) {
            try unsafe Array("ok\n".utf8).withUnsafeBytes { try unsafe ProcessRecord.checkStart($0) }
        }
    }

    @Test func reservedBitsAndUnknownFlagsAreRefused() {
        var reserved = encode(.init(length: 1, port: 0))
        reserved[13] = 1
        #expect(throws: ProcessRecord.Malformed.self) { try decode(reserved) }
        let flags = encode(.init(length: 1, port: 0, flags: 0x8000))
        #expect {
            try decode(flags)
        } throws: { error in
            "\(error)".contains("unknown flags 0x8000")
        }
    }

    @Test func anOversizedErrorReportIsRefusedBeforeItIsRead() {
        let header = encode(.init(length: UInt32(ProcessRecord.maximumErrorLength + 1), port: 0, flags: ProcessRecord.errorFlag))
        #expect(throws: ProcessRecord.Malformed.self) { try decode(header) }
        let frame = encode(.init(length: UInt32.max, port: 0))
        // A frame's length is checked against its ring by the reader, not here.
        #expect(throws: Never.self) { try decode(frame) }
    }
}
