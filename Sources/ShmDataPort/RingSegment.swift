import ChronetixCore
public import ChronetixSystem
import Synchronization

/// A ring's shared-memory segment as its creator (the coordinator) holds it: made, initialised, and removed
/// when the flow ends.
///
/// Creating a segment writes the header and publishes the magic last, so a peer never sees a half-written
/// header. The creator's pid and start time are recorded as the owner: a segment whose owner is dead is
/// stale, and `chronetix gc` (``StaleSegments``) removes it.
public struct RingSegment: ~Copyable {
    /// The segment's name (`/chronetix.…`).
    public let name: String
    /// The configuration it was created with.
    public let configuration: RingConfiguration
    /// The open shared-memory object, kept so the runtime can hand it to workers (SCM_RIGHTS) or re-open it.
    public let descriptor: FileDescriptor
    @usableFromInline let headerRegion: MappedRegion
    /// The fields the creator writes once (magic to `created_realtime_ns`), as written: ``readStatus()``
    /// checks that nobody overwrote them.
    let configurationBytes: [UInt8]

    /// Creates and initialises a new segment, mode 0600, owned by this process.
    /// - Parameters:
    ///   - name: The segment's name; see ``RingName``.
    ///   - configuration: The ring's layout and policy.
    /// - Throws: `RingError` with `.invalidConfiguration`, or `.systemCall` (`EEXIST` when the name is taken).
    public init(creating name: String, configuration: RingConfiguration) throws(RingError) {
        if let problem = RingName.validationFailure(name) { throw RingError(.invalidConfiguration, segment: name, problem) }
        if let problem = configuration.validationFailure() {
            throw RingError(.invalidConfiguration, segment: name, problem)
        }
        let descriptor: FileDescriptor
        do {
            descriptor = try SharedMemory.create(name: name, size: configuration.segmentSize)
        } catch {
            throw RingError(.systemCall, segment: name, "cannot create the segment", cause: error)
        }
        let region: MappedRegion
        do {
            region = try MappedRegion(mapping: descriptor, length: RingLayout.headerSize)
        } catch {
            // The name was created a moment ago by this call: remove it again so nothing is left behind.
            try? SharedMemory.unlink(name: name)
            throw RingError(.systemCall, segment: name, "cannot map the header", cause: error)
        }
        let header = unsafe UnsafeRingHeader(base: region.unsafeBase)
        let high = UInt64(configuration.highWatermark ?? configuration.dataCapacity)
        let owner = ProcessIdentity.current
        // Nobody else can see these fields until the magic is published below; relaxed stores suffice.
        unsafe header.u32(RingLayout.Header.layoutVersion).pointee.store(RingLayout.layoutVersion, ordering: .relaxed)
        unsafe header.u32(RingLayout.Header.headerSize).pointee.store(UInt32(RingLayout.headerSize), ordering: .relaxed)
        unsafe header.u64(RingLayout.Header.dataCapacity).pointee.store(
            UInt64(configuration.dataCapacity),
            ordering: .relaxed
        )
        unsafe header.u32(RingLayout.Header.frameAlignment).pointee.store(
            UInt32(configuration.frameAlignment),
            ordering: .relaxed
        )
        unsafe header.u32(RingLayout.Header.frameHeaderSize).pointee.store(
            UInt32(RingLayout.frameHeaderSize),
            ordering: .relaxed
        )
        unsafe header.u32(RingLayout.Header.consumerCount).pointee.store(
            UInt32(configuration.consumerCount),
            ordering: .relaxed
        )
        unsafe header.u32(RingLayout.Header.queuePolicy).pointee.store(
            RingPolicyCode.code(of: configuration.policy),
            ordering: .relaxed
        )
        unsafe header.u64(RingLayout.Header.frameCapacity).pointee.store(
            configuration.frameCapacity ?? UInt64.max,
            ordering: .relaxed
        )
        unsafe header.u64(RingLayout.Header.highWatermark).pointee.store(high, ordering: .relaxed)
        unsafe header.u64(RingLayout.Header.lowWatermark).pointee.store(
            UInt64(configuration.lowWatermark ?? Int(high / 2)),
            ordering: .relaxed
        )
        unsafe header.u32(RingLayout.Header.ownerPID).pointee.store(UInt32(bitPattern: owner.pid), ordering: .relaxed)
        unsafe header.u64(RingLayout.Header.ownerStartTime).pointee.store(owner.startTime, ordering: .relaxed)
        unsafe header.u64(RingLayout.Header.createdRealtimeNanoseconds).pointee.store(
            Clock.realtimeNanoseconds(),
            ordering: .relaxed
        )
        for index in 0..<configuration.consumerCount {
            unsafe header.u32(UnsafeRingHeader.consumer(index) + RingLayout.Consumer.state).pointee.store(
                RingLayout.slotReserved,
                ordering: .relaxed
            )
        }
        // Publishes every field above: pairs with the acquiring load of the magic in RingValidator.validate.
        unsafe header.u64(RingLayout.Header.magic).pointee.store(RingLayout.magic, ordering: .releasing)

        // Safe: the first bytes of the header page this call mapped and just wrote.
        self.configurationBytes = unsafe Array(
            UnsafeRawBufferPointer(start: region.unsafeBase, count: RingLayout.Header.createdRealtimeNanoseconds + 8)
        )
        self.name = name
        self.configuration = configuration
        self.descriptor = descriptor
        self.headerRegion = region
    }

