import ChronetixCore
public import ChronetixSystem
public import Synchronization

/// The producing side of a ring: one per ring, in the node process that owns the edge's output.
///
/// Frames are written in place: ``reserve(capacity:timeout:)`` returns a writable view inside the ring and
/// ``commit(length:metadata:)`` publishes it (``send(_:metadata:timeout:)`` copies for convenience). Under
/// `block` the producer waits while the slowest consumer has no room; under `drop-oldest` and `latest` it
/// drops that consumer's oldest frames instead, counting each drop in the consumer's slot.
///
/// The hot path (room check, frame header, publication) is `@inlinable` and allocation-free; waiting,
/// dropping and waking are out of line. Its public entry points are `@inline(always)` (SE-0496):
/// `@inline(__always)` is only a hint, which the optimiser drops for functions the size of `send`, leaving
/// a call (and the producer's state in memory) in every client's loop.
// @safe: it owns the mapping its stored addresses point into; none of them is handed out except the
// reserved view, whose lifetime rule the API documents.
@safe
public struct RingProducer: ~Copyable {
    @usableFromInline let mapping: RingMapping
    @usableFromInline let header: UnsafeRingHeader
    @usableFromInline let data: UnsafeMutableRawPointer
    @usableFromInline let capacity: UInt64
    @usableFromInline let alignment: UInt64
    @usableFromInline let highWatermark: UInt64
    @usableFromInline let frameCapacity: UInt64
    @usableFromInline let maximumPayload: Int
    @usableFromInline let isLossy: Bool
    @usableFromInline let asymmetricBarrier: Bool
    let waitStrategy: WaitStrategy

    /// Bytes committed (this side's copy of `write_bytes`).
    @usableFromInline var write: UInt64
    /// Frames committed: the next frame's sequence number.
    @usableFromInline var frames: UInt64
    /// The slowest consumer's released counters as last read; re-read only when they say "no room".
    @usableFromInline var cachedReleasedBytes: UInt64
    @usableFromInline var cachedReleasedFrames: UInt64
    /// The reservation in progress: its frame's start counter and the bytes skipped before it; -1: none.
    @usableFromInline var reservedCapacity: Int
    @usableFromInline var reservedStart: UInt64
    @usableFromInline var reservedSkip: UInt64
    @usableFromInline var isClosed: Bool
    /// Whether frames were committed without being published (``commitWithoutPublishing(length:metadata:)``).
    @usableFromInline var hasUnpublishedFrames: Bool

    /// Counters of this side's waiting, for reports and benchmarks.
    public var statistics = WaitStatistics()

    /// Attaches as the producer of the ring `name`.
    ///
    /// A producer that attaches after a crashed one continues its stream: the write counter is where the last
    /// committed frame ended (an uncommitted reservation is simply never published), and the next sequence
    /// number follows the last committed frame's.
    /// - Parameters:
    ///   - name: The segment's name.
    ///   - waitStrategy: How to wait for room.
    /// - Throws: `RingError`: the validation failures of a hostile or corrupt header, `.producerAttached` when a
    ///   live producer is attached, `.streamClosed` when the stream already ended.
    public init(attachingTo name: String, waitStrategy: WaitStrategy = .adaptive) throws(RingError) {
        try self.init(mapping: RingMapping(name: name, writableData: true), waitStrategy: waitStrategy)
    }

    /// Attaches as the producer of an open segment (for example one received with SCM_RIGHTS).
    /// - Parameters:
    ///   - descriptor: The open segment; it may be closed after this returns.
    ///   - name: The segment's name, for errors and reports.
    ///   - waitStrategy: How to wait for room.
    /// - Throws: `RingError`, as ``init(attachingTo:waitStrategy:)``.
    public init(descriptor: borrowing FileDescriptor, name: String, waitStrategy: WaitStrategy = .adaptive) throws(RingError) {
        try self.init(
            mapping: RingMapping(descriptor: descriptor, name: name, writableData: true),
            waitStrategy: waitStrategy
        )
    }

