import ChronetixCore
import ChronetixNodes
import Synchronization
import Testing

@Suite struct SinkTests {
    @Test func statsCountsRatesAndChecksums() throws {
        let clock = Atomic<Int64>(1_000)
        var node = StatsNode(config: config("s", [:]), context: NodeContext(nodeID: "s")) {
            clock.add(500_000_000, ordering: .relaxed).newValue
        }
        for text in ["a", "", "bc"] {
            let bytes = Array(text.utf8)
            try node.consume(FrameInfo(), unsafe bytes.span.bytes)
        }
        #expect(node.frames == 3)
        #expect(node.bytes == 3)
        // FNV-1a 64 of "abc" (the payloads one after another): a published test vector.
        #expect(node.checksum == 0xE71F_A219_0541_574B)
        // 3 frames over 1 s between the first and the last arrival: 2 intervals per second.
        #expect(node.framesPerSecond == 2)
        let report = Dictionary(uniqueKeysWithValues: node.report().map { ($0.key, $0.value) })
        #expect(report["frames"] == .integer(3))
        #expect(report["checksum"] == .string("e71fa2190541574b"))
    }

    @Test func discardCounts() throws {
        var node = DiscardNode(config: config("d", [:]), context: NodeContext(nodeID: "d"))
        for size in [0, 64, 4096] {
            let bytes = [UInt8](repeating: 7, count: size)
            try node.consume(FrameInfo(), unsafe bytes.span.bytes)
        }
        #expect(node.frames == 3 && node.bytes == 4160)
    }
}
