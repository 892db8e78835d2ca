public import ChronetixSystem
import Synchronization

/// A snapshot of a ring's counters, read without stopping either side (each field is read atomically;
/// the set is not one instant). For reports, tests and `chronetix gc`.
public struct RingStatus: Hashable, Sendable {
    /// One consumer slot.
    public struct Consumer: Hashable, Sendable {
        /// `reserved` (no process attached), `attached` or `retired`.
        public var state: State
        /// The attached process, when there is one.
        public var process: ProcessIdentity?
        /// Bytes released (the consumer's credit in bytes).
        public var releasedBytes: UInt64
        /// Frames released: the next sequence number it has not released.
        public var releasedFrames: UInt64
        /// Frames handed to the node (released or not).
        public var readFrames: UInt64
        /// Frames dropped for this consumer by the drop-oldest or latest policy.
        public var drops: UInt64
        /// Frames delivered again after a re-attach.
        public var duplicates: UInt64
        /// How many times a process attached to this slot.
        public var attachCount: UInt64
    }

    /// A consumer slot's state.
    public enum State: Hashable, Sendable {
        case reserved, attached, retired, unknown(UInt32)
    }

    /// Bytes committed by the producer.
    public var writeBytes: UInt64
    /// Frames committed by the producer.
    public var writeFrames: UInt64
    /// How many times a producer attached.
    public var generation: UInt64
    /// The producer process, when one is attached.
    public var producer: ProcessIdentity?
    /// Whether the producer closed the stream.
    public var isClosed: Bool
    /// The process that created the segment.
    public var owner: ProcessIdentity
    /// The consumer slots in use.
    public var consumers: [Consumer]

    init(header: UnsafeRingHeader) {
        // Relaxed loads throughout: a report needs each counter's value, not an ordering between them.
        writeBytes = unsafe header.u64(RingLayout.Header.writeBytes).pointee.load(ordering: .relaxed)
        writeFrames = unsafe header.loadU64(RingLayout.Header.writeFrames)
        generation = unsafe header.loadU64(RingLayout.Header.generation)
        let producerPID = unsafe header.loadI32(RingLayout.Header.producerPID)
        producer = unsafe producerPID == 0
            ? nil : ProcessIdentity(pid: producerPID, startTime: header.loadU64(RingLayout.Header.producerStartTime))
        isClosed = unsafe header.loadU32(RingLayout.Header.closed) != 0
        owner = unsafe ProcessIdentity(
            pid: header.loadI32(RingLayout.Header.ownerPID),
            startTime: header.loadU64(RingLayout.Header.ownerStartTime)
        )
        let count = min(Int(unsafe header.loadU32(RingLayout.Header.consumerCount)), RingLayout.maxConsumers)
        consumers = (0..<count).map { index in
            let slot = unsafe UnsafeRingHeader.consumer(index)
            let raw = unsafe header.loadU32(slot + RingLayout.Consumer.state)
            let state: State =
                switch raw {
                case RingLayout.slotReserved: .reserved
                case RingLayout.slotAttached: .attached
                case RingLayout.slotRetired: .retired
                default: .unknown(raw)
                }
            let pid = unsafe header.loadI32(slot + RingLayout.Consumer.pid)
            return unsafe Consumer(
                state: state,
                process: pid == 0 ? nil : ProcessIdentity(pid: pid, startTime: header.loadU64(slot + RingLayout.Consumer.startTime)),
                releasedBytes: header.loadU64(slot + RingLayout.Consumer.releasedBytes),
                releasedFrames: header.loadU64(slot + RingLayout.Consumer.releasedFrames),
                readFrames: header.loadU64(slot + RingLayout.Consumer.readFrames),
                drops: header.loadU64(slot + RingLayout.Consumer.drops),
                duplicates: header.loadU64(slot + RingLayout.Consumer.duplicates),
                attachCount: header.loadU64(slot + RingLayout.Consumer.attachCount)
            )
        }
    }
}
