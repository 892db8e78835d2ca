import ChronetixSystem
import Synchronization

/// A passive reader of a ring: it sees the frames passing on an edge without being one of its consumers
/// (`chronetix echo` and `chronetix hz`, issue 15).
///
/// **What it touches.** The tap opens the segment read-only (`shm_open` `O_RDONLY`, both mappings
/// `PROT_READ`) and validates the header as every peer does (``RingValidator``). It claims no consumer slot
/// and stores nothing into the segment: the producer's credits, every consumer's counters and every waiting
/// protocol are exactly as without it. It cannot slow the producer, and the producer may overwrite any frame
/// the tap has not read yet.
///
/// **Copy, then validate.** The producer only writes byte counters below `R + high_watermark`, where `R` is
/// the slowest non-retired consumer's `released_bytes` (or `write_bytes` when there is none) as the producer
/// last read it, so the frame starting at counter `p` is intact while `p ≥ R + high_watermark −
/// data_capacity`. The tap reads a frame's header and copies at most ``maximumPayloadBytes`` of its payload,
/// issues an acquiring fence, then re-reads every slot's state and `released_bytes` and `write_bytes`: if
/// the bound it computes from those still admits the frame, nothing the producer wrote over it can have been
/// seen by the copy (the producer's write was ordered after its acquiring load of a released counter that the
/// re-read sees), so the frame is returned; otherwise it is discarded, never returned (a torn read).
/// Under the lossy policies the producer moves a dropped consumer's counters with relaxed stores: the
/// argument then relies on x86-64's store order (docs/ring-protocol.md, "Passive taps").
///
/// **Falling behind.** When its position is below the bound, the tap jumps to the slowest consumer's
/// released position (a frame boundary the producer still holds, or `write_bytes`) and the next frame it
/// reads carries the number of frames it skipped, from the gapless sequence numbers
/// (``TappedFrame/skippedBefore``); at end of stream the frames after the last one it saw are counted from
/// `write_frames`. After the stream ended, ``framesSeen`` + ``framesSkipped`` is every frame committed from the
/// tap's first one on.
///
/// **A segment truncated under it.** The tap checks the segment's size with `fstat(2)` before each access
/// batch (each ``poll()``, each sleep) and throws `RingError.segmentSizeMismatch` instead of touching a
/// mapping that would raise SIGBUS. It reads through the mapping rather than with `pread(2)` (the
/// coordinator's way, docs/adr/0005) because the lap check needs what only the mapping gives: single-copy
/// atomic loads of the counters and an acquiring fence ordering the copy before the re-read; `pread` copies
/// without either. As in ADR 0005, a truncation in the few instructions between the `fstat` and the accesses
/// that follow still raises SIGBUS; only a process of the same user can truncate a ring.
///
/// **Waiting.** ``next(timeout:)`` spins as its ``WaitStrategy`` says, then sleeps on `data_futex` (a
/// `FUTEX_WAIT`, which works on a read-only mapping) for at most ``sleepInterval``. The tap cannot announce
/// itself in `consumers_waiting` without writing, so the producer does not wake it for its frames: the sleep
/// is a bounded one, cut short by `close()` (which always wakes) and by the wakes the producer sends to
/// sleeping consumers.
// @safe: it owns the mapping (and the descriptor) its stored addresses point into, and hands out copies only.
@safe
public struct RingTap: ~Copyable {
    /// Where a new tap starts reading.
    public enum Start: Hashable, Sendable {
        /// At the oldest frame the producer still holds for a consumer (the slowest consumer's position).
        case oldest
        /// At the producer's write position: only frames committed from now on.
        case newest
    }

    let descriptor: FileDescriptor
    let mapping: RingMapping
    let header: UnsafeRingHeader
    let walker: FrameWalker
    let capacity: UInt64
    let alignment: UInt64
    let highWatermark: UInt64
    let consumerCount: Int
    let segmentSize: Int
    let waitStrategy: WaitStrategy

    /// The most payload bytes copied out of each frame.
    public let maximumPayloadBytes: Int
    /// The longest single sleep on `data_futex` while waiting.
    public let sleepInterval: Duration

    /// The next frame's start (byte counter).
    var position: UInt64
    /// The sequence number the next frame should carry; `nil` until the first frame fixes it.
    var expectedSequence: UInt64?
    /// Whether the tap jumped (it fell behind) since the last frame it returned.
    var hasJumped = false

