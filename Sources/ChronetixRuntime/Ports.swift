internal import ChronetixCore
internal import ChronetixNodes
internal import ChronetixSystem
internal import Histogram
internal import ShmDataPort
internal import Synchronization

/// Why a worker stops before its node's natural end.
struct WorkerAbort: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// An output port: the producing side of one edge's ring, behind a class so that a ``FrameOutput`` (a
/// copyable value the node borrows) can reach the non-copyable producer.
///
/// A frame is reserved in the ring, lent to the node as a `MutableRawSpan`, and committed with the run's
/// metadata: the timestamp the runtime set for the frame being made, the deadline `timestamp + budget`,
/// the edge's priority and content type. Frames are published in batches (``publish()``), and always
/// before the producer waits for room.
final class OutputPort {
    let binding: WorkerAssignment.OutputBinding
    // @exclusivity(unchecked) on the per-frame state of the ports: one thread uses a port at a time (the
    // worker's, or a process node's output reader), so the dynamic exclusivity checks of class properties,
    // about a tenth of a 64-byte frame's cost, buy nothing here.
    @exclusivity(unchecked) private var producer: RingProducer
    /// Called while the ring has no room (every 20 ms): services the bus, throws when the run must end.
    /// Replaced when another thread than the session's writes the port (a process node's output reader).
    var whileWaiting: () throws -> Void
    private let contentCode: UInt8
    private let priority: UInt8
    /// The timestamp of the frame being made (monotonic nanoseconds).
    @exclusivity(unchecked) var timestamp: Int64 = 0
    @exclusivity(unchecked) private(set) var frames: UInt64 = 0
    @exclusivity(unchecked) private(set) var bytes: UInt64 = 0
    /// Set when a thread other than the worker's writes the port (a process node's output reader): the
    /// periodic metrics snapshots, taken on the worker's thread, read ``sharedFrames`` and ``sharedBytes``
    /// (which that thread stores after each frame) instead of the plain counters.
    var isWrittenByAnotherThread = false
    /// Copies of `frames` and `bytes` for another thread to read (``shareCounters()``).
    let sharedFrames = Atomic<UInt64>(0)
    let sharedBytes = Atomic<UInt64>(0)

    init(binding: WorkerAssignment.OutputBinding, whileWaiting: @escaping () throws -> Void) throws(RingError) {
        self.binding = binding
        self.whileWaiting = whileWaiting
        producer = try RingProducer(attachingTo: binding.ring)
        contentCode = binding.contentType.wireCode
        priority = binding.priority.rawValue
    }

    func emit(capacity: Int, _ body: (inout MutableRawSpan) throws -> Int) throws {
        try emitBytes(capacity: capacity) { reserved in
            // Safe: the reservation is valid until commit or abandon, after this closure; the span does not
            // escape `body`.
            var span = unsafe MutableRawSpan(_unsafeBytes: reserved)
            return try body(&span)
        }
    }

    /// ``emit(capacity:_:)`` for the runtime's own writers (a process node's output reader, which reads a
    /// pipe straight into the ring): `body` gets the reserved bytes themselves and must not keep them.
    @inline(__always)
    func emitBytes(capacity: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Int) throws {
        var reserved: UnsafeMutableRawBufferPointer?
        while true {
            reserved = try unsafe producer.reserve(capacity: capacity, timeout: .milliseconds(20))
            if unsafe reserved != nil { break }
            try whileWaiting()
        }
        let written: Int
        do {
            written = try unsafe body(reserved!)
        } catch {
            producer.abandonReservation()
            throw error
        }
        precondition(written >= 0 && written <= capacity, "a node wrote \(written) bytes into a frame of \(capacity)")
        let deadline = binding.deadlineNanoseconds == 0 ? 0 : timestamp &+ Int64(binding.deadlineNanoseconds)
        producer.commitWithoutPublishing(
            length: written,
            metadata: FrameMetadata(
                timestampNanoseconds: timestamp,
                deadlineNanoseconds: deadline,
                priority: priority,
                contentType: contentCode
            )
        )
        frames &+= 1
        bytes &+= UInt64(written)
    }

    /// Times the producer waited for room (credit stalls) or found none without waiting (`WouldBlock`).
    var creditStalls: UInt64 { producer.statistics.stalls &+ producer.statistics.wouldBlock }

    /// Makes every committed frame visible to the consumers.
    func publish() { producer.publish() }

    /// Makes the counters readable by the worker's thread while another thread writes the port: two relaxed
    /// stores (a snapshot may lag a frame behind; it never reads a torn value).
    @inline(__always)
    func shareCounters() {
        sharedFrames.store(frames, ordering: .relaxed)
        sharedBytes.store(bytes, ordering: .relaxed)
    }

