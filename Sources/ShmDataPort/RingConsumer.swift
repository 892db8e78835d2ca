import ChronetixCore
public import ChronetixSystem
public import Synchronization

/// What a receive found.
@unsafe
public enum ReceiveResult {
    /// A frame, valid until the consumer's next `release()`.
    case frame(UnsafeRingFrame)
    /// No frame now (or before the timeout ran out).
    case wouldBlock
    /// The producer closed the stream and every frame has been received.
    case endOfStream
}

/// The consuming side of a ring: one per consumer slot (the edge's fan-out), in the node process that
/// reads the edge.
///
/// Frames are read in place: ``receive(timeout:)`` returns a read-only view into the ring, valid until
/// ``release()``, which returns the room (the credits) to the producer. A consumer killed and attached again
/// resumes at its last released frame: frames it had received but not released are delivered again and
/// counted as duplicates; none is lost.
///
/// The hot path (``tryReceive()``, ``receive(timeout:)``, ``release()``) is `@inline(always)`, as the
/// producer's is, so that it becomes part of the client's loop; waiting and waking are out of line.
// @safe: it owns the mapping its stored addresses point into; frames handed out are `UnsafeRingFrame`s.
@safe
public struct RingConsumer: ~Copyable {
    @usableFromInline let mapping: RingMapping
    @usableFromInline let header: UnsafeRingHeader
    @usableFromInline let walker: FrameWalker
    @usableFromInline let capacity: UInt64
    @usableFromInline let slot: Int
    @usableFromInline let isLossy: Bool
    @usableFromInline let isLatest: Bool
    @usableFromInline let asymmetricBarrier: Bool
    /// The value this consumer stores in its slot's claim word: its pid.
    @usableFromInline let claimTag: UInt32
    let waitStrategy: WaitStrategy
    /// This consumer's slot in the ring (its index in the edge's fan-out).
    public let slotIndex: Int
    /// Frames that had been received but not released by this slot's previous process, and so are
    /// delivered again after this attach.
    public let resumedDuplicates: UInt64

    /// The next frame's start (byte counter).
    @usableFromInline var cursor: UInt64
    /// The released byte counter as last stored.
    @usableFromInline var released: UInt64
    /// Frames received (or skipped under `latest`): the next expected sequence number.
    @usableFromInline var readFrames: UInt64
    /// The producer's write counter as last read; re-read only when the cursor reaches it.
    @usableFromInline var cachedWrite: UInt64
    /// Whether this consumer holds its slot's claim word (lossy policies only).
    @usableFromInline var holdsClaim: Bool

    /// Counters of this side's waiting, for reports and benchmarks.
    public var statistics = WaitStatistics()

    /// Attaches to consumer slot `slot` of the ring `name`.
    /// - Parameters:
    ///   - name: The segment's name.
    ///   - slot: The consumer's index in the edge's fan-out.
    ///   - waitStrategy: How to wait for data.
    /// - Throws: `RingError`: the validation failures of a hostile or corrupt header, `.slotOutOfRange`,
    ///   `.slotInUse` when another live process holds the slot, `.slotRetired`.
    public init(attachingTo name: String, slot: Int = 0, waitStrategy: WaitStrategy = .adaptive) throws(RingError) {
        try self.init(mapping: RingMapping(name: name, writableData: false), slot: slot, waitStrategy: waitStrategy)
    }

    /// Attaches to consumer slot `slot` of an open segment (for example one received with SCM_RIGHTS).
    /// - Parameters:
    ///   - descriptor: The open segment; it may be closed after this returns.
    ///   - name: The segment's name, for errors and reports.
    ///   - slot: The consumer's index in the edge's fan-out.
    ///   - waitStrategy: How to wait for data.
    /// - Throws: `RingError`, as ``init(attachingTo:slot:waitStrategy:)``.
    public init(
        descriptor: borrowing FileDescriptor,
        name: String,
        slot: Int = 0,
        waitStrategy: WaitStrategy = .adaptive
    ) throws(RingError) {
        try self.init(
            mapping: RingMapping(descriptor: descriptor, name: name, writableData: false),
            slot: slot,
            waitStrategy: waitStrategy
        )
    }

