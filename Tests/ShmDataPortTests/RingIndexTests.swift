import Testing

@testable import ShmDataPort

@Suite struct RingIndexTests {
    @Test(arguments: [(0, 8, 32), (1, 8, 40), (8, 8, 40), (9, 8, 48), (1, 64, 64), (33, 64, 128), (32, 32, 64)])
    func slotSizeRoundsHeaderAndPayloadUpToTheAlignment(payload: Int, alignment: Int, expected: Int) {
        #expect(RingIndex.slotSize(payloadLength: UInt64(payload), alignment: UInt64(alignment)) == UInt64(expected))
    }

    @Test func aFrameThatDoesNotFitBeforeTheEndSkipsTheTail() {
        // 4096-byte ring, write counter 4000 → offset 4000, 96 bytes to the end.
        #expect(RingIndex.skipBeforeFrame(write: 4000, slot: 96, capacity: 4096) == 0)
        #expect(RingIndex.skipBeforeFrame(write: 4000, slot: 104, capacity: 4096) == 96)
        // Counters run freely: the offset of 3 * 4096 + 4000 is still 4000.
        #expect(RingIndex.skipBeforeFrame(write: 3 * 4096 + 4000, slot: 104, capacity: 4096) == 96)
    }

    @Test func usedBytesRejectImpossibleCounters() {
        #expect(RingIndex.used(write: 5000, released: 1000, capacity: 4096) == 4000)
        #expect(RingIndex.used(write: 5000, released: 5000, capacity: 4096) == 0)
        #expect(RingIndex.used(write: 5000, released: 6000, capacity: 4096) == nil, "released ahead of written")
        #expect(RingIndex.used(write: 9000, released: 100, capacity: 4096) == nil, "further behind than the capacity")
        // Near the 64-bit wrap the arithmetic is modular.
        #expect(RingIndex.used(write: 10, released: UInt64.max - 9, capacity: 4096) == 20)
    }

    @Test func configurationValidation() {
        #expect(RingConfiguration(dataCapacity: 4096).validationFailure() == nil)
        #expect(RingConfiguration(dataCapacity: 5000).validationFailure() != nil)
        #expect(RingConfiguration(dataCapacity: 2048).validationFailure() != nil)
        #expect(RingConfiguration(dataCapacity: 4096, consumerCount: 0).validationFailure() != nil)
        #expect(RingConfiguration(dataCapacity: 4096, consumerCount: 17).validationFailure() != nil)
        #expect(RingConfiguration(dataCapacity: 4096, frameAlignment: 12).validationFailure() != nil)
        #expect(RingConfiguration(dataCapacity: 4096, lowWatermark: 4096).validationFailure() != nil)
        #expect(RingConfiguration(dataCapacity: 4096, highWatermark: 8192).validationFailure() != nil)
        #expect(RingConfiguration(dataCapacity: 4096, frameCapacity: 0).validationFailure() != nil)
    }

    @Test func capacityForFramesIsAPowerOfTwoThatHoldsThem() {
        let capacity = RingConfiguration.capacity(forFrames: 64, ofPayload: 1000)
        #expect(capacity & (capacity - 1) == 0)
        #expect(capacity >= 64 * 1032)
        #expect(RingConfiguration.capacity(forFrames: 1, ofPayload: 8) == 4096)
    }
}