    init(mapping: consuming RingMapping, waitStrategy: WaitStrategy) throws(RingError) {
        let header = unsafe mapping.header
        let geometry = mapping.geometry
        let name = mapping.name
        let me = ProcessIdentity.current
        if unsafe header.loadU32(RingLayout.Header.closed) != 0 {
            throw RingError(.streamClosed, segment: name, "the previous producer closed the stream")
        }
        let previousPID = unsafe header.loadI32(RingLayout.Header.producerPID)
        if previousPID != 0 {
            let previous = unsafe ProcessIdentity(
                pid: previousPID,
                startTime: header.loadU64(RingLayout.Header.producerStartTime)
            )
            if previous.isAlive {
                throw RingError(.producerAttached, segment: name, "producer \(previous) is attached and alive")
            }
        }
        // Pairs with the previous producer's releasing store in publish().
        let write = unsafe header.u64(RingLayout.Header.writeBytes).pointee.load(ordering: .acquiring)
        let frames = try unsafe RingProducer.nextSequence(
            header: header,
            data: UnsafeRawPointer(mapping.dataRegion.unsafeBase),
            geometry: geometry,
            write: write,
            name: name
        )

        unsafe self.header = unsafe header
        unsafe self.data = mapping.dataRegion.unsafeBase
        self.capacity = geometry.capacity
        self.alignment = geometry.alignment
        self.highWatermark = geometry.highWatermark
        self.frameCapacity = geometry.frameCapacity
        self.maximumPayload = Int(geometry.highWatermark / 2) - RingLayout.frameHeaderSize
        self.isLossy = geometry.policy != .block
        self.asymmetricBarrier = MemoryBarrier.isAsymmetric
        self.waitStrategy = waitStrategy
        self.mapping = mapping
        self.write = write
        self.frames = frames
        self.cachedReleasedBytes = write &- geometry.capacity
        self.cachedReleasedFrames = 0
        self.reservedCapacity = -1
        self.reservedStart = 0
        self.reservedSkip = 0
        self.isClosed = false
        self.hasUnpublishedFrames = false

        // Identity first, then the generation: a consumer that sees the new generation sees the new pid.
        unsafe header.u64(RingLayout.Header.writeFrames).pointee.store(frames, ordering: .relaxed)
        unsafe header.u64(RingLayout.Header.producerStartTime).pointee.store(me.startTime, ordering: .relaxed)
        unsafe header.u32(RingLayout.Header.producerPID).pointee.store(UInt32(bitPattern: me.pid), ordering: .relaxed)
        // Pairs with the consumers' acquiring loads of the generation in their liveness check.
        unsafe header.u64(RingLayout.Header.generation).pointee.wrappingAdd(1, ordering: .releasing)
    }

    /// The sequence number of the next frame: one past the last committed frame.
    ///
    /// `write_frames` is stored just before `write_bytes`, so a producer killed between the two stores leaves
    /// it one ahead. The frames still in the ring carry their own sequence numbers, so this walks them from
    /// the slowest consumer's released counter; when the ring is empty every consumer has released all, and
    /// a consumer stores `released_frames` before `released_bytes`, so its count is exact.
    static func nextSequence(
        header: UnsafeRingHeader,
        data: UnsafeRawPointer,
        geometry: RingGeometry,
        write: UInt64,
        name: String
    ) throws(RingError) -> UInt64 {
        if write == 0 { return 0 }
        var oldest: UInt64? = nil
        var caughtUpFrames: UInt64? = nil
        for index in 0..<geometry.consumerCount {
            let slot = unsafe UnsafeRingHeader.consumer(index)
            if unsafe header.u32(slot + RingLayout.Consumer.state).pointee.load(ordering: .acquiring) == RingLayout.slotRetired {
                continue
            }
            // Pairs with the consumers' releasing stores in release() (frames first, then bytes).
            let released = unsafe header.u64(slot + RingLayout.Consumer.releasedBytes).pointee.load(ordering: .acquiring)
            if released == write {
                caughtUpFrames = unsafe header.u64(slot + RingLayout.Consumer.releasedFrames).pointee.load(ordering: .acquiring)
            } else if oldest.map({ write &- released > write &- $0 }) ?? true {
                oldest = released
            }
        }
        guard let oldest else {
            // Empty for every consumer: a consumer that released everything stored its exact frame count first.
            return unsafe (caughtUpFrames ?? header.loadU64(RingLayout.Header.writeFrames))
        }
        let walker = unsafe FrameWalker(
            data: data,
            capacity: geometry.capacity,
            alignment: geometry.alignment,
            name: name
        )
        var position = oldest
        var first: UInt64? = nil
        var count: UInt64 = 0
        while position != write {
            let frame = try unsafe walker.frame(at: position, limit: write)
            if frame.isData {
                if first == nil { first = frame.sequence }
                count &+= 1
            }
            position &+= frame.advance
        }
        guard let first else { return unsafe (caughtUpFrames ?? header.loadU64(RingLayout.Header.writeFrames)) }
        return first &+ count
    }