    init(mapping: consuming RingMapping, slot index: Int, waitStrategy: WaitStrategy) throws(RingError) {
        let header = unsafe mapping.header
        let geometry = mapping.geometry
        let name = mapping.name
        guard (0..<geometry.consumerCount).contains(index) else {
            throw RingError(.slotOutOfRange, segment: name, "consumer slot \(index) of a ring with \(geometry.consumerCount)")
        }
        let slot = unsafe UnsafeRingHeader.consumer(index)
        let me = ProcessIdentity.current
        let state = unsafe header.u32(slot + RingLayout.Consumer.state).pointee.load(ordering: .acquiring)
        if state == RingLayout.slotRetired {
            throw RingError(.slotRetired, segment: name, "consumer slot \(index) was retired from the fan-out")
        }
        // Claim the slot's pid word: two processes racing for one slot cannot both win.
        let pidWord = unsafe header.u32(slot + RingLayout.Consumer.pid)
        let previousPID = unsafe pidWord.pointee.load(ordering: .acquiring)
        if previousPID != 0 {
            let previous = unsafe ProcessIdentity(
                pid: Int32(bitPattern: previousPID),
                startTime: header.loadU64(slot + RingLayout.Consumer.startTime)
            )
            if previous.isAlive {
                throw RingError(.slotInUse, segment: name, "consumer slot \(index) is held by live \(previous)")
            }
        }
        guard unsafe pidWord.pointee.compareExchange(
            expected: previousPID,
            desired: UInt32(bitPattern: me.pid),
            ordering: .acquiringAndReleasing
        ).exchanged else {
            throw RingError(.slotInUse, segment: name, "another process attached to consumer slot \(index) at the same time")
        }
        var isAttached = false
        defer {
            // Attaching failed after the slot was won (a corrupt frame found while repairing the counters): give
            // the slot back, or it would read as held by this live process until it exits.
            if !isAttached { unsafe pidWord.pointee.store(0, ordering: .releasing) }
        }
        unsafe header.u64(slot + RingLayout.Consumer.startTime).pointee.store(me.startTime, ordering: .relaxed)

        let walker = unsafe FrameWalker(
            data: UnsafeRawPointer(mapping.dataRegion.unsafeBase),
            capacity: geometry.capacity,
            alignment: geometry.alignment,
            name: name
        )
        let claim = unsafe header.u32(slot + RingLayout.Consumer.claim)
        let isLossy = geometry.policy != .block
        if isLossy {
            // The producer moves this slot's released counters (and overwrites the frames it dropped) while it
            // holds the claim: take it before reading, walking and rewriting them below, or a drop in between is
            // undone by the stores below. A claim held by another pid was left by a predecessor that died holding
            // borrowed frames (this process won the pid word, so the predecessor is gone): it is this process's now.
            while true {
                // Acquiring: pairs with the producer's releasing store of CLAIM_FREE after it moved the counters.
                let current = unsafe claim.pointee.load(ordering: .acquiring)
                if current != RingLayout.claimProducer,
                    unsafe claim.pointee.compareExchange(
                        expected: current,
                        desired: UInt32(bitPattern: me.pid),
                        ordering: .acquiringAndReleasing
                    ).exchanged
                {
                    break
                }
                CPU.relax()  // the producer is dropping frames: a few instructions per frame
            }
        } else {
            // Unused under block; clear whatever a predecessor left.
            unsafe claim.pointee.store(RingLayout.claimFree, ordering: .releasing)
        }
        defer {
            // Once the counters below are rewritten (or attaching failed on the way): releasing, it publishes
            // them to the producer's acquiring compare-exchange.
            if isLossy { unsafe claim.pointee.store(RingLayout.claimFree, ordering: .releasing) }
        }
        // Pairs with the producer's releasing store in publish().
        let write = unsafe header.u64(RingLayout.Header.writeBytes).pointee.load(ordering: .acquiring)
        // Pairs with the previous consumer's (or a dropping producer's) releasing stores.
        let releasedBytes = unsafe header.u64(slot + RingLayout.Consumer.releasedBytes).pointee.load(ordering: .acquiring)
        var releasedFrames = unsafe header.u64(slot + RingLayout.Consumer.releasedFrames).pointee.load(ordering: .acquiring)
        guard RingIndex.used(write: write, released: releasedBytes, capacity: geometry.capacity) != nil else {
            throw RingError(.corruptHeader, segment: name, "consumers[\(index)].released_bytes \(releasedBytes) with write_bytes \(write)")
        }
        // A consumer killed between storing released_frames and released_bytes left the frame count ahead:
        // the first unreleased frame's own sequence number is the truth.
        var position = releasedBytes
        while position != write {
            let frame = try unsafe walker.frame(at: position, limit: write)
            if frame.isData {
                releasedFrames = frame.sequence
                break
            }
            position &+= frame.advance
        }
        let attachCount = unsafe header.loadU64(slot + RingLayout.Consumer.attachCount)
        let previousRead = unsafe header.loadU64(slot + RingLayout.Consumer.readFrames)
        let duplicates = attachCount > 0 && previousRead > releasedFrames ? previousRead - releasedFrames : 0
        // Relaxed: this slot's line B is written only by its attached consumer, which is now this process.
        let duplicatesField = unsafe header.u64(slot + RingLayout.Consumer.duplicates)
        unsafe duplicatesField.pointee.store(duplicatesField.pointee.load(ordering: .relaxed) &+ duplicates, ordering: .relaxed)
        unsafe header.u64(slot + RingLayout.Consumer.readBytes).pointee.store(releasedBytes, ordering: .relaxed)
        unsafe header.u64(slot + RingLayout.Consumer.readFrames).pointee.store(releasedFrames, ordering: .relaxed)
        unsafe header.u64(slot + RingLayout.Consumer.attachCount).pointee.store(attachCount &+ 1, ordering: .relaxed)
        unsafe header.u64(slot + RingLayout.Consumer.releasedFrames).pointee.store(releasedFrames, ordering: .releasing)
        // Releasing: a reader of the state sees the identity above.
        unsafe header.u32(slot + RingLayout.Consumer.state).pointee.store(RingLayout.slotAttached, ordering: .releasing)

        unsafe self.header = unsafe header
        unsafe self.walker = unsafe walker
        self.capacity = geometry.capacity
        self.slot = slot
        self.slotIndex = index
        self.isLossy = isLossy
        self.isLatest = geometry.policy == .latest
        self.asymmetricBarrier = MemoryBarrier.isAsymmetric
        self.claimTag = UInt32(bitPattern: me.pid)
        self.waitStrategy = waitStrategy
        self.resumedDuplicates = duplicates
        self.mapping = mapping
        self.cursor = releasedBytes
        self.released = releasedBytes
        self.readFrames = releasedFrames
        self.cachedWrite = releasedBytes
        self.holdsClaim = false
        isAttached = true
    }

