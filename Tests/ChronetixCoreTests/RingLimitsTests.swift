import CChronetix
import ChronetixCore
import Testing

@Suite struct RingLimitsTests {
    /// The compiler refuses fan-outs above RingLimits.maxConsumers; the ring's header has that many slots.
    @Test func consumerLimitIsTheHeadersSlotCount() {
        #expect(RingLimits.maxConsumers == Int(CX_RING_MAX_CONSUMERS))
    }

    @Test func capacitiesArePowersOfTwo() {
        #expect(RingLimits.minDataCapacity.nonzeroBitCount == 1)
        #expect(RingLimits.maxDataCapacity.nonzeroBitCount == 1)
        #expect(RingLimits.minDataCapacity < RingLimits.maxDataCapacity)
    }
}
