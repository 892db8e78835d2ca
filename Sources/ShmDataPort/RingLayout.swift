/// The Swift mirror of the ring's shared layout, `cx_ring_header` and `cx_ring_frame_header` in
/// `CChronetix.h`, where the layout is defined once with `_Static_assert`s. ShmDataPort does not import C;
/// `RingLayoutTests` checks every offset here against `MemoryLayout.offset(of:)` of the C structs.
@usableFromInline
enum RingLayout {
    @inlinable static var magic: UInt64 { 0x474e_4952_5854_4843 }  // the bytes "CHTXRING", little-endian
    @inlinable static var layoutVersion: UInt32 { 1 }
    @inlinable static var headerSize: Int { 4096 }
    @inlinable static var maxConsumers: Int { 16 }
    @inlinable static var frameHeaderSize: Int { 32 }

    /// Offsets in the header (bytes from the start of the segment).
    @usableFromInline
    enum Header {
        @inlinable static var magic: Int { 0 }
        @inlinable static var layoutVersion: Int { 8 }
        @inlinable static var headerSize: Int { 12 }
        @inlinable static var dataCapacity: Int { 16 }
        @inlinable static var frameAlignment: Int { 24 }
        @inlinable static var frameHeaderSize: Int { 28 }
        @inlinable static var consumerCount: Int { 32 }
        @inlinable static var queuePolicy: Int { 36 }
        @inlinable static var frameCapacity: Int { 40 }
        @inlinable static var highWatermark: Int { 48 }
        @inlinable static var lowWatermark: Int { 56 }
        @inlinable static var ownerPID: Int { 64 }
        @inlinable static var ownerStartTime: Int { 72 }
        @inlinable static var createdRealtimeNanoseconds: Int { 80 }
        @inlinable static var writeBytes: Int { 128 }
        @inlinable static var writeFrames: Int { 136 }
        @inlinable static var generation: Int { 192 }
        @inlinable static var producerPID: Int { 200 }
        @inlinable static var closed: Int { 204 }
        @inlinable static var producerStartTime: Int { 208 }
        @inlinable static var dataFutex: Int { 256 }
        @inlinable static var consumersWaiting: Int { 260 }
        @inlinable static var spaceFutex: Int { 320 }
        @inlinable static var producerWaiting: Int { 324 }
        @inlinable static var wakeAtBytes: Int { 328 }
        @inlinable static var wakeAtFrames: Int { 336 }
        @inlinable static var consumers: Int { 384 }
        @inlinable static var size: Int { 384 + 128 * 16 }
    }

    /// Offsets in one consumer slot (bytes from the slot's start).
    @usableFromInline
    enum Consumer {
        @inlinable static var stride: Int { 128 }
        @inlinable static var releasedBytes: Int { 0 }
        @inlinable static var releasedFrames: Int { 8 }
        @inlinable static var drops: Int { 16 }
        @inlinable static var claim: Int { 24 }
        @inlinable static var state: Int { 28 }
        @inlinable static var readBytes: Int { 64 }
        @inlinable static var readFrames: Int { 72 }
        @inlinable static var duplicates: Int { 80 }
        @inlinable static var attachCount: Int { 88 }
        @inlinable static var pid: Int { 96 }
        @inlinable static var startTime: Int { 104 }
    }

    /// Offsets in a frame header (bytes from the frame's start).
    @usableFromInline
    enum Frame {
        @inlinable static var length: Int { 0 }
        @inlinable static var kind: Int { 4 }
        @inlinable static var priority: Int { 5 }
        @inlinable static var flags: Int { 6 }
        @inlinable static var contentType: Int { 7 }
        @inlinable static var sequence: Int { 8 }
        @inlinable static var timestamp: Int { 16 }
        @inlinable static var deadline: Int { 24 }
    }

    @inlinable static var frameKindData: UInt8 { 1 }
    @inlinable static var frameKindPad: UInt8 { 2 }

    @inlinable static var slotUnused: UInt32 { 0 }
    @inlinable static var slotReserved: UInt32 { 1 }
    @inlinable static var slotAttached: UInt32 { 2 }
    @inlinable static var slotRetired: UInt32 { 3 }

    @inlinable static var claimFree: UInt32 { 0 }
    @inlinable static var claimProducer: UInt32 { 0xFFFF_FFFF }
    /// A claim held by a consumer is its pid: at most PID_MAX_LIMIT.
    @inlinable static var pidMax: UInt32 { 4_194_304 }
}