    // MARK: - Hot path

    /// Receives the next frame if one is there; never waits.
    /// - Returns: The frame (valid until ``release()``), or `nil` when the ring is empty for this consumer.
    /// - Throws: `RingError` with `.corruptFrame` or `.corruptHeader` when the producer's data is impossible.
    @inlinable @inline(always)
    public mutating func tryReceive() throws(RingError) -> UnsafeRingFrame? {
        if isLossy && !holdsClaim { acquireClaim() }
        while true {
            if cursor == cachedWrite {
                // Pairs with the producer's releasing store in publish(): frames before it are complete.
                cachedWrite = unsafe header.u64(RingLayout.Header.writeBytes).pointee.load(ordering: .acquiring)
                if cursor == cachedWrite {
                    if holdsClaim && cursor == released { freeClaim() }
                    return nil
                }
                guard RingIndex.used(write: cachedWrite, released: cursor, capacity: capacity) != nil else {
                    throw writeCounterOutOfRange()
                }
            }
            if isLatest && cursor == released { try skipToNewest() }
            let frame = try unsafe walker.frame(at: cursor, limit: cachedWrite)
            cursor &+= frame.advance
            guard frame.isData else { continue }
            guard frame.sequence == readFrames else { throw sequenceMismatch(frame.sequence) }
            readFrames &+= 1
            // Relaxed: line B is this consumer's own; it is read only for reports and by a successor after
            // this process died (the kernel orders a dead process's stores before its successor starts).
            unsafe header.u64(slot + RingLayout.Consumer.readFrames).pointee.store(readFrames, ordering: .relaxed)
            let base = unsafe walker.data + frame.offset
            let metadata = unsafe FrameMetadata(frameHeaderAt: UnsafeRawPointer(base))
            let payload = unsafe UnsafeRawBufferPointer(start: base + RingLayout.frameHeaderSize, count: frame.length)
            return unsafe UnsafeRingFrame(payload: payload, sequenceNumber: frame.sequence, metadata: metadata)
        }
    }