    /// Frames returned so far.
    public private(set) var framesSeen: UInt64 = 0
    /// Frames the producer overwrote before the tap could read them, so far (final after end of stream).
    public private(set) var framesSkipped: UInt64 = 0
    /// Copies discarded because the producer may have written over the frame while the tap copied it (torn
    /// reads detected); their frames are among the skipped ones.
    public private(set) var discardedCopies: UInt64 = 0
    /// Whether the stream ended and the tap passed its last frame.
    public private(set) var isAtEndOfStream = false

    /// Opens the ring `name` read-only as a tap.
    /// - Parameters:
    ///   - name: The segment's name.
    ///   - start: Where to start reading: the oldest frame held for a consumer, or new frames only.
    ///   - maximumPayloadBytes: The most payload bytes copied out of each frame (0 copies none).
    ///   - waitStrategy: How ``next(timeout:)`` waits: spin, sleep, or spin then sleep (the default).
    ///   - sleepInterval: The longest single sleep, 1 ms by default: the producer does not wake a tap.
    /// - Throws: `RingError`: `.systemCall` when the segment cannot be opened (`ENOENT`) or mapped, and the
    ///   validation failures of a hostile or corrupt header (`.badMagic`, `.notInitialized`,
    ///   `.unsupportedVersion`, `.corruptHeader`, `.segmentSizeMismatch`).
    public init(
        tapping name: String,
        start: Start = .oldest,
        maximumPayloadBytes: Int = 4096,
        waitStrategy: WaitStrategy = .adaptive,
        sleepInterval: Duration = .milliseconds(1)
    ) throws(RingError) {
        precondition(maximumPayloadBytes >= 0, "maximumPayloadBytes \(maximumPayloadBytes) is negative")
        if let problem = RingName.validationFailure(name) { throw RingError(.invalidConfiguration, segment: name, problem) }
        let descriptor: FileDescriptor
        do {
            descriptor = try SharedMemory.open(name: name, writable: false)
        } catch {
            throw RingError(.systemCall, segment: name, "cannot open the segment read-only", cause: error)
        }
        let mapping = try RingMapping(descriptor: descriptor, name: name, writableData: false, writableHeader: false)
        let geometry = mapping.geometry
        let header = unsafe mapping.header
        let view = try unsafe Self.heldView(
            header: header,
            consumerCount: geometry.consumerCount,
            alignment: geometry.alignment,
            capacity: geometry.capacity,
            highWatermark: geometry.highWatermark,
            name: name
        )
        unsafe self.header = unsafe header
        unsafe self.walker = unsafe FrameWalker(
            data: UnsafeRawPointer(mapping.dataRegion.unsafeBase),
            capacity: geometry.capacity,
            alignment: geometry.alignment,
            name: name
        )
        self.capacity = geometry.capacity
        self.alignment = geometry.alignment
        self.highWatermark = geometry.highWatermark
        self.consumerCount = geometry.consumerCount
        self.segmentSize = RingLayout.headerSize + Int(geometry.capacity)
        self.waitStrategy = waitStrategy
        self.maximumPayloadBytes = maximumPayloadBytes
        self.sleepInterval = sleepInterval
        self.descriptor = descriptor
        self.mapping = mapping
        self.position = start == .oldest ? view.oldest : view.write
        // A ring nothing was ever written to starts at frame 0: every frame the tap misses counts from there.
        self.expectedSequence = view.write == 0 ? 0 : nil
    }

    /// The segment's name.
    public var name: String { mapping.name }

    // MARK: - Reading