    // MARK: - Hot path

    /// Whether the cached consumer counters leave room for `need` more bytes and one more frame.
    @inlinable @inline(always)
    func hasCachedRoom(_ need: UInt64) -> Bool {
        write &+ need &- cachedReleasedBytes <= highWatermark && frames &- cachedReleasedFrames < frameCapacity
    }

    /// Reserves room for a frame of up to `capacity` payload bytes without waiting.
    /// - Parameter capacity: The most payload bytes the frame will have.
    /// - Returns: A writable view of the payload inside the ring, or `nil` when the credits are spent.
    /// - Throws: `RingError` with `.frameTooLarge`, `.streamClosed`, or `.corruptHeader` when a consumer's counters
    ///   are impossible.
    /// - Warning: The view is valid until ``commit(length:metadata:)`` or ``abandonReservation()``.
    @inlinable @inline(always)
    public mutating func tryReserve(capacity length: Int) throws(RingError) -> UnsafeMutableRawBufferPointer? {
        precondition(reservedCapacity < 0, "reserve called again before commit or abandonReservation")
        guard length >= 0, length <= maximumPayload else { throw frameTooLarge(length) }
        let slot = RingIndex.slotSize(payloadLength: UInt64(length), alignment: alignment)
        let skip = RingIndex.skipBeforeFrame(write: write, slot: slot, capacity: capacity)
        if !hasCachedRoom(slot &+ skip) {
            guard try refreshRoom(need: slot &+ skip) else { return nil }
        }
        let start = write &+ skip
        reservedCapacity = length
        reservedStart = start
        reservedSkip = skip
        let frame = unsafe data + Int(start & (capacity &- 1))
        return unsafe UnsafeMutableRawBufferPointer(start: frame + RingLayout.frameHeaderSize, count: length)
    }

    /// Reserves room for a frame, waiting for credits up to `timeout`.
    /// - Parameters:
    ///   - length: The most payload bytes the frame will have.
    ///   - timeout: The longest wait; `nil` waits without limit.
    /// - Returns: A writable view of the payload in the ring, or `nil` when the timeout ran out.
    /// - Throws: `RingError`, as ``tryReserve(capacity:)``.
    /// - Warning: The view is valid until ``commit(length:metadata:)`` or ``abandonReservation()``.
    @inlinable @inline(always)
    public mutating func reserve(capacity length: Int, timeout: Duration? = nil) throws(RingError) -> UnsafeMutableRawBufferPointer? {
        if let buffer = try unsafe tryReserve(capacity: length) { return unsafe buffer }
        let slot = RingIndex.slotSize(payloadLength: UInt64(length), alignment: alignment)
        guard try waitForRoom(slot: slot, timeout: timeout) else { return nil }
        return try unsafe tryReserve(capacity: length)
    }

    /// Publishes the reserved frame with `length` payload bytes (at most the reserved capacity).
    /// - Parameters:
    ///   - length: The payload bytes written into the reserved view.
    ///   - metadata: The frame header's timestamp, deadline, priority, content type and flags.
    /// - Returns: The frame's sequence number.
    @inlinable @inline(always)
    @discardableResult
    public mutating func commit(length: Int, metadata: FrameMetadata = FrameMetadata()) -> UInt64 {
        let sequence = commitWithoutPublishing(length: length, metadata: metadata)
        publish()
        return sequence
    }