    /// Receives the next frame, waiting up to `timeout`.
    /// - Parameter timeout: The longest wait; `nil` waits without limit, `.zero` never waits.
    /// - Returns: `.frame`, `.wouldBlock` when the timeout ran out, or `.endOfStream`.
    /// - Throws: `RingError` with `.producerGone` when the producer died or detached without closing the
    ///   stream and every committed frame has been received; `.corruptFrame` or `.corruptHeader` for
    ///   impossible data.
    @inlinable @inline(always)
    public mutating func receive(timeout: Duration? = nil) throws(RingError) -> ReceiveResult {
        while true {
            if let frame = try unsafe tryReceive() { return unsafe .frame(frame) }
            if try isEndOfStream() { return unsafe .endOfStream }
            // `Duration` comparisons are calls into the standard library: skipped when there is no timeout.
            if timeout != nil, timeout == .zero { return unsafe .wouldBlock }
            guard try waitForData(timeout: timeout) else { return unsafe .wouldBlock }
        }
    }

    /// Returns every frame received so far to the producer (its credits); their views become invalid.
    @inlinable @inline(always)
    public mutating func release() {
        if cursor != released {
            // Frames first, then bytes (the order ring-protocol.md relies on after a crash); both pair with the
            // producer's acquiring loads in its room check.
            unsafe header.u64(slot + RingLayout.Consumer.releasedFrames).pointee.store(readFrames, ordering: .releasing)
            unsafe header.u64(slot + RingLayout.Consumer.releasedBytes).pointee.store(cursor, ordering: .releasing)
            // Relaxed: line B is this consumer's own, read only for reports (as read_frames in tryReceive). Kept
            // current here, once per release rather than per frame: what was handed out is now released.
            unsafe header.u64(slot + RingLayout.Consumer.readBytes).pointee.store(cursor, ordering: .relaxed)
            released = cursor
        }
        if holdsClaim { freeClaim() }
        MemoryBarrier.lightBarrier(asymmetric: asymmetricBarrier)
        // Relaxed: the barrier orders it after the stores above (see MemoryBarrier); wakeProducerIfDue re-reads
        // it with acquiring ordering before it trusts the wake-at marks.
        if unsafe header.u32(RingLayout.Header.producerWaiting).pointee.load(ordering: .relaxed) != 0 {
            wakeProducerIfDue()
        }
    }