    /// Checks that the segment still has the size it was created with. Any process of this user can
    /// `ftruncate` it, and a load or store through the mapping beyond its new end raises SIGBUS: the creator
    /// checks before each access through its mapping (docs/adr/0005).
    /// - Throws: `RingError` with `.segmentSizeMismatch` ("segment truncated to N bytes (expected M)"), or
    ///   `.systemCall` when `fstat` fails.
    public func checkSize() throws(RingError) {
        let size: Int
        do {
            size = try descriptor.size()
        } catch {
            throw RingError(.systemCall, segment: name, "cannot read the segment's size", cause: SystemCallError("fstat", name, error))
        }
        let expected = configuration.segmentSize
        guard size == expected else {
            let change = size < expected ? "truncated" : "resized"
            throw RingError(.segmentSizeMismatch, segment: name, "segment \(change) to \(size) bytes (expected \(expected))")
        }
    }

    /// The ring's counters read with `pread(2)` on the segment's descriptor, never through the mapping, and
    /// checked: what the coordinator reports. A truncated segment gives a short read, not SIGBUS.
    /// - Returns: The counters, each one possible (``RingStatus/implausibility(dataCapacity:frameAlignment:)``).
    /// - Throws: `RingError` with `.segmentSizeMismatch` for a truncated or resized segment, `.corruptHeader`
    ///   for overwritten configuration fields or impossible counters, `.systemCall` when `pread` fails.
    public func readStatus() throws(RingError) -> RingStatus {
        try checkSize()
        let bytes: [UInt8]
        do {
            bytes = try descriptor.readBytes(at: 0, count: RingLayout.headerSize)
        } catch {
            throw RingError(.systemCall, segment: name, "cannot read the header", cause: SystemCallError("pread", name, error))
        }
        guard bytes.count == RingLayout.headerSize else {
            throw RingError(
                .segmentSizeMismatch,
                segment: name,
                "segment truncated to \(bytes.count) bytes (expected \(configuration.segmentSize))"
            )
        }
        if let offset = configurationBytes.indices.first(where: { bytes[$0] != configurationBytes[$0] }) {
            throw RingError(.corruptHeader, segment: name, "the configuration fields were overwritten (byte \(offset) differs)")
        }
        let status = RingStatus(fields: RingHeaderBytes(bytes))
        if let problem = status.implausibility(
            dataCapacity: UInt64(configuration.dataCapacity),
            frameAlignment: UInt64(configuration.frameAlignment)
        ) {
            throw RingError(.corruptHeader, segment: name, problem)
        }
        return status
    }

