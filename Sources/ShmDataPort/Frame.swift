/// What travels in a frame's header besides its payload.
public struct FrameMetadata: Hashable, Sendable {
    /// `CLOCK_MONOTONIC` nanoseconds when the frame was made; 0 when not stamped.
    public var timestampNanoseconds: Int64
    /// `CLOCK_MONOTONIC` nanoseconds by which it should be consumed; 0 for no deadline.
    public var deadlineNanoseconds: Int64
    /// The QoS class, 0 (best effort) to 3 (realtime).
    public var priority: UInt8
    /// The payload's content-type id (`ContentType.wireIdentifier`).
    public var contentType: UInt8
    /// Runtime flags; 0 today.
    public var flags: UInt8

    /// Creates metadata; every field defaults to "none".
    @inlinable
    public init(
        timestampNanoseconds: Int64 = 0,
        deadlineNanoseconds: Int64 = 0,
        priority: UInt8 = 1,
        contentType: UInt8 = 0,
        flags: UInt8 = 0
    ) {
        self.timestampNanoseconds = timestampNanoseconds
        self.deadlineNanoseconds = deadlineNanoseconds
        self.priority = priority
        self.contentType = contentType
        self.flags = flags
    }

    /// The metadata fields of the frame header at `base` (``RingLayout/Frame``): the one reader of them, for
    /// consumers and taps alike.
    /// - Warning: `base` must point at a whole frame header inside the mapped data area (the frame walker
    ///   checked it).
    @inlinable
    @unsafe
    init(frameHeaderAt base: UnsafeRawPointer) {
        unsafe self.init(
            timestampNanoseconds: base.load(fromByteOffset: RingLayout.Frame.timestamp, as: Int64.self),
            deadlineNanoseconds: base.load(fromByteOffset: RingLayout.Frame.deadline, as: Int64.self),
            priority: base.load(fromByteOffset: RingLayout.Frame.priority, as: UInt8.self),
            contentType: base.load(fromByteOffset: RingLayout.Frame.contentType, as: UInt8.self),
            flags: base.load(fromByteOffset: RingLayout.Frame.flags, as: UInt8.self)
        )
    }
}

/// A received frame, read in place in the ring.
///
/// - Warning: `payload` points into shared memory and is valid only until the consumer's next
///   `release()` (or until the consumer goes away). Copy what must outlive that.
@unsafe
public struct UnsafeRingFrame {
    /// The payload bytes, read-only.
    public let payload: UnsafeRawBufferPointer
    /// The frame's sequence number: data frames are numbered from 0 by the producer, without gaps.
    public let sequenceNumber: UInt64
    /// The frame's metadata.
    public let metadata: FrameMetadata

    @inlinable
    init(payload: UnsafeRawBufferPointer, sequenceNumber: UInt64, metadata: FrameMetadata) {
        unsafe self.payload = payload
        unsafe self.sequenceNumber = sequenceNumber
        unsafe self.metadata = metadata
    }
}

/// How a side of the ring waits when it cannot go on (no data, or no room).
public struct WaitStrategy: Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds to spin before sleeping; `nil` never sleeps.
    public var spinNanoseconds: UInt64?

    /// Spin only: the lowest latency, at the price of a busy core while waiting. Checks the peer's liveness
    /// and the timeout as it spins.
    public static let spin = WaitStrategy(spinNanoseconds: nil)
    /// Sleep on the futex at once: no CPU while waiting, a wake-up (tens of microseconds) per wait.
    public static let sleep = WaitStrategy(spinNanoseconds: 0)
    /// Spin for 20 µs, then sleep: spin latency under steady traffic, no CPU when idle. The default.
    public static let adaptive = WaitStrategy(spinNanoseconds: 20_000)

    /// Spin for `nanoseconds`, then sleep.
    /// - Parameter nanoseconds: The spin budget.
    /// - Returns: The strategy.
    public static func adaptive(spinNanoseconds nanoseconds: UInt64) -> WaitStrategy {
        WaitStrategy(spinNanoseconds: nanoseconds)
    }

    /// `spin`, `sleep` or `adaptive(20µs)`.
    public var description: String {
        guard let spinNanoseconds else { return "spin" }
        if spinNanoseconds == 0 { return "sleep" }
        return "adaptive(\(spinNanoseconds / 1000)µs)"
    }
}

/// The outcome of a send that may not wait forever.
public enum SendResult: Hashable, Sendable {
    /// The frame was committed with this sequence number.
    case sent(sequenceNumber: UInt64)
    /// No room (the credits are spent) before the timeout; nothing was written.
    case wouldBlock
}