    /// Receives up to `maxFrames` frames (waiting up to `timeout` for the first), hands each to `body`, then
    /// releases them all.
    /// - Parameters:
    ///   - maxFrames: The most frames in the batch.
    ///   - timeout: The longest wait for the first frame.
    ///   - body: Called with each frame; the view is valid only during the call.
    /// - Returns: How many frames were handled, and whether the stream has ended.
    /// - Throws: `RingError`, as ``receive(timeout:)``.
    @inlinable
    public mutating func receiveBatch(
        maxFrames: Int,
        timeout: Duration? = nil,
        _ body: (UnsafeRingFrame) -> Void
    ) throws(RingError) -> (count: Int, endOfStream: Bool) {
        var count = 0
        switch unsafe try receive(timeout: timeout) {
        case .frame(let frame):
            unsafe body(frame)
            count = 1
        case .wouldBlock: return (0, false)
        case .endOfStream: return (0, true)
        }
        while count < maxFrames, let frame = try unsafe tryReceive() {
            unsafe body(frame)
            count += 1
        }
        release()
        return (count, false)
    }

    // MARK: - Slow path

    @usableFromInline
    func writeCounterOutOfRange() -> RingError {
        RingError(.corruptHeader, segment: mapping.name, "write_bytes \(cachedWrite) is out of range for a reader at \(cursor) and capacity \(capacity)")
    }

    @usableFromInline
    func sequenceMismatch(_ sequence: UInt64) -> RingError {
        RingError(.corruptFrame, segment: mapping.name, "frame sequence number \(sequence) where \(readFrames) was expected")
    }

    /// Takes the slot's claim word (lossy policies): from now until ``release()`` the producer will not drop
    /// this consumer's frames. Picks up the counters the producer moved while dropping.
    @usableFromInline
    mutating func acquireClaim() {
        let claim = unsafe header.u32(slot + RingLayout.Consumer.claim)
        while true {
            // Acquiring: pairs with the producer's releasing store of CLAIM_FREE after it moved the counters.
            if unsafe claim.pointee.compareExchange(
                expected: RingLayout.claimFree,
                desired: claimTag,
                ordering: .acquiring
            ).exchanged {
                break
            }
            // The producer is dropping frames: a few instructions per frame.
            CPU.relax()
        }
        holdsClaim = true
        // Relaxed: ordered by the acquiring compare-exchange above; while the claim is held nobody else writes them.
        let releasedBytes = unsafe header.u64(slot + RingLayout.Consumer.releasedBytes).pointee.load(ordering: .relaxed)
        if releasedBytes != released {
            // The producer dropped frames at the head of this consumer's queue.
            released = releasedBytes
            cursor = releasedBytes
            cachedWrite = releasedBytes  // stale now: the next look reloads the producer's counter
            readFrames = unsafe header.u64(slot + RingLayout.Consumer.releasedFrames).pointee.load(ordering: .relaxed)
            unsafe header.u64(slot + RingLayout.Consumer.readFrames).pointee.store(readFrames, ordering: .relaxed)
            unsafe header.u64(slot + RingLayout.Consumer.readBytes).pointee.store(cursor, ordering: .relaxed)
        }
    }

    @usableFromInline
    mutating func freeClaim() {
        // Releasing: publishes this consumer's counters to the producer's acquiring compare-exchange.
        unsafe header.u32(slot + RingLayout.Consumer.claim).pointee.store(RingLayout.claimFree, ordering: .releasing)
        holdsClaim = false
    }