    /// Ends the stream: the consumers receive every frame, then end of stream.
    func close() { producer.close() }
}

/// The ``FrameOutput`` a node writes into: its single output port, or none (a sink's, which throws).
struct PortOutput: FrameOutput {
    /// Unowned and unchecked: the worker's session owns its ports for the whole run, longer than any
    /// `PortOutput` lent to a node; a strong reference would cost a retain and a release per frame (catalogue
    /// nodes call `emit` through the protocol, from another module).
    unowned(unsafe) let port: OutputPort?
    let node: String

    mutating func emit(capacity: Int, _ body: (inout MutableRawSpan) throws -> Int) throws {
        guard let port else { throw NodeError(node, "this node has no output to emit to") }
        try port.emit(capacity: capacity, body)
    }
}

/// An input port: one consumer slot of the producing node's ring, with the edge's figures on this side
/// (frames, bytes, deadline misses, late frames dropped, latency from the frame's timestamp).
final class InputPort {
    let binding: WorkerAssignment.InputBinding
    let index: Int
    let contentType: ContentType
    /// The node's `on_late: drop`: a frame received after its deadline is counted, not handed to the node.
    let dropsLateFrames: Bool
    @exclusivity(unchecked) var consumer: RingConsumer
    @exclusivity(unchecked) private(set) var frames: UInt64 = 0
    @exclusivity(unchecked) private(set) var bytes: UInt64 = 0
    @exclusivity(unchecked) private(set) var deadlineMisses: UInt64 = 0
    /// Late frames not handed to the node (``dropsLateFrames``); each is also a deadline miss.
    @exclusivity(unchecked) private(set) var lateDrops: UInt64 = 0
    /// Nanoseconds from a frame's timestamp to its receipt, 1 ns to 100 s at 2 significant digits.
    @exclusivity(unchecked) private(set) var latency = Histogram<UInt64>(highestTrackableValue: 100_000_000_000, numberOfSignificantValueDigits: .two)
    @exclusivity(unchecked) var isEnded = false
    /// The ring's producer died or detached without ending its stream: the coordinator restarts it (and the
    /// replacement continues the stream) or ends the stream for it. Until then the input has no frames.
    @exclusivity(unchecked) var upstreamDown = false
    /// Frames received this turn and not yet released (until what they made is published).
    @exclusivity(unchecked) var holdsBatch = false

    init(
        binding: WorkerAssignment.InputBinding, index: Int, contentType: ContentType, onLate: LatePolicy = .process
    ) throws(RingError) {
        self.binding = binding
        self.index = index
        self.contentType = contentType
        dropsLateFrames = onLate == .drop
        consumer = try RingConsumer(attachingTo: binding.ring, slot: binding.slot)
    }

    /// Counts a received frame; whether it arrived after its deadline.
    @inline(__always)
    func account(payloadBytes: Int, timestamp: Int64, deadline: Int64, now: Int64) -> Bool {
        frames &+= 1
        bytes &+= UInt64(payloadBytes)
        if now > timestamp { latency.record(UInt64(now - timestamp)) } else { latency.record(0) }
        guard deadline != 0, now > deadline else { return false }
        deadlineMisses &+= 1
        return true
    }

    /// Counts a late frame dropped under `on_late: drop` (after ``account(payloadBytes:timestamp:deadline:now:)``).
    @inline(__always)
    func countLateDrop() { lateDrops &+= 1 }

    /// Handles an error from the input's ring: a producer gone (it crashed, or ended without closing because
    /// it may be restarted) marks the input as waiting for the coordinator; anything else fails the node.
    func producerGone(_ error: RingError, session: WorkerSession) throws {
        guard error.code == .producerGone else {
            throw NodeError(session.node.id, "input \(binding.port) (\(binding.edge)): \(error)")
        }
        if !upstreamDown { session.log("input \(binding.port) (\(binding.edge)): \(error.description); waiting for a restart or the end of the stream") }
        upstreamDown = true
    }

    func report() -> InputReport {
        InputReport(
            port: binding.port,
            edge: binding.edge,
            slot: binding.slot,
            frames: frames,
            bytes: bytes,
            duplicates: consumer.resumedDuplicates,
            deadlineMisses: deadlineMisses,
            lateDrops: lateDrops,
            latencyP50: frames == 0 ? 0 : latency.valueAtPercentile(50),
            latencyP95: frames == 0 ? 0 : latency.valueAtPercentile(95),
            latencyP99: frames == 0 ? 0 : latency.valueAtPercentile(99)
        )
    }
}
