import ChronetixCore
import ChronetixNodes
import Testing

@Suite struct MergeNodeTests {
    static let empty = NodeConfig(node: "join", .map([]))

    static func context(_ types: [ContentType]) -> NodeContext {
        NodeContext(nodeID: "join", inputTypes: types, outputTypes: types.isEmpty ? [] : [types[0]])
    }

    @Test func forwardsEveryFrameUnchangedInArrivalOrder() throws {
        var node = try MergeNode(config: Self.empty, context: Self.context([.bytes, .bytes, .bytes]))
        #expect(node.contentType == .bytes)
        let arrivals: [(input: Int, payload: [UInt8])] = [
            (0, [0xA0]), (1, [0xB0, 0xB1]), (0, [0xA1]), (2, []), (1, [0xB2]), (0, [0xA2, 0xA2, 0xA2]),
        ]
        var output = MemoryOutput()
        for (sequence, arrival) in arrivals.enumerated() {
            let info = FrameInfo(sequence: UInt64(sequence), contentType: .bytes, input: arrival.input)
            try node.process(info, unsafe arrival.payload.span.bytes, into: &output)  // a byte array's bytes
        }
        #expect(output.frames == arrivals.map(\.payload))
        #expect(node.framesPerInput == [3, 2, 1])
        #expect(node.report().map(\.key) == ["frames", "input.0", "input.1", "input.2"])
        #expect(node.report().map(\.value) == [.integer(6), .integer(3), .integer(2), .integer(1)])
    }

    @Test func reportsInputsThatSentNothing() throws {
        let node = try MergeNode(config: Self.empty, context: Self.context([.f64, .f64]))
        #expect(node.report().map(\.value) == [.integer(0), .integer(0), .integer(0)])
    }

    @Test func rejectsInputsOfDifferentContentTypes() {
        let error = #expect(throws: NodeError.self) {
            _ = try MergeNode(config: Self.empty, context: Self.context([.f64, .f64, .bytes]))
        }
        #expect(error?.node == "join")
        #expect(
            error?.message
                == "merge inputs must share one content type; input 0 is f64 but input 2 is bytes "
                + "(inputs 0: f64, 1: f64, 2: bytes)"
        )
    }

    @Test func rejectsNoInputs() {
        #expect(throws: NodeError.self) { _ = try MergeNode(config: Self.empty, context: Self.context([])) }
    }

    @Test func rejectsAFrameOnAnUnknownInput() throws {
        var node = try MergeNode(config: Self.empty, context: Self.context([.cbor, .cbor]))
        var output = MemoryOutput()
        let payload: [UInt8] = [0xF6]
        let error = #expect(throws: NodeError.self) {
            try node.process(
                FrameInfo(sequence: 4, contentType: .cbor, input: 2),
                unsafe payload.span.bytes,
                into: &output
            )
        }
        #expect(error?.message == "frame 4 arrived on input 2, but merge has 2 inputs")
        #expect(output.frames.isEmpty)
    }
}