    /// Under `latest`, with nothing borrowed: drops every complete frame but the newest, counted as drops and
    /// released at once.
    @usableFromInline
    mutating func skipToNewest() throws(RingError) {
        var position = cursor
        var newest = cursor
        var newestSequence: UInt64 = 0
        var count: UInt64 = 0
        while position != cachedWrite {
            let frame = try unsafe walker.frame(at: position, limit: cachedWrite)
            if frame.isData {
                newest = position
                newestSequence = frame.sequence
                count &+= 1
            }
            position &+= frame.advance
        }
        guard count > 1 else { return }
        let skipped = count &- 1
        cursor = newest
        readFrames = newestSequence
        released = newest
        let drops = unsafe header.u64(slot + RingLayout.Consumer.drops)
        // Relaxed stores under the claim (this consumer holds it), published by its releasing free; the
        // released counters are releasing as in release().
        unsafe drops.pointee.store(drops.pointee.load(ordering: .relaxed) &+ skipped, ordering: .relaxed)
        unsafe header.u64(slot + RingLayout.Consumer.readFrames).pointee.store(readFrames, ordering: .relaxed)
        unsafe header.u64(slot + RingLayout.Consumer.readBytes).pointee.store(newest, ordering: .relaxed)
        unsafe header.u64(slot + RingLayout.Consumer.releasedFrames).pointee.store(readFrames, ordering: .releasing)
        unsafe header.u64(slot + RingLayout.Consumer.releasedBytes).pointee.store(newest, ordering: .releasing)
        statistics.drops &+= skipped
    }

    /// Wakes the producer if it sleeps for room and this consumer's release reached its wake-at marks.
    @usableFromInline
    mutating func wakeProducerIfDue() {
        let waiting = unsafe header.u32(RingLayout.Header.producerWaiting)
        // Acquiring: pairs with the producer's sequentially consistent store of the flag, after its wake-at marks.
        guard unsafe waiting.pointee.load(ordering: .acquiring) != 0 else { return }
        let atBytes = unsafe header.u64(RingLayout.Header.wakeAtBytes).pointee.load(ordering: .relaxed)
        let atFrames = unsafe header.u64(RingLayout.Header.wakeAtFrames).pointee.load(ordering: .relaxed)
        guard released >= atBytes, readFrames >= atFrames else { return }
        if unsafe waiting.pointee.exchange(0, ordering: .acquiringAndReleasing) != 0 {
            // Releasing: the producer that reads the new futex value sees the released counters.
            unsafe header.u32(RingLayout.Header.spaceFutex).pointee.wrappingAdd(1, ordering: .releasing)
            unsafe Futex.wake(on: header.futexWord(RingLayout.Header.spaceFutex), count: 1)
            statistics.wakes &+= 1
        }
    }

    /// Whether the producer closed the stream and every frame has been received.
    @usableFromInline
    mutating func isEndOfStream() throws(RingError) -> Bool {
        // Pairs with the producer's releasing store in close(): its last publication happened before.
        guard unsafe header.u32(RingLayout.Header.closed).pointee.load(ordering: .acquiring) != 0 else { return false }
        cachedWrite = unsafe header.u64(RingLayout.Header.writeBytes).pointee.load(ordering: .acquiring)
        return cursor == cachedWrite
    }

    /// Whether there is something to look at: new frames, or the end of the stream.
    @usableFromInline
    func hasNews() -> Bool {
        // Acquiring: pairs with the producer's releasing stores in publish() and close().
        unsafe header.u64(RingLayout.Header.writeBytes).pointee.load(ordering: .acquiring) != cursor
            || header.u32(RingLayout.Header.closed).pointee.load(ordering: .acquiring) != 0
    }

    /// Throws `.producerGone` if a producer attached and is now dead or detached without closing the stream.
    @usableFromInline
    func checkProducer() throws(RingError) {
        // Acquiring: pairs with the producer's releasing increment after it wrote its identity.
        guard unsafe header.u64(RingLayout.Header.generation).pointee.load(ordering: .acquiring) > 0 else { return }
        if unsafe header.u32(RingLayout.Header.closed).pointee.load(ordering: .acquiring) != 0 { return }
        let pid = unsafe header.u32(RingLayout.Header.producerPID).pointee.load(ordering: .acquiring)
        let producer = unsafe ProcessIdentity(
            pid: Int32(bitPattern: pid),
            startTime: header.loadU64(RingLayout.Header.producerStartTime)
        )
        if pid == 0 || !producer.isAlive {
            if hasNews() { return }  // it published (or closed) just before it went: deliver that first
            throw RingError(
                .producerGone,
                segment: mapping.name,
                pid == 0 ? "the producer detached without closing the stream" : "producer \(producer) died without closing the stream"
            )
        }
    }