    /// Returns the next frame the tap can read intact, if one is there; never waits.
    /// - Returns: The frame, or `nil` when there is no new frame now or the stream has ended
    ///   (``isAtEndOfStream``).
    /// - Throws: `RingError` with `.segmentSizeMismatch` when the segment was truncated or resized,
    ///   `.corruptHeader` for impossible counters, `.corruptFrame` for an impossible frame the producer still
    ///   holds (a frame it may have overwritten is discarded, not reported).
    public mutating func poll() throws(RingError) -> TappedFrame? {
        if isAtEndOfStream { return nil }
        try checkSize()
        while true {
            let before = try heldView()
            if isBelow(position, before.floor) {
                jump(to: before.oldest)
                continue
            }
            if position == before.write {
                // Acquiring: pairs with the producer's releasing store of `closed` after its last publish.
                guard unsafe header.u32(RingLayout.Header.closed).pointee.load(ordering: .acquiring) != 0 else { return nil }
                let write = unsafe header.u64(RingLayout.Header.writeBytes).pointee.load(ordering: .acquiring)
                if write != position { continue }  // published just before it closed
                finish()
                return nil
            }
            guard Int64(bitPattern: before.write &- position) > 0 else {
                throw RingError(.corruptHeader, segment: name, "write_bytes \(before.write) is behind the tap's position \(position)")
            }
            if before.write &- position > capacity {
                // The producer moved on between the slots' loads and write_bytes's: the frame is gone already.
                jump(to: before.oldest)
                continue
            }
            let read = unsafe readFrame(at: position, limit: before.write)
            // Orders every load of the frame above before the counters' loads below: if the copy saw a byte the
            // producer wrote over the frame, the re-read sees the released counter that let it write there.
            atomicMemoryFence(ordering: .acquiring)
            let after = try heldView()
            if isBelow(position, after.floor) {
                discardedCopies &+= 1
                jump(to: after.oldest)  // lapped during the copy: the frame may be torn, so it is discarded
                continue
            }
            let frame: (walked: WalkedFrame, metadata: FrameMetadata, payload: [UInt8])
            switch read {
            case .success(let value): frame = value
            case .failure(let error): throw error  // the producer still holds it: really corrupt
            }
            position &+= frame.walked.advance
            guard frame.walked.isData else { continue }
            let sequence = frame.walked.sequence
            var skipped: UInt64 = 0
            if let expected = expectedSequence {
                if sequence != expected {
                    guard hasJumped, sequence > expected else {
                        throw RingError(
                            .corruptFrame,
                            segment: name,
                            "the tap expected sequence number \(expected) at byte counter \(position &- frame.walked.advance), found \(sequence)"
                        )
                    }
                    skipped = sequence &- expected
                }
            }
            hasJumped = false
            expectedSequence = sequence &+ 1
            framesSeen &+= 1
            framesSkipped &+= skipped
            return TappedFrame(
                sequenceNumber: sequence,
                metadata: frame.metadata,
                length: frame.walked.length,
                payload: frame.payload,
                skippedBefore: skipped
            )
        }
    }

    /// Returns the next frame the tap can read intact, waiting up to `timeout` for one.
    /// - Parameter timeout: The longest wait; `nil` waits without limit, `.zero` never waits.
    /// - Returns: `.frame`, `.wouldBlock` when the timeout ran out, or `.endOfStream`.
    /// - Throws: `RingError`, as ``poll()``.
    public mutating func next(timeout: Duration? = nil) throws(RingError) -> TapResult {
        let start = Clock.monotonicNanoseconds()
        let limit = RingWaiting.limit(after: start, timeout: timeout)
        let futex = unsafe header.u32(RingLayout.Header.dataFutex)
        while true {
            // Loaded before looking, so a wake after the look makes the sleep below return at once.
            // Acquiring: pairs with the producer's releasing increments in its wakes and close().
            let seen = unsafe futex.pointee.load(ordering: .acquiring)
            if let frame = try poll() { return .frame(frame) }
            if isAtEndOfStream { return .endOfStream }
            let now = Clock.monotonicNanoseconds()
            if let limit, now >= limit { return .wouldBlock }
            guard let spin = waitStrategy.spinNanoseconds, now &- start >= spin else {
                CPU.relax()
                continue
            }
            var slice = Clock.nanoseconds(sleepInterval)
            if let limit { slice = min(slice, limit &- now) }
            // Right after poll()'s size check: the futex word is in the header page this process maps.
            _ = unsafe Futex.wait(on: header.futexWord(RingLayout.Header.dataFutex), expected: seen, timeoutNanoseconds: slice)
        }
    }

    // MARK: - Internals

    /// What the producer still holds: `oldest`, the slowest non-retired consumer's released counter (or
    /// `write_bytes`), `floor`, the lowest counter at which a frame cannot be being overwritten, and `write`.
    func heldView() throws(RingError) -> (oldest: UInt64, floor: UInt64, write: UInt64) {
        try unsafe Self.heldView(
            header: header,
            consumerCount: consumerCount,
            alignment: alignment,
            capacity: capacity,
            highWatermark: highWatermark,
            name: name
        )
    }