    /// Commits the reserved frame like ``commit(length:metadata:)`` but does not publish it yet: consumers see
    /// it with the next ``publish()`` or ``commit(length:metadata:)``, at ``close()``, and at the latest when this
    /// producer finds no room (it publishes before it waits or reports `nil`/`.wouldBlock`, so a consumer is never
    /// kept from frames it could release room for).
    ///
    /// Publishing once per batch saves the consumers one read of the write counter's cache line per frame.
    /// Frames committed but not yet published are lost if this process dies, like an uncommitted reservation.
    /// - Parameters:
    ///   - length: The payload bytes written into the reserved view.
    ///   - metadata: The frame header's timestamp, deadline, priority, content type and flags.
    /// - Returns: The frame's sequence number.
    @inlinable @inline(always)
    @discardableResult
    public mutating func commitWithoutPublishing(length: Int, metadata: FrameMetadata = FrameMetadata()) -> UInt64 {
        precondition(reservedCapacity >= 0, "commit without a reservation")
        precondition(length >= 0 && length <= reservedCapacity, "commit of \(length) bytes exceeds the reservation")
        let mask = capacity &- 1
        if reservedSkip >= UInt64(RingLayout.frameHeaderSize) {
            // A pad frame fills the tail; a tail shorter than a frame header is skipped by rule, unmarked.
            let pad = unsafe data + Int(write & mask)
            unsafe pad.storeBytes(of: UInt32(truncatingIfNeeded: reservedSkip) &- UInt32(RingLayout.frameHeaderSize), toByteOffset: RingLayout.Frame.length, as: UInt32.self)
            unsafe pad.storeBytes(of: RingLayout.frameKindPad, toByteOffset: RingLayout.Frame.kind, as: UInt8.self)
        }
        let frame = unsafe data + Int(reservedStart & mask)
        let sequence = frames
        unsafe frame.storeBytes(of: UInt32(truncatingIfNeeded: length), toByteOffset: RingLayout.Frame.length, as: UInt32.self)
        unsafe frame.storeBytes(of: RingLayout.frameKindData, toByteOffset: RingLayout.Frame.kind, as: UInt8.self)
        unsafe frame.storeBytes(of: metadata.priority, toByteOffset: RingLayout.Frame.priority, as: UInt8.self)
        unsafe frame.storeBytes(of: metadata.flags, toByteOffset: RingLayout.Frame.flags, as: UInt8.self)
        unsafe frame.storeBytes(of: metadata.contentType, toByteOffset: RingLayout.Frame.contentType, as: UInt8.self)
        unsafe frame.storeBytes(of: sequence, toByteOffset: RingLayout.Frame.sequence, as: UInt64.self)
        unsafe frame.storeBytes(of: metadata.timestampNanoseconds, toByteOffset: RingLayout.Frame.timestamp, as: Int64.self)
        unsafe frame.storeBytes(of: metadata.deadlineNanoseconds, toByteOffset: RingLayout.Frame.deadline, as: Int64.self)
        write = reservedStart &+ RingIndex.slotSize(payloadLength: UInt64(length), alignment: alignment)
        frames = sequence &+ 1
        reservedCapacity = -1
        hasUnpublishedFrames = true
        return sequence
    }

    /// Gives up the reservation: nothing is published and the room is reused by the next frame.
    public mutating func abandonReservation() {
        reservedCapacity = -1
    }

    /// Copies `bytes` into the ring as one frame, waiting for credits up to `timeout`.
    /// - Parameters:
    ///   - bytes: The payload.
    ///   - metadata: The frame's metadata.
    ///   - timeout: The longest wait; `nil` waits without limit, `.zero` never waits.
    /// - Returns: `.sent` with the sequence number, or `.wouldBlock` when the timeout ran out.
    /// - Throws: `RingError`, as ``tryReserve(capacity:)``.
    @inlinable @inline(always)
    public mutating func send(
        _ bytes: UnsafeRawBufferPointer,
        metadata: FrameMetadata = FrameMetadata(),
        timeout: Duration? = nil
    ) throws(RingError) -> SendResult {
        // The room check first: `Duration` comparisons are calls into the standard library, so the timeout is
        // looked at only when there is no room (`reserve` would start with the same check).
        var buffer = try unsafe tryReserve(capacity: bytes.count)
        if unsafe buffer == nil, timeout != .zero {
            let slot = RingIndex.slotSize(payloadLength: UInt64(bytes.count), alignment: alignment)
            if try waitForRoom(slot: slot, timeout: timeout) {
                unsafe buffer = try unsafe tryReserve(capacity: bytes.count)
            }
        }
        guard let buffer = unsafe buffer else {
            statistics.wouldBlock &+= 1
            return .wouldBlock
        }
        if let source = bytes.baseAddress, bytes.count > 0 {
            unsafe buffer.baseAddress!.copyMemory(from: source, byteCount: bytes.count)
        }
        return .sent(sequenceNumber: commit(length: bytes.count, metadata: metadata))
    }

