import ChronetixCore
import ChronetixNodes
import Testing

@Suite struct MapTests {
    static let context = NodeContext(nodeID: "map")
    static let shape = F64Frame.Shape(channels: 2, samples: 3)

    /// A 2×3 frame whose value at (channel, sample) is `base + 10 × channel + sample`.
    func frame(_ base: Double) -> [UInt8] {
        F64Frame.make(Self.shape) { channel, sample in base + Double(10 * channel + sample) }
    }

    @Test func scaleMultipliesAndOffsetsEverySample() throws {
        var node = try ScaleNode(config: config("g", ["factor": .double(2), "offset": .double(-1)]), context: Self.context)
        let output = try run(&node, [frame(0), frame(100)])
        #expect(output.count == 2)
        #expect(try values(of: output[0]).1 == [-1, 19, 1, 21, 3, 23])
        #expect(try values(of: output[1]).1 == [199, 219, 201, 221, 203, 223])
        #expect(try values(of: output[1]).0 == Self.shape)
    }

    @Test func aMalformedFrameIsAnErrorNotACrash() throws {
        var node = try ScaleNode(config: config("g", ["factor": .double(2), "offset": .double(0)]), context: Self.context)
        var wrongLength = frame(0)
        wrongLength.removeLast()
        let zeroChannels = F64Frame.make(F64Frame.Shape(channels: 1, samples: 1)) { _, _ in 0 }.enumerated().map {
            $0.offset == 0 ? 0 : $0.element
        }
        for bad in [[], [1, 2, 3], wrongLength, zeroChannels] {
            #expect(throws: NodeError.self) { _ = try run(&node, [bad]) }
        }
    }

    @Test func filterPassesFramesWithinTheBoundsAndCountsTheRest() throws {
        // Channel 1's mean is base + 11; its peak base + 12.
        var node = try FilterNode(
            config: config("f", ["channel": .integer(1), "stat": .string("mean"), "min": .double(20), "max": .double(40)]),
            context: Self.context
        )
        let output = try run(&node, [frame(0), frame(10), frame(25), frame(30)])
        #expect(output == [frame(10), frame(25)])
        #expect(node.passed == 2 && node.dropped == 2)

        var peak = try FilterNode(
            config: config("f", ["channel": .integer(0), "stat": .string("peak"), "min": .null, "max": .double(5)]),
            context: Self.context
        )
        #expect(try run(&peak, [frame(3), frame(4)]) == [frame(3)])  // peaks 5 and 6

        var outOfRange = try FilterNode(
            config: config("f", ["channel": .integer(2), "stat": .string("mean"), "min": .null, "max": .null]),
            context: Self.context
        )
        #expect(throws: NodeError.self) { _ = try run(&outOfRange, [frame(0)]) }
    }

    @Test(arguments: [("mean", [2.0, 12, 3, 13, 4, 14]), ("min", [0, 10, 1, 11, 2, 12]), ("max", [4, 14, 5, 15, 6, 16])])
    func windowReducesEveryNFramesSampleBySample(operation: String, expected: [Double]) throws {
        var node = try WindowNode(config: config("w", ["size": .integer(3), "op": .string(operation)]), context: Self.context)
        // Two full windows of frames 0, 2, 4, then an incomplete one that is never emitted.
        let output = try run(&node, [frame(0), frame(2), frame(4), frame(0), frame(2), frame(4), frame(9)])
        #expect(output.count == 2)
        for frame in output { #expect(try values(of: frame).1 == expected) }
        #expect(node.windows == 2)
    }

    @Test func windowRootMeanSquare() throws {
        var node = try WindowNode(config: config("w", ["size": .integer(2), "op": .string("rms")]), context: Self.context)
        let one = F64Frame.make(F64Frame.Shape(channels: 1, samples: 1)) { _, _ in 3 }
        let two = F64Frame.make(F64Frame.Shape(channels: 1, samples: 1)) { _, _ in 4 }
        #expect(try values(of: try run(&node, [one, two])[0]).1 == [(12.5).squareRoot()])
    }

    @Test func windowRefusesFramesOfAnotherShapeInOneWindow() throws {
        var node = try WindowNode(config: config("w", ["size": .integer(2), "op": .string("mean")]), context: Self.context)
        let other = F64Frame.make(F64Frame.Shape(channels: 1, samples: 6)) { _, _ in 0 }
        #expect(throws: NodeError.self) { _ = try run(&node, [frame(0), other]) }
    }
}
