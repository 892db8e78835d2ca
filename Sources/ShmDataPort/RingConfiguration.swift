public import ChronetixCore

/// How a ring is laid out and behaves; fixed when its creator makes the segment.
public struct RingConfiguration: Hashable, Sendable {
    /// Bytes in the data area: a power of two from 4 KiB to 1 GiB.
    public var dataCapacity: Int
    /// How many consumers read every frame (the edge's fan-out), 1 to 16.
    public var consumerCount: Int
    /// What the producer does when a consumer has no room left.
    public var policy: QueuePolicy
    /// Every frame starts at a multiple of this: 8, 16, 32 or 64. Payloads are aligned to it up to 32.
    public var frameAlignment: Int
    /// Credits in frames: the most frames any one consumer may have unreleased (`nil`: bounded by bytes only).
    public var frameCapacity: UInt64?
    /// Bytes in use at which the producer stops (`nil`: the whole data area).
    public var highWatermark: Int?
    /// Bytes in use at which a stopped producer is woken again (`nil`: half the high watermark).
    public var lowWatermark: Int?

    /// Creates a configuration.
    /// - Parameters:
    ///   - dataCapacity: Bytes in the data area; a power of two from 4 KiB to 1 GiB.
    ///   - consumerCount: The fan-out, 1 to 16.
    ///   - policy: `block` (default), `drop-oldest` or `latest`.
    ///   - frameAlignment: 8 (default), 16, 32 or 64.
    ///   - frameCapacity: The most unreleased frames per consumer, or `nil`.
    ///   - highWatermark: Bytes in use at which the producer stops, or `nil` for the capacity.
    ///   - lowWatermark: Bytes in use at which it is woken, or `nil` for half the high watermark.
    public init(
        dataCapacity: Int,
        consumerCount: Int = 1,
        policy: QueuePolicy = .block,
        frameAlignment: Int = 8,
        frameCapacity: UInt64? = nil,
        highWatermark: Int? = nil,
        lowWatermark: Int? = nil
    ) {
        self.dataCapacity = dataCapacity
        self.consumerCount = consumerCount
        self.policy = policy
        self.frameAlignment = frameAlignment
        self.frameCapacity = frameCapacity
        self.highWatermark = highWatermark
        self.lowWatermark = lowWatermark
    }

    /// The smallest valid capacity that holds `frames` frames of `payload` bytes: a power of two, at least 4 KiB.
    /// - Parameters:
    ///   - frames: How many frames must fit at once.
    ///   - payload: The payload size of each.
    ///   - frameAlignment: The alignment the ring will use.
    /// - Returns: A capacity for ``dataCapacity``.
    public static func capacity(forFrames frames: Int, ofPayload payload: Int, frameAlignment: Int = 8) -> Int {
        let slot = RingIndex.slotSize(payloadLength: UInt64(payload), alignment: UInt64(frameAlignment))
        var capacity = RingLimits.minDataCapacity
        // The extra slot leaves room for the pad at the end of the data area.
        while capacity < Int(slot) * (frames + 1) && capacity < RingLimits.maxDataCapacity { capacity <<= 1 }
        return capacity
    }

    /// The largest payload one frame may carry: half the high watermark less a frame header, so that a frame
    /// always fits after the pad that precedes it at the end of the data area.
    public var maximumPayload: Int {
        (highWatermark ?? dataCapacity) / 2 - RingLayout.frameHeaderSize
    }

    /// The segment's total size: the header page and the data area.
    public var segmentSize: Int { RingLayout.headerSize + dataCapacity }

    /// Checks every field and returns the first problem, described for a person.
    public func validationFailure() -> String? {
        if dataCapacity < RingLimits.minDataCapacity || dataCapacity > RingLimits.maxDataCapacity
            || dataCapacity & (dataCapacity - 1) != 0
        {
            return "data capacity \(dataCapacity) is not a power of two between 4 KiB and 1 GiB"
        }
        if !(1...RingLimits.maxConsumers).contains(consumerCount) {
            return "consumer count \(consumerCount) is not between 1 and \(RingLimits.maxConsumers)"
        }
        if ![8, 16, 32, 64].contains(frameAlignment) {
            return "frame alignment \(frameAlignment) is not 8, 16, 32 or 64"
        }
        if let frameCapacity, frameCapacity == 0 { return "frame capacity must be at least 1" }
        let high = highWatermark ?? dataCapacity
        if high < 2 * (RingLayout.frameHeaderSize + frameAlignment) || high > dataCapacity {
            return "high watermark \(high) is not between \(2 * (RingLayout.frameHeaderSize + frameAlignment)) and the capacity \(dataCapacity)"
        }
        let low = lowWatermark ?? high / 2
        if low < 0 || low >= high { return "low watermark \(low) is not below the high watermark \(high)" }
        return nil
    }
}

/// The ring's index arithmetic: pure functions of free-running counters, tested without a kernel.
@usableFromInline
enum RingIndex {
    /// The bytes a frame occupies: its header and payload, rounded up to the alignment.
    @inlinable
    static func slotSize(payloadLength: UInt64, alignment: UInt64) -> UInt64 {
        (UInt64(RingLayout.frameHeaderSize) &+ payloadLength &+ alignment &- 1) & ~(alignment &- 1)
    }

    /// Where a frame of `slot` bytes goes when the write counter is `write`: the bytes skipped at the end of
    /// the data area first (0 when the frame fits before the end), so a frame never wraps.
    @inlinable
    static func skipBeforeFrame(write: UInt64, slot: UInt64, capacity: UInt64) -> UInt64 {
        let offset = write & (capacity &- 1)
        let contiguous = capacity &- offset
        return contiguous < slot ? contiguous : 0
    }

    /// Bytes in use for a consumer whose released counter is `released`, or `nil` if the two counters cannot
    /// both be right (released ahead of written, or further behind than the capacity: a corrupt header).
    @inlinable
    static func used(write: UInt64, released: UInt64, capacity: UInt64) -> UInt64? {
        let used = write &- released
        return used <= capacity ? used : nil
    }
}