    /// Copies `bytes` into the ring as one frame if there is room now; never waits.
    /// - Parameters:
    ///   - bytes: The payload.
    ///   - metadata: The frame's metadata.
    /// - Returns: `.sent` with the sequence number, or `.wouldBlock` when the credits are spent.
    /// - Throws: `RingError`, as ``tryReserve(capacity:)``.
    @inlinable
    public mutating func trySend(_ bytes: UnsafeRawBufferPointer, metadata: FrameMetadata = FrameMetadata()) throws(RingError) -> SendResult {
        try unsafe send(bytes, metadata: metadata, timeout: .zero)
    }

    /// Makes every committed frame visible to the consumers and wakes those asleep waiting for data.
    /// ``commit(length:metadata:)`` does this for each frame; call it after frames committed with
    /// ``commitWithoutPublishing(length:metadata:)``.
    @inlinable @inline(always)
    public mutating func publish() {
        hasUnpublishedFrames = false
        // Informational (reports, and the next producer's sequence after a crash): relaxed, ordered by the next store.
        unsafe header.u64(RingLayout.Header.writeFrames).pointee.store(frames, ordering: .relaxed)
        // Pairs with the consumers' acquiring loads of write_bytes: the frame bytes above are visible with it.
        unsafe header.u64(RingLayout.Header.writeBytes).pointee.store(write, ordering: .releasing)
        // StoreLoad between publishing and checking for sleepers: see MemoryBarrier and ring-protocol.md.
        MemoryBarrier.lightBarrier(asymmetric: asymmetricBarrier)
        // Relaxed: the barrier above orders it; a stale 0 is impossible by the barrier protocol, a stale 1
        // costs one spurious wake.
        if unsafe header.u32(RingLayout.Header.consumersWaiting).pointee.load(ordering: .relaxed) != 0 {
            wakeConsumers()
        }
    }

    @usableFromInline
    func frameTooLarge(_ length: Int) -> RingError {
        RingError(.frameTooLarge, segment: mapping.name, "a frame of \(length) bytes exceeds the ring's maximum payload \(maximumPayload)")
    }

    // MARK: - Slow path

    /// Wakes every consumer sleeping for data, once per announcement.
    @usableFromInline
    mutating func wakeConsumers() {
        // acq_rel exchange: only one publisher-side wake per announcement; consumers never clear the flag
        // themselves (another consumer may still sleep), so this is the only store of 0.
        if unsafe header.u32(RingLayout.Header.consumersWaiting).pointee.exchange(0, ordering: .acquiringAndReleasing) != 0 {
            // Releasing: a consumer that reads the new futex value also sees the published write counter.
            unsafe header.u32(RingLayout.Header.dataFutex).pointee.wrappingAdd(1, ordering: .releasing)
            unsafe Futex.wake(on: header.futexWord(RingLayout.Header.dataFutex), count: Int32.max)
            statistics.wakes &+= 1
        }
    }

    /// Re-reads every consumer's released counters; under a lossy policy drops the oldest frames of each
    /// consumer that is short of room. Returns whether `need` bytes and one frame now fit.
    @usableFromInline
    mutating func refreshRoom(need: UInt64) throws(RingError) -> Bool {
        guard !isClosed else { throw RingError(.streamClosed, segment: mapping.name, "the producer closed the stream") }
        // Consumers can release room only for frames they see: never look for room (or wait, or drop) with
        // frames committed but unpublished.
        if hasUnpublishedFrames { publish() }
        try readConsumerCounters()
        if hasCachedRoom(need) { return true }
        guard isLossy else { return false }
        for index in 0..<mapping.geometry.consumerCount {
            try dropOldest(consumer: index, need: need)
        }
        try readConsumerCounters()
        return hasCachedRoom(need)
    }

