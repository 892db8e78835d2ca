import ChronetixCore
import ChronetixNodes
import Foundation
import Testing

@Suite struct GeneratorTests {
    static let context = NodeContext(nodeID: "source")

    func sineConfig(channels: Int64 = 2, samples: Int64 = 16, rate: Double = 100, frequency: Double = 7) -> NodeConfig {
        config("source", [
            "channels": .integer(channels), "samples": .integer(samples), "frequency_hz": .double(frequency),
            "amplitude": .double(1.5), "rate_hz": .double(rate), "frames": .integer(0),
        ])
    }

    @Test func sineFramesHaveTheirShapeAndContinueTheirPhase() throws {
        var node = try SineNode(config: sineConfig(), context: Self.context)
        var output = MemoryOutput()
        for _ in 0..<3 { #expect(try node.produce(into: &output)) }
        #expect(output.frames.count == 3)
        // Every sample of every frame is the wave at its global index: frame 1 starts where frame 0 ended.
        let sampleRate = 100.0 * 16
        for (frameIndex, frame) in output.frames.enumerated() {
            let (shape, samples) = try values(of: frame)
            #expect(shape == F64Frame.Shape(channels: 2, samples: 16))
            #expect(frame.count == 8 + 8 * 2 * 16)
            for sample in 0..<16 {
                let index = Double(frameIndex * 16 + sample)
                for channel in 0..<2 {
                    let expected = 1.5 * sin(2 * .pi * 7 * index / sampleRate + Double(channel) * .pi / 2)
                    #expect(abs(samples[sample * 2 + channel] - expected) < 1e-9)
                }
            }
        }
    }

    @Test func sineRejectsAnImpossibleShape() {
        #expect(throws: NodeError.self) { try SineNode(config: sineConfig(channels: 0), context: Self.context) }
        #expect(throws: NodeError.self) { try SineNode(config: config("source", ["channels": .string("two")]), context: Self.context) }
    }

    @Test func counterFramesCarryTheCountAndZeroes() throws {
        var node = try CounterNode(config: config("c", ["size": .integer(21)]), context: Self.context)
        var output = MemoryOutput()
        for _ in 0..<300 { _ = try node.produce(into: &output) }
        for (index, frame) in output.frames.enumerated() {
            #expect(frame.count == 21)
            let count = frame[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            #expect(count == UInt64(index))
            #expect(frame[8...].allSatisfy { $0 == 0 })
        }
    }

    @Test func randomFramesDependOnlyOnTheSeed() throws {
        func frames(seed: Int64) throws -> [[UInt8]] {
            var node = try RandomNode(
                config: config("r", ["channels": .integer(3), "samples": .integer(50), "seed": .integer(seed)]),
                context: Self.context
            )
            var output = MemoryOutput()
            for _ in 0..<4 { _ = try node.produce(into: &output) }
            return output.frames
        }
        let first = try frames(seed: 42)
        #expect(try frames(seed: 42) == first)
        #expect(try frames(seed: 43) != first)
        let all = try first.flatMap { try values(of: $0).1 }
        #expect(all.count == 4 * 150)
        #expect(all.allSatisfy { $0 >= -1 && $0 < 1 })
        // Uniform enough that both halves of the range are used about equally.
        let negative = all.filter { $0 < 0 }.count
        #expect(negative > 200 && negative < 400)
    }
}