    /// Waits until there is news (frames or end of stream) or the timeout runs out. Returns whether there is news.
    @usableFromInline
    mutating func waitForData(timeout: Duration?) throws(RingError) -> Bool {
        statistics.stalls &+= 1
        if waitStrategy.spinNanoseconds != 0 {
            // Under steady traffic the next frame is usually a few hundred nanoseconds away: look for it before
            // paying for the clock (the spin budget and the timeout start after these few spins).
            for _ in 0..<RingWaiting.spinsBeforeClock {
                if hasNews() { return true }
                CPU.relax()
            }
        }
        let start = Clock.monotonicNanoseconds()
        let limit = RingWaiting.limit(after: start, timeout: timeout)
        var lastCheck = start
        var spins: UInt64 = 0
        while true {
            if hasNews() { return true }
            spins &+= 1
            if spins & 0x3FF == 0 || waitStrategy.spinNanoseconds == 0 {
                let now = Clock.monotonicNanoseconds()
                if let limit, now >= limit { return false }
                if now &- lastCheck >= RingWaiting.livenessIntervalNanoseconds {
                    lastCheck = now
                    try checkProducer()
                }
                if let spin = waitStrategy.spinNanoseconds, now &- start >= spin {
                    if try sleepForData(until: limit) { return true }
                    lastCheck = Clock.monotonicNanoseconds()
                    continue
                }
            }
            CPU.relax()
        }
    }

    /// One sleep on the data futex: announce, re-check, sleep at most 100 ms. Returns whether there is news.
    @usableFromInline
    mutating func sleepForData(until limit: UInt64?) throws(RingError) -> Bool {
        if holdsClaim && cursor == released { freeClaim() }  // never hold the claim while asleep with nothing borrowed
        let futex = unsafe header.u32(RingLayout.Header.dataFutex)
        // Acquiring: pairs with the producer's releasing increment in wakeConsumers() and close().
        let seen = unsafe futex.pointee.load(ordering: .acquiring)
        // Sequentially consistent, then the heavy barrier: see MemoryBarrier. Only the producer clears the flag.
        unsafe header.u32(RingLayout.Header.consumersWaiting).pointee.store(1, ordering: .sequentiallyConsistent)
        MemoryBarrier.heavyBarrier(asymmetric: asymmetricBarrier)
        if hasNews() { return true }
        guard let slice = RingWaiting.sleepNanoseconds(until: limit) else { return false }
        statistics.sleeps &+= 1
        if unsafe Futex.wait(on: header.futexWord(RingLayout.Header.dataFutex), expected: seen, timeoutNanoseconds: slice) == .timedOut {
            statistics.timeouts &+= 1
            try checkProducer()
        }
        return hasNews()
    }

    /// A snapshot of the ring's counters.
    public func status() -> RingStatus { unsafe RingStatus(header: header) }

    /// The segment's name.
    public var name: String { mapping.name }

    /// Leaves the slot for a successor; frames received but not released will be delivered to it again.
    deinit {
        if holdsClaim {
            unsafe header.u32(slot + RingLayout.Consumer.claim).pointee.store(RingLayout.claimFree, ordering: .releasing)
        }
        unsafe header.u32(slot + RingLayout.Consumer.state).pointee.store(RingLayout.slotReserved, ordering: .releasing)
        unsafe header.u32(slot + RingLayout.Consumer.pid).pointee.store(0, ordering: .releasing)
    }
}