    /// Loads the slowest consumer's released bytes and frames into the cache.
    @usableFromInline
    mutating func readConsumerCounters() throws(RingError) {
        var slowestBytes = write
        var slowestFrames = frames
        for index in 0..<mapping.geometry.consumerCount {
            let slot = unsafe UnsafeRingHeader.consumer(index)
            // Pairs with RingSegment.retireConsumer's releasing store.
            if unsafe header.u32(slot + RingLayout.Consumer.state).pointee.load(ordering: .acquiring) == RingLayout.slotRetired {
                continue
            }
            // Pairs with the consumer's releasing stores in release(): the frames before it are read.
            let releasedBytes = unsafe header.u64(slot + RingLayout.Consumer.releasedBytes).pointee.load(ordering: .acquiring)
            let releasedFrames = unsafe header.u64(slot + RingLayout.Consumer.releasedFrames).pointee.load(ordering: .acquiring)
            guard let used = RingIndex.used(write: write, released: releasedBytes, capacity: capacity),
                releasedBytes % alignment == 0
            else {
                throw RingError(
                    .corruptHeader,
                    segment: mapping.name,
                    "consumers[\(index)].released_bytes is \(releasedBytes) with write_bytes \(write)"
                )
            }
            if used > write &- slowestBytes { slowestBytes = releasedBytes }
            // A consumer killed between its two stores may be ahead by its last batch; never trust it beyond frames.
            let framesUsed = frames &- min(releasedFrames, frames)
            if framesUsed > frames &- slowestFrames { slowestFrames = frames &- framesUsed }
        }
        cachedReleasedBytes = slowestBytes
        cachedReleasedFrames = slowestFrames
    }

    /// Drops consumer `index`'s oldest frames until `need` bytes and a frame fit, if the consumer holds no
    /// borrowed frames (its claim word is free). Each dropped frame is counted in its `drops`.
    @usableFromInline
    mutating func dropOldest(consumer index: Int, need: UInt64) throws(RingError) {
        let slot = unsafe UnsafeRingHeader.consumer(index)
        if unsafe header.u32(slot + RingLayout.Consumer.state).pointee.load(ordering: .acquiring) == RingLayout.slotRetired {
            return
        }
        let claim = unsafe header.u32(slot + RingLayout.Consumer.claim)
        // Acquiring: pairs with the consumer's releasing store of CLAIM_FREE, after which its counters are final.
        guard unsafe claim.pointee.compareExchange(
            expected: RingLayout.claimFree,
            desired: RingLayout.claimProducer,
            ordering: .acquiring
        ).exchanged else {
            try breakClaimOfDeadConsumer(index)
            return
        }
        // Relaxed: while the claim is held only this side writes the slot's counters.
        var releasedBytes = unsafe header.u64(slot + RingLayout.Consumer.releasedBytes).pointee.load(ordering: .relaxed)
        let originalReleasedBytes = releasedBytes
        var releasedFrames = unsafe header.u64(slot + RingLayout.Consumer.releasedFrames).pointee.load(ordering: .relaxed)
        let walker = unsafe FrameWalker(data: UnsafeRawPointer(data), capacity: capacity, alignment: alignment, name: mapping.name)
        var dropped: UInt64 = 0
        var failure: RingError? = nil
        while releasedBytes != write
            && !(write &+ need &- releasedBytes <= highWatermark && frames &- releasedFrames < frameCapacity)
        {
            let frame: WalkedFrame
            do {
                frame = try unsafe walker.frame(at: releasedBytes, limit: write)
            } catch {
                failure = error
                break
            }
            releasedBytes &+= frame.advance
            if frame.isData {
                releasedFrames = frame.sequence &+ 1
                dropped &+= 1
            }
        }
        if releasedBytes != originalReleasedBytes {
            // Skipping a pad alone moves the counter without dropping a frame.
            let drops = unsafe header.u64(slot + RingLayout.Consumer.drops)
            unsafe drops.pointee.store(drops.pointee.load(ordering: .relaxed) &+ dropped, ordering: .relaxed)
            unsafe header.u64(slot + RingLayout.Consumer.releasedFrames).pointee.store(releasedFrames, ordering: .relaxed)
            unsafe header.u64(slot + RingLayout.Consumer.releasedBytes).pointee.store(releasedBytes, ordering: .relaxed)
            statistics.drops &+= dropped
        }
        // Releasing: publishes the counters above to the consumer's acquiring compare-exchange.
        unsafe claim.pointee.store(RingLayout.claimFree, ordering: .releasing)
        if let failure { throw failure }
    }