    /// A snapshot of the ring's counters, read through the mapping, unchecked: for tests and benchmarks of
    /// rings nobody tampers with. Reports take ``readStatus()``.
    public func status() -> RingStatus {
        unsafe RingStatus(header: UnsafeRingHeader(base: headerRegion.unsafeBase))
    }

    /// Takes consumer slot `index` out of the fan-out for good (its node was left down): the producer stops
    /// waiting for it. Frames it had not released are counted as its drops.
    /// - Parameter index: The slot.
    /// - Throws: `RingError`, as ``checkSize()``: the mapping is not touched.
    public func retireConsumer(_ index: Int) throws(RingError) {
        precondition((0..<configuration.consumerCount).contains(index), "consumer slot \(index) out of range")
        try checkSize()
        let header = unsafe UnsafeRingHeader(base: headerRegion.unsafeBase)
        // Read by the producer's acquiring loads of the slot states in its room check.
        unsafe header.u32(UnsafeRingHeader.consumer(index) + RingLayout.Consumer.state).pointee.store(
            RingLayout.slotRetired,
            ordering: .releasing
        )
        // A producer asleep for room re-checks and finds this slot gone.
        unsafe header.u32(RingLayout.Header.spaceFutex).pointee.wrappingAdd(1, ordering: .releasing)
        unsafe Futex.wake(on: header.futexWord(RingLayout.Header.spaceFutex), count: Int32.max)
    }

    /// Ends the stream on behalf of a producer that is gone and will not come back (its node was left down,
    /// or the flow stops while it is dead): consumers receive every frame it committed, then end of stream.
    ///
    /// Refused while a producer is attached and alive: only the producer itself ends a live stream.
    /// - Returns: Whether the stream is now closed (it may have been already).
    /// - Throws: `RingError`, as ``checkSize()``: the mapping is not touched.
    @discardableResult
    public func endStreamOfGoneProducer() throws(RingError) -> Bool {
        try checkSize()
        let header = unsafe UnsafeRingHeader(base: headerRegion.unsafeBase)
        // Acquiring: pairs with a producer's releasing stores of its identity and of `closed`.
        if unsafe header.u32(RingLayout.Header.closed).pointee.load(ordering: .acquiring) != 0 { return true }
        let pid = unsafe header.u32(RingLayout.Header.producerPID).pointee.load(ordering: .acquiring)
        if pid != 0 {
            let producer = unsafe ProcessIdentity(
                pid: Int32(bitPattern: pid),
                startTime: header.loadU64(RingLayout.Header.producerStartTime)
            )
            if producer.isAlive { return false }
        }
        // Pairs with the consumers' acquiring load of `closed` after they find the ring empty.
        unsafe header.u32(RingLayout.Header.closed).pointee.store(1, ordering: .releasing)
        unsafe header.u32(RingLayout.Header.dataFutex).pointee.wrappingAdd(1, ordering: .releasing)
        unsafe Futex.wake(on: header.futexWord(RingLayout.Header.dataFutex), count: Int32.max)
        return true
    }

    /// Removes the segment's name; processes that mapped it keep their mappings until they detach.
    /// Wraps `shm_unlink(3)`; a name that is already gone is not an error.
    /// - Throws: `RingError` with `.systemCall` for any other failure.
    public consuming func remove() throws(RingError) {
        do {
            try SharedMemory.unlink(name: name)
        } catch where error.errno == .noSuchFile {
            return
        } catch {
            throw RingError(.systemCall, segment: name, "cannot remove the segment", cause: error)
        }
    }
}

/// The header's numeric codes for queue policies (`CX_RING_POLICY_*`).
enum RingPolicyCode {
    static func code(of policy: QueuePolicy) -> UInt32 {
        switch policy {
        case .block: 0
        case .dropOldest: 1
        case .latest: 2
        }
    }

    static func policy(of code: UInt32) -> QueuePolicy? {
        switch code {
        case 0: .block
        case 1: .dropOldest
        case 2: .latest
        default: nil
        }
    }
}
