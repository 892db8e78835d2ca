import ChronetixCore
import ChronetixNodes
import Synchronization
import Testing

/// Collects what a node writes through `context.log`.
private final class CapturedLog: Sendable {
    private let storage = Mutex<[String]>([])

    var lines: [String] { storage.withLock { $0 } }

    func context() -> NodeContext {
        NodeContext(nodeID: "log") { line in self.storage.withLock { $0.append(line) } }
    }
}

@Suite struct LogNodeTests {
    static func logConfig(every: Int64) -> NodeConfig {
        NodeConfig(node: "log", .map([.init("every", .integer(every))]))
    }

    /// The lines logged for `frames` (type and payload each) with `every` 1.
    static func lines(_ frames: [(ContentType, [UInt8])]) throws -> [String] {
        let log = CapturedLog()
        var node = try LogNode(config: logConfig(every: 1), context: log.context())
        for (index, (type, bytes)) in frames.enumerated() {
            let info = FrameInfo(sequence: UInt64(index), contentType: type)
            try node.consume(info, unsafe bytes.span.bytes)  // a byte array's bytes
        }
        return log.lines
    }

    @Test func previewsF64FramesWithShapeAndFirstValues() throws {
        let small = F64Frame.make(F64Frame.Shape(channels: 1, samples: 2)) { _, sample in sample == 0 ? 0.5 : -1 }
        let large = F64Frame.make(F64Frame.Shape(channels: 2, samples: 3)) { channel, sample in
            Double(sample * 10 + channel)
        }
        #expect(
            try Self.lines([(.f64, small), (.f64, large)]) == [
                "seq=0 type=f64 bytes=24 shape=1x2 values=[0.5, -1.0]",
                "seq=1 type=f64 bytes=56 shape=2x3 values=[0.0, 1.0, 10.0, 11.0, ...]",
            ]
        )
    }

    @Test func previewsBytesInHexAndPrintableASCII() throws {
        #expect(
            try Self.lines([(.bytes, Array("Hi!\n".utf8) + [0x00, 0x7F, 0xFF])]) == [
                "seq=0 type=bytes bytes=7 hex=48 69 21 0a 00 7f ff ascii=|Hi!....|"
            ]
        )
        #expect(
            try Self.lines([(.bytes, Array("hello\nworld!!!!!tail".utf8))]) == [
                "seq=0 type=bytes bytes=20 hex=68 65 6c 6c 6f 0a 77 6f 72 6c 64 21 21 21 21 21 ... "
                    + "ascii=|hello.world!!!!!|..."
            ]
        )
    }

    @Test func previewsOtherTypesInHex() throws {
        #expect(
            try Self.lines([(.cbor, [0x82, 0x01, 0x02]), (.arrow, Array(repeating: 0xAB, count: 17))]) == [
                "seq=0 type=cbor bytes=3 hex=82 01 02",
                "seq=1 type=arrow bytes=17 hex=ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ...",
            ]
        )
    }

    @Test func showsEmptyAndMalformedPayloads() throws {
        #expect(
            try Self.lines([(.bytes, []), (.f64, [1, 0, 0, 0, 1, 0, 0, 0, 9])]) == [
                "seq=0 type=bytes bytes=0 (empty)",
                "seq=1 type=f64 bytes=9 malformed (an f64 frame of 1 channels × 1 samples takes 16 bytes, not 9) "
                    + "hex=01 00 00 00 01 00 00 00 09",
            ]
        )
    }

    @Test func logsOneFrameInEvery() throws {
        let log = CapturedLog()
        var node = try LogNode(config: Self.logConfig(every: 3), context: log.context())
        let frame: [UInt8] = [0x41]
        for sequence in 100..<107 {
            try node.consume(FrameInfo(sequence: UInt64(sequence)), unsafe frame.span.bytes)  // a byte array's bytes
        }
        #expect(log.lines.map { $0.prefix(while: { $0 != " " }) } == ["seq=100", "seq=103", "seq=106"])
        #expect(node.report().map(\.key) == ["frames", "logged"])
        #expect(node.report().map(\.value) == [.integer(7), .integer(3)])
    }

    @Test func rejectsEveryBelowOne() {
        let error = #expect(throws: NodeError.self) {
            _ = try LogNode(config: Self.logConfig(every: 0), context: NodeContext(nodeID: "log"))
        }
        #expect(error?.message == "config key every is 0; it must be at least 1")
    }
}