    /// A consumer that died while holding borrowed frames never frees its claim: free it for it.
    /// Its unreleased frames stay in the ring and are delivered again when a consumer re-attaches.
    @usableFromInline
    func breakClaimOfDeadConsumer(_ index: Int) throws(RingError) {
        let slot = unsafe UnsafeRingHeader.consumer(index)
        let claim = unsafe header.u32(slot + RingLayout.Consumer.claim)
        // Acquiring: pairs with the holder's releasing stores; the value is the holder's pid.
        let holder = unsafe claim.pointee.load(ordering: .acquiring)
        guard holder != RingLayout.claimFree, holder != RingLayout.claimProducer else { return }
        // The slot's attached process: if it is the holder, the holder is gone only if that process is. If it is
        // another pid, a successor attached, which it can do only after the holder died.
        let attached = unsafe header.u32(slot + RingLayout.Consumer.pid).pointee.load(ordering: .acquiring)
        if attached == holder {
            let process = unsafe ProcessIdentity(
                pid: Int32(bitPattern: holder),
                startTime: header.loadU64(slot + RingLayout.Consumer.startTime)
            )
            guard !process.isAlive else { return }
        }
        // Expected: the dead holder's pid, so a successor that took the claim over meanwhile keeps it.
        _ = unsafe claim.pointee.compareExchange(
            expected: holder,
            desired: RingLayout.claimFree,
            ordering: .acquiringAndReleasing
        )  // fails only if a successor took the claim over first: then it is that successor's, as it should be
    }

    /// Waits until a frame of `slot` bytes fits, or the timeout runs out. Returns whether it fits.
    @usableFromInline
    mutating func waitForRoom(slot: UInt64, timeout: Duration?) throws(RingError) -> Bool {
        let need = slot &+ RingIndex.skipBeforeFrame(write: write, slot: slot, capacity: capacity)
        statistics.stalls &+= 1
        if waitStrategy.spinNanoseconds != 0 {
            // A streaming consumer usually releases room within a few hundred nanoseconds: look for it before
            // paying for the clock (the spin budget and the timeout start after these few spins).
            for _ in 0..<RingWaiting.spinsBeforeClock {
                if try refreshRoom(need: need) { return true }
                CPU.relax()
            }
        }
        let start = Clock.monotonicNanoseconds()
        let limit = RingWaiting.limit(after: start, timeout: timeout)
        var spins: UInt64 = 0
        while true {
            if try refreshRoom(need: need) { return true }
            let now = Clock.monotonicNanoseconds()
            if let limit, now >= limit { return false }
            if let spin = waitStrategy.spinNanoseconds, now &- start >= spin {
                if try sleepForRoom(need: need, until: limit) { return true }
                continue
            }
            spins &+= 1
            if spins & 0xFF == 0 { try checkLossyClaims() }
            CPU.relax()
        }
    }

    /// One sleep on the space futex: announce, re-check, sleep at most 100 ms. Returns whether room appeared.
    @usableFromInline
    mutating func sleepForRoom(need: UInt64, until limit: UInt64?) throws(RingError) -> Bool {
        let futex = unsafe header.u32(RingLayout.Header.spaceFutex)
        // Acquiring: pairs with the waker's releasing increment; a changed value means "re-check".
        let seen = unsafe futex.pointee.load(ordering: .acquiring)
        // Hysteresis: a consumer wakes this producer only once usage fell to the low watermark (or the frame
        // fits); under lossy policies at any release, since the producer can drop once a claim is free.
        let low = mapping.geometry.lowWatermark
        var wakeAtBytes: UInt64 = 0
        var wakeAtFrames: UInt64 = 0
        if !isLossy {
            let forFrame = write &+ need &- highWatermark
            let forLow = write >= low ? write &- low : 0
            wakeAtBytes = write &+ need > highWatermark ? max(forFrame, forLow) : forLow
            if frameCapacity != .max {
                let forFrameCredit = frames &+ 1 > frameCapacity ? frames &+ 1 &- frameCapacity : 0
                let forLowFrames = frames >= frameCapacity / 2 ? frames &- frameCapacity / 2 : 0
                wakeAtFrames = max(forFrameCredit, forLowFrames)
            }
        }
        // Relaxed: published by the sequentially consistent store of producer_waiting below.
        unsafe header.u64(RingLayout.Header.wakeAtBytes).pointee.store(wakeAtBytes, ordering: .relaxed)
        unsafe header.u64(RingLayout.Header.wakeAtFrames).pointee.store(wakeAtFrames, ordering: .relaxed)
        unsafe header.u32(RingLayout.Header.producerWaiting).pointee.store(1, ordering: .sequentiallyConsistent)
        MemoryBarrier.heavyBarrier(asymmetric: asymmetricBarrier)
        if try refreshRoom(need: need) {
            unsafe header.u32(RingLayout.Header.producerWaiting).pointee.store(0, ordering: .relaxed)
            return true
        }
        guard let slice = RingWaiting.sleepNanoseconds(until: limit) else {
            // Timed out before sleeping: withdraw the announcement, or every release would try to wake a producer
            // that is no longer waiting. Relaxed, as after the sleep below.
            unsafe header.u32(RingLayout.Header.producerWaiting).pointee.store(0, ordering: .relaxed)
            return false
        }
        statistics.sleeps &+= 1
        let result = unsafe Futex.wait(on: header.futexWord(RingLayout.Header.spaceFutex), expected: seen, timeoutNanoseconds: slice)
        // Relaxed: only this producer sleeps on the space futex, so clearing its own flag races with nobody
        // but a waker's exchange, which clears it too.
        unsafe header.u32(RingLayout.Header.producerWaiting).pointee.store(0, ordering: .relaxed)
        if result == .timedOut {
            statistics.timeouts &+= 1
            try checkLossyClaims()
        }
        return try refreshRoom(need: need)
    }