    /// ``heldView()`` for the header of a ring of this geometry.
    static func heldView(
        header: UnsafeRingHeader,
        consumerCount: Int,
        alignment: UInt64,
        capacity: UInt64,
        highWatermark: UInt64,
        name: String
    ) throws(RingError) -> (oldest: UInt64, floor: UInt64, write: UInt64) {
        // Acquiring: pairs with the producer's releasing store in publish(); loaded before the slots so that
        // no released counter read below can be further behind it than the capacity.
        let earlier = unsafe header.u64(RingLayout.Header.writeBytes).pointee.load(ordering: .acquiring)
        // The released counters as signed distances from `earlier` (no allocation: hz taps every frame).
        var lowest: Int64? = nil
        var highest: Int64 = .min
        for index in 0..<consumerCount {
            let slot = unsafe UnsafeRingHeader.consumer(index)
            // Acquiring: pairs with RingSegment.retireConsumer's releasing store (the producer ignores retired slots).
            if unsafe header.u32(slot + RingLayout.Consumer.state).pointee.load(ordering: .acquiring) == RingLayout.slotRetired {
                continue
            }
            // Acquiring: pairs with the consumer's releasing store in release() (and the producer's drops).
            let counter = unsafe header.u64(slot + RingLayout.Consumer.releasedBytes).pointee.load(ordering: .acquiring)
            let distance = Int64(bitPattern: counter &- earlier)
            guard counter % alignment == 0, distance >= -Int64(capacity) else {
                throw RingError(
                    .corruptHeader,
                    segment: name,
                    "consumers[\(index)].released_bytes is \(counter) with write_bytes \(earlier) and capacity \(capacity)"
                )
            }
            lowest = min(lowest ?? distance, distance)
            highest = max(highest, distance)
        }
        // Loaded after the slots: a consumer releases only frames published before, so none is ahead of it.
        let write = unsafe header.u64(RingLayout.Header.writeBytes).pointee.load(ordering: .acquiring)
        let advanced = Int64(bitPattern: write &- earlier)
        guard write % alignment == 0, advanced >= 0 else {
            throw RingError(.corruptHeader, segment: name, "write_bytes \(write) is unaligned or went back from \(earlier)")
        }
        guard highest <= advanced else {
            throw RingError(
                .corruptHeader,
                segment: name,
                "a consumer's released_bytes \(earlier &+ UInt64(bitPattern: highest)) is ahead of write_bytes \(write)"
            )
        }
        let oldest = lowest.map { earlier &+ UInt64(bitPattern: $0) } ?? write
        return (oldest, oldest &+ highWatermark &- capacity, write)
    }

    /// Whether byte counter `counter` comes before `bound` (wrapping comparison of free-running counters).
    func isBelow(_ counter: UInt64, _ bound: UInt64) -> Bool { Int64(bitPattern: counter &- bound) < 0 }

    /// Moves to `target` after falling behind: the next frame's sequence number tells how many were skipped.
    mutating func jump(to target: UInt64) {
        position = target
        hasJumped = true
    }

    /// Ends the tap at end of stream: the frames committed after the last one it read were skipped.
    mutating func finish() {
        isAtEndOfStream = true
        // Relaxed: `closed` was read with an acquiring load after the producer's last publish; nothing moves now.
        let committed = unsafe header.loadU64(RingLayout.Header.writeFrames)
        if let expected = expectedSequence, committed > expected { framesSkipped &+= committed &- expected }
    }

    /// Reads the frame at `counter` (header and payload prefix) without trusting it; the caller validates
    /// afterwards whether the producer may have written over it meanwhile.
    /// - Warning: The walker and the copy read memory the producer may be writing at the same time; the
    ///   result means something only once the caller's re-check admitted the frame.
    @unsafe
    func readFrame(
        at counter: UInt64,
        limit: UInt64
    ) -> Result<(walked: WalkedFrame, metadata: FrameMetadata, payload: [UInt8]), RingError> {
        let walked: WalkedFrame
        do {
            walked = try unsafe walker.frame(at: counter, limit: limit)
        } catch {
            return .failure(error)
        }
        guard walked.isData else { return .success((walked, FrameMetadata(), [])) }
        // In bounds: the walker checked that header and payload end before the end of the data area.
        let base = unsafe walker.data + walked.offset
        let metadata = unsafe FrameMetadata(frameHeaderAt: UnsafeRawPointer(base))
        let count = min(walked.length, maximumPayloadBytes)
        // Safe: `count` bytes from the payload's start lie inside the frame the walker bounds-checked, and the
        // array's storage is fresh; a racing producer can change the bytes, not their bounds.
        let payload = unsafe [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 {
                unsafe UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(
                    from: base + RingLayout.frameHeaderSize,
                    byteCount: count
                )
            }
            initialized = count
        }
        return .success((walked, metadata, payload))
    }

    /// Checks that the segment still has the size it was opened with, so the accesses that follow cannot
    /// fault (see the type's documentation for the window that remains).
    func checkSize() throws(RingError) {
        let size: Int
        do {
            size = try descriptor.size()
        } catch {
            throw RingError(.systemCall, segment: name, "cannot read the segment's size", cause: SystemCallError("fstat", name, error))
        }
        guard size == segmentSize else {
            let change = size < segmentSize ? "truncated" : "resized"
            throw RingError(.segmentSizeMismatch, segment: name, "segment \(change) to \(size) bytes (expected \(segmentSize))")
        }
    }
}
