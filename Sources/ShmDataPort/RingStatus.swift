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
        /// The read position: the byte counter of the next frame, as of the consumer's last release (or attach).
        public var readBytes: UInt64
        /// Frames handed to the node (released or not), and under the lossy policies the frames dropped before
        /// them: the next sequence number this consumer expects.
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
    public var isClosed: Bool { closedFlag != 0 }
    /// The `closed` word as stored: 0 or 1 from any correct writer.
    public var closedFlag: UInt32
    /// The process that created the segment.
    public var owner: ProcessIdentity
    /// The consumer slots in use.
    public var consumers: [Consumer]

    init(header: UnsafeRingHeader) { unsafe self.init(fields: header) }

    // Relaxed loads throughout (UnsafeRingHeader's loadU64 and friends): a report needs each counter's value,
    // not an ordering between them.
    init(fields header: some RingHeaderFields) {
        writeBytes = header.loadU64(RingLayout.Header.writeBytes)
        writeFrames = header.loadU64(RingLayout.Header.writeFrames)
        generation = header.loadU64(RingLayout.Header.generation)
        let producerPID = header.loadI32(RingLayout.Header.producerPID)
        producer = producerPID == 0
            ? nil : ProcessIdentity(pid: producerPID, startTime: header.loadU64(RingLayout.Header.producerStartTime))
        closedFlag = header.loadU32(RingLayout.Header.closed)
        owner = ProcessIdentity(
            pid: header.loadI32(RingLayout.Header.ownerPID),
            startTime: header.loadU64(RingLayout.Header.ownerStartTime)
        )
        let count = min(Int(header.loadU32(RingLayout.Header.consumerCount)), RingLayout.maxConsumers)
        consumers = (0..<count).map { index in
            let slot = unsafe UnsafeRingHeader.consumer(index)
            let raw = header.loadU32(slot + RingLayout.Consumer.state)
            let state: State =
                switch raw {
                case RingLayout.slotReserved: .reserved
                case RingLayout.slotAttached: .attached
                case RingLayout.slotRetired: .retired
                default: .unknown(raw)
                }
            let pid = header.loadI32(slot + RingLayout.Consumer.pid)
            return Consumer(
                state: state,
                process: pid == 0 ? nil : ProcessIdentity(pid: pid, startTime: header.loadU64(slot + RingLayout.Consumer.startTime)),
                releasedBytes: header.loadU64(slot + RingLayout.Consumer.releasedBytes),
                releasedFrames: header.loadU64(slot + RingLayout.Consumer.releasedFrames),
                readBytes: header.loadU64(slot + RingLayout.Consumer.readBytes),
                readFrames: header.loadU64(slot + RingLayout.Consumer.readFrames),
                drops: header.loadU64(slot + RingLayout.Consumer.drops),
                duplicates: header.loadU64(slot + RingLayout.Consumer.duplicates),
                attachCount: header.loadU64(slot + RingLayout.Consumer.attachCount)
            )
        }
    }
}
