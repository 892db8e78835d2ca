import ChronetixCore
import ChronetixNodes
import Testing

/// A clock that never waits: it records each instant it is asked to sleep until and jumps there.
private final class FakeClock: DelayClock {
    var current: Int64
    private(set) var sleeps: [Int64] = []

    init(now: Int64) { current = now }

    func now() -> Int64 { current }

    func sleep(until instant: Int64) throws(NodeError) {
        sleeps.append(instant)
        current = max(current, instant)
    }
}

@Suite struct DelayNodeTests {
    static func delayConfig(_ nanoseconds: Int64) -> NodeConfig {
        NodeConfig(node: "hold", .map([.init("delay", .integer(nanoseconds))]))
    }

    static func process(_ node: inout DelayNode, _ info: FrameInfo, _ bytes: [UInt8], into output: inout MemoryOutput)
        throws
    {
        try node.process(info, unsafe bytes.span.bytes, into: &output)  // a byte array's bytes
    }

    @Test func waitsUntilTimestampPlusDelayThenForwardsACopy() throws {
        let clock = FakeClock(now: 1_200)
        var node = try DelayNode(config: Self.delayConfig(500), context: NodeContext(nodeID: "hold"), clock: clock)
        var output = MemoryOutput()
        try Self.process(&node, FrameInfo(sequence: 0, timestampNanoseconds: 1_000), [1, 2, 3], into: &output)
        #expect(clock.sleeps == [1_500])
        #expect(output.frames == [[1, 2, 3]])
    }

    @Test func holdsAFrameWithoutTimestampFromItsArrival() throws {
        let clock = FakeClock(now: 7_000)
        var node = try DelayNode(config: Self.delayConfig(250), context: NodeContext(nodeID: "hold"), clock: clock)
        var output = MemoryOutput()
        try Self.process(&node, FrameInfo(sequence: 0, timestampNanoseconds: 0), [9], into: &output)
        #expect(clock.sleeps == [7_250])
        #expect(output.frames == [[9]])
    }

    @Test func forwardsAFrameAlreadyDueWithoutWaiting() throws {
        let clock = FakeClock(now: 10_000)
        var node = try DelayNode(config: Self.delayConfig(500), context: NodeContext(nodeID: "hold"), clock: clock)
        var output = MemoryOutput()
        try Self.process(&node, FrameInfo(sequence: 0, timestampNanoseconds: 9_500), [4], into: &output)
        try Self.process(&node, FrameInfo(sequence: 1, timestampNanoseconds: 1_000), [5], into: &output)
        #expect(clock.sleeps == [])
        #expect(output.frames == [[4], [5]])
        #expect(node.report().map(\.value) == [.integer(2), .integer(0)])
    }

    @Test func keepsOrderAndWaitsForEachFrameInTurn() throws {
        let clock = FakeClock(now: 1_000)
        var node = try DelayNode(config: Self.delayConfig(1_000), context: NodeContext(nodeID: "hold"), clock: clock)
        var output = MemoryOutput()
        // Three frames arrive together; the third's instant has passed once the second has waited.
        try Self.process(&node, FrameInfo(sequence: 0, timestampNanoseconds: 900), [0], into: &output)
        try Self.process(&node, FrameInfo(sequence: 1, timestampNanoseconds: 1_400), [1], into: &output)
        try Self.process(&node, FrameInfo(sequence: 2, timestampNanoseconds: 1_400), [2], into: &output)
        try Self.process(&node, FrameInfo(sequence: 3, timestampNanoseconds: 3_000), [3], into: &output)
        #expect(clock.sleeps == [1_900, 2_400, 4_000])
        #expect(output.frames == [[0], [1], [2], [3]])
        #expect(node.report().map(\.key) == ["frames", "waited"])
        #expect(node.report().map(\.value) == [.integer(4), .integer(3)])
    }

    @Test func saturatesInsteadOfOverflowing() throws {
        let node = try DelayNode(
            config: Self.delayConfig(100),
            context: NodeContext(nodeID: "hold"),
            clock: FakeClock(now: 0)
        )
        #expect(node.dueInstant(FrameInfo(timestampNanoseconds: .max - 10), arrival: 0) == .max)
        #expect(node.dueInstant(FrameInfo(timestampNanoseconds: 5), arrival: 0) == 105)
    }

    @Test func rejectsANegativeDelay() {
        let error = #expect(throws: NodeError.self) {
            _ = try DelayNode(config: Self.delayConfig(-1), context: NodeContext(nodeID: "hold"))
        }
        #expect(error?.message == "config key delay is -1 ns; it must be at least 0")
    }

    @Test(.timeLimit(.minutes(1)))
    func systemClockReturnsNoEarlierThanTheInstant() throws {
        let clock = SystemDelayClock()
        let start = clock.now()
        #expect(start > 0)
        try clock.sleep(until: start + 2_000_000)
        #expect(clock.now() >= start + 2_000_000)
        // An instant in the past returns at once.
        try clock.sleep(until: start)
    }
}