    /// Under lossy policies, frees the claims of consumers that died holding borrowed frames.
    @usableFromInline
    func checkLossyClaims() throws(RingError) {
        guard isLossy else { return }
        for index in 0..<mapping.geometry.consumerCount {
            let claim = unsafe header.u32(UnsafeRingHeader.consumer(index) + RingLayout.Consumer.claim).pointee.load(ordering: .relaxed)
            if claim != RingLayout.claimFree && claim != RingLayout.claimProducer { try breakClaimOfDeadConsumer(index) }
        }
    }

    // MARK: - End of stream

    /// Ends the stream: consumers receive every frame committed so far, then end of stream.
    public mutating func close() {
        guard !isClosed else { return }
        if hasUnpublishedFrames { publish() }
        isClosed = true
        reservedCapacity = -1
        // Poison the cache so the next reservation takes the slow path, which reports the closed stream.
        cachedReleasedBytes = write &- capacity &- 1
        // Pairs with the consumers' acquiring load of `closed` after they find the ring empty.
        unsafe header.u32(RingLayout.Header.closed).pointee.store(1, ordering: .releasing)
        // Wake every sleeper unconditionally: end of stream is rare and must never be slept through.
        unsafe header.u32(RingLayout.Header.dataFutex).pointee.wrappingAdd(1, ordering: .releasing)
        unsafe Futex.wake(on: header.futexWord(RingLayout.Header.dataFutex), count: Int32.max)
    }

    /// A snapshot of the ring's counters.
    public func status() -> RingStatus { unsafe RingStatus(header: header) }

    /// The segment's name.
    public var name: String { mapping.name }

    deinit {
        guard !isClosed else { return }
        if hasUnpublishedFrames {
            // Deliver what was committed, as publish() would (same stores, same orderings); no wake is needed,
            // the unconditional one below wakes every sleeper.
            unsafe header.u64(RingLayout.Header.writeFrames).pointee.store(frames, ordering: .relaxed)
            unsafe header.u64(RingLayout.Header.writeBytes).pointee.store(write, ordering: .releasing)
        }
        // Detached without closing: consumers see "producer gone" instead of waiting for more.
        unsafe header.u32(RingLayout.Header.producerPID).pointee.store(0, ordering: .releasing)
        unsafe header.u32(RingLayout.Header.dataFutex).pointee.wrappingAdd(1, ordering: .releasing)
        unsafe Futex.wake(on: header.futexWord(RingLayout.Header.dataFutex), count: Int32.max)
    }
}

/// How often one side of a ring had to wait, for reports and benchmarks.
public struct WaitStatistics: Hashable, Sendable {
    /// Times an operation found no credits (or no data) and had to wait.
    public var stalls: UInt64 = 0
    /// Futex sleeps.
    public var sleeps: UInt64 = 0
    /// Sleeps that ended by their 100 ms safety timeout (a lost wake-up would show up here).
    public var timeouts: UInt64 = 0
    /// Futex wakes issued to the other side.
    public var wakes: UInt64 = 0
    /// `trySend`/`send` calls that returned `.wouldBlock`.
    public var wouldBlock: UInt64 = 0
    /// Frames this producer dropped (lossy policies), summed over consumers.
    public var drops: UInt64 = 0

    /// All zero.
    public init() {}
}
