import CChronetix
import Testing

@testable import ShmDataPort

/// The Swift mirror in RingLayout must match the C structs in CChronetix.h, where the layout is defined.
@Suite struct RingLayoutTests {
    @Test func headerOffsetsMatchTheCStruct() {
        typealias H = cx_ring_header
        let pairs: [(Int?, Int, String)] = [
            (MemoryLayout<H>.offset(of: \.magic), RingLayout.Header.magic, "magic"),
            (MemoryLayout<H>.offset(of: \.layout_version), RingLayout.Header.layoutVersion, "layout_version"),
            (MemoryLayout<H>.offset(of: \.header_size), RingLayout.Header.headerSize, "header_size"),
            (MemoryLayout<H>.offset(of: \.data_capacity), RingLayout.Header.dataCapacity, "data_capacity"),
            (MemoryLayout<H>.offset(of: \.frame_alignment), RingLayout.Header.frameAlignment, "frame_alignment"),
            (MemoryLayout<H>.offset(of: \.frame_header_size), RingLayout.Header.frameHeaderSize, "frame_header_size"),
            (MemoryLayout<H>.offset(of: \.consumer_count), RingLayout.Header.consumerCount, "consumer_count"),
            (MemoryLayout<H>.offset(of: \.queue_policy), RingLayout.Header.queuePolicy, "queue_policy"),
            (MemoryLayout<H>.offset(of: \.frame_capacity), RingLayout.Header.frameCapacity, "frame_capacity"),
            (MemoryLayout<H>.offset(of: \.high_watermark), RingLayout.Header.highWatermark, "high_watermark"),
            (MemoryLayout<H>.offset(of: \.low_watermark), RingLayout.Header.lowWatermark, "low_watermark"),
            (MemoryLayout<H>.offset(of: \.owner_pid), RingLayout.Header.ownerPID, "owner_pid"),
            (MemoryLayout<H>.offset(of: \.owner_start_time), RingLayout.Header.ownerStartTime, "owner_start_time"),
            (MemoryLayout<H>.offset(of: \.created_realtime_ns), RingLayout.Header.createdRealtimeNanoseconds, "created_realtime_ns"),
            (MemoryLayout<H>.offset(of: \.write_bytes), RingLayout.Header.writeBytes, "write_bytes"),
            (MemoryLayout<H>.offset(of: \.write_frames), RingLayout.Header.writeFrames, "write_frames"),
            (MemoryLayout<H>.offset(of: \.generation), RingLayout.Header.generation, "generation"),
            (MemoryLayout<H>.offset(of: \.producer_pid), RingLayout.Header.producerPID, "producer_pid"),
            (MemoryLayout<H>.offset(of: \.closed), RingLayout.Header.closed, "closed"),
            (MemoryLayout<H>.offset(of: \.producer_start_time), RingLayout.Header.producerStartTime, "producer_start_time"),
            (MemoryLayout<H>.offset(of: \.data_futex), RingLayout.Header.dataFutex, "data_futex"),
            (MemoryLayout<H>.offset(of: \.consumers_waiting), RingLayout.Header.consumersWaiting, "consumers_waiting"),
            (MemoryLayout<H>.offset(of: \.space_futex), RingLayout.Header.spaceFutex, "space_futex"),
            (MemoryLayout<H>.offset(of: \.producer_waiting), RingLayout.Header.producerWaiting, "producer_waiting"),
            (MemoryLayout<H>.offset(of: \.wake_at_bytes), RingLayout.Header.wakeAtBytes, "wake_at_bytes"),
            (MemoryLayout<H>.offset(of: \.wake_at_frames), RingLayout.Header.wakeAtFrames, "wake_at_frames"),
            (MemoryLayout<H>.offset(of: \.consumers), RingLayout.Header.consumers, "consumers"),
        ]
        for (c, swift, field) in pairs {
            #expect(c == swift, "cx_ring_header.\(field)")
        }
        #expect(MemoryLayout<H>.size == RingLayout.Header.size)
        #expect(MemoryLayout<H>.size <= RingLayout.headerSize)
        #expect(Int(CX_RING_HEADER_SIZE) == RingLayout.headerSize)
        #expect(Int(CX_RING_MAX_CONSUMERS) == RingLayout.maxConsumers)
        #expect(CX_RING_MAGIC == RingLayout.magic)
        #expect(CX_RING_LAYOUT_VERSION == RingLayout.layoutVersion)
    }

    @Test func consumerSlotOffsetsMatchTheCStruct() {
        typealias C = cx_ring_consumer
        #expect(MemoryLayout<C>.size == RingLayout.Consumer.stride)
        #expect(MemoryLayout<C>.offset(of: \.released_bytes) == RingLayout.Consumer.releasedBytes)
        #expect(MemoryLayout<C>.offset(of: \.released_frames) == RingLayout.Consumer.releasedFrames)
        #expect(MemoryLayout<C>.offset(of: \.drops) == RingLayout.Consumer.drops)
        #expect(MemoryLayout<C>.offset(of: \.claim) == RingLayout.Consumer.claim)
        #expect(MemoryLayout<C>.offset(of: \.state) == RingLayout.Consumer.state)
        #expect(MemoryLayout<C>.offset(of: \.read_bytes) == RingLayout.Consumer.readBytes)
        #expect(MemoryLayout<C>.offset(of: \.read_frames) == RingLayout.Consumer.readFrames)
        #expect(MemoryLayout<C>.offset(of: \.duplicates) == RingLayout.Consumer.duplicates)
        #expect(MemoryLayout<C>.offset(of: \.attach_count) == RingLayout.Consumer.attachCount)
        #expect(MemoryLayout<C>.offset(of: \.pid) == RingLayout.Consumer.pid)
        #expect(MemoryLayout<C>.offset(of: \.start_time) == RingLayout.Consumer.startTime)
        #expect(Int(CX_RING_SLOT_RESERVED) == Int(RingLayout.slotReserved))
        #expect(Int(CX_RING_CLAIM_PRODUCER) == Int(RingLayout.claimProducer))
    }

    @Test func frameHeaderOffsetsMatchTheCStruct() {
        typealias F = cx_ring_frame_header
        #expect(MemoryLayout<F>.size == RingLayout.frameHeaderSize)
        #expect(MemoryLayout<F>.offset(of: \.length) == RingLayout.Frame.length)
        #expect(MemoryLayout<F>.offset(of: \.kind) == RingLayout.Frame.kind)
        #expect(MemoryLayout<F>.offset(of: \.priority) == RingLayout.Frame.priority)
        #expect(MemoryLayout<F>.offset(of: \.flags) == RingLayout.Frame.flags)
        #expect(MemoryLayout<F>.offset(of: \.content_type) == RingLayout.Frame.contentType)
        #expect(MemoryLayout<F>.offset(of: \.sequence) == RingLayout.Frame.sequence)
        #expect(MemoryLayout<F>.offset(of: \.timestamp_ns) == RingLayout.Frame.timestamp)
        #expect(MemoryLayout<F>.offset(of: \.deadline_ns) == RingLayout.Frame.deadline)
        #expect(Int(CX_RING_FRAME_DATA) == Int(RingLayout.frameKindData))
        #expect(Int(CX_RING_FRAME_PAD) == Int(RingLayout.frameKindPad))
    }
}
