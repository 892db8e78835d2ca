public import ChronetixCore
import ChronetixSystem
import Synchronization

/// The validated, fixed part of a ring header: what a peer may rely on after attaching.
@usableFromInline
struct RingGeometry: Sendable {
    @usableFromInline var capacity: UInt64
    @usableFromInline var alignment: UInt64
    @usableFromInline var consumerCount: Int
    @usableFromInline var policy: QueuePolicy
    @usableFromInline var frameCapacity: UInt64
    @usableFromInline var highWatermark: UInt64
    @usableFromInline var lowWatermark: UInt64
    var owner: ProcessIdentity
}

/// Checks a mapped header before anything trusts it.
enum RingValidator {
    /// Validates the fixed fields of the header page at `header`, for a segment of `fileSize` bytes.
    /// - Throws: `RingError` naming the segment and the first offending field.
    static func validate(header: UnsafeRingHeader, fileSize: Int, name: String) throws(RingError) -> RingGeometry {
        // Pairs with the creator's releasing store of the magic: every configuration field is visible after it.
        let magic = unsafe header.u64(RingLayout.Header.magic).pointee.load(ordering: .acquiring)
        if magic == 0 { throw RingError(.notInitialized, segment: name, "the header's magic is still 0") }
        guard magic == RingLayout.magic else {
            throw RingError(.badMagic, segment: name, "magic is 0x\(String(magic, radix: 16)), not a Chronetix ring")
        }
        let version = unsafe header.loadU32(RingLayout.Header.layoutVersion)
        guard version == RingLayout.layoutVersion else {
            throw RingError(
                .unsupportedVersion,
                segment: name,
                "layout_version is \(version); this build reads version \(RingLayout.layoutVersion)"
            )
        }
        func corrupt(_ field: String, _ value: some BinaryInteger, _ expected: String) -> RingError {
            RingError(.corruptHeader, segment: name, "\(field) is \(value); expected \(expected)")
        }
        let headerSize = unsafe header.loadU32(RingLayout.Header.headerSize)
        guard headerSize == RingLayout.headerSize else { throw corrupt("header_size", headerSize, "\(RingLayout.headerSize)") }
        let capacity = unsafe header.loadU64(RingLayout.Header.dataCapacity)
        guard capacity >= 4096, capacity <= 1 << 30, capacity & (capacity &- 1) == 0 else {
            throw corrupt("data_capacity", capacity, "a power of two from 4096 to 2^30")
        }
        guard fileSize == RingLayout.headerSize + Int(capacity) else {
            throw RingError(
                .segmentSizeMismatch,
                segment: name,
                "the segment has \(fileSize) bytes but its header promises \(RingLayout.headerSize) + \(capacity)"
            )
        }
        let alignment = unsafe header.loadU32(RingLayout.Header.frameAlignment)
        guard [8, 16, 32, 64].contains(alignment) else { throw corrupt("frame_alignment", alignment, "8, 16, 32 or 64") }
        let frameHeaderSize = unsafe header.loadU32(RingLayout.Header.frameHeaderSize)
        guard frameHeaderSize == RingLayout.frameHeaderSize else {
            throw corrupt("frame_header_size", frameHeaderSize, "\(RingLayout.frameHeaderSize)")
        }
        let consumerCount = unsafe header.loadU32(RingLayout.Header.consumerCount)
        guard (1...UInt32(RingLayout.maxConsumers)).contains(consumerCount) else {
            throw corrupt("consumer_count", consumerCount, "1 to \(RingLayout.maxConsumers)")
        }
        let policyCode = unsafe header.loadU32(RingLayout.Header.queuePolicy)
        guard let policy = RingPolicyCode.policy(of: policyCode) else {
            throw corrupt("queue_policy", policyCode, "0 (block), 1 (drop-oldest) or 2 (latest)")
        }
        let frameCapacity = unsafe header.loadU64(RingLayout.Header.frameCapacity)
        guard frameCapacity >= 1 else { throw corrupt("frame_capacity", frameCapacity, "at least 1") }
        let high = unsafe header.loadU64(RingLayout.Header.highWatermark)
        let minimumHigh = 2 * (UInt64(RingLayout.frameHeaderSize) + UInt64(alignment))
        guard high >= minimumHigh, high <= capacity else {
            throw corrupt("high_watermark", high, "\(minimumHigh) to the capacity \(capacity)")
        }
        let low = unsafe header.loadU64(RingLayout.Header.lowWatermark)
        guard low < high else { throw corrupt("low_watermark", low, "below the high watermark \(high)") }
        let owner = unsafe ProcessIdentity(
            pid: header.loadI32(RingLayout.Header.ownerPID),
            startTime: header.loadU64(RingLayout.Header.ownerStartTime)
        )
        let geometry = RingGeometry(
            capacity: capacity,
            alignment: UInt64(alignment),
            consumerCount: Int(consumerCount),
            policy: policy,
            frameCapacity: frameCapacity,
            highWatermark: high,
            lowWatermark: low,
            owner: owner
        )
        try unsafe validateCounters(header: header, geometry: geometry, name: name)
        return geometry
    }

    /// Checks that the producer's and every consumer's counters can all be right at once.
    static func validateCounters(header: UnsafeRingHeader, geometry: RingGeometry, name: String) throws(RingError) {
        // Pairs with the producer's releasing store in publish(): the frames before write_bytes are complete.
        let write = unsafe header.u64(RingLayout.Header.writeBytes).pointee.load(ordering: .acquiring)
        guard write % geometry.alignment == 0 else {
            throw RingError(.corruptHeader, segment: name, "write_bytes \(write) is not a multiple of the frame alignment \(geometry.alignment)")
        }
        for index in 0..<RingLayout.maxConsumers {
            let slot = unsafe UnsafeRingHeader.consumer(index)
            let state = unsafe header.u32(slot + RingLayout.Consumer.state).pointee.load(ordering: .acquiring)
            if index >= geometry.consumerCount {
                guard state == RingLayout.slotUnused else {
                    throw RingError(.corruptHeader, segment: name, "consumers[\(index)].state is \(state) beyond consumer_count \(geometry.consumerCount)")
                }
                continue
            }
            guard (RingLayout.slotReserved...RingLayout.slotRetired).contains(state) else {
                throw RingError(.corruptHeader, segment: name, "consumers[\(index)].state is \(state); expected 1, 2 or 3")
            }
            if state == RingLayout.slotRetired { continue }  // its counters no longer matter to anyone
            // A live ring moves while it is checked: under drop-oldest the producer moves a consumer's
            // released_bytes on as it writes, so a released_bytes read after write_bytes may be ahead of it.
            // The pair is judged as one snapshot: write_bytes read between two equal reads of released_bytes
            // (a few tries), else the latest pair.
            var released: UInt64 = 0
            var snapshotWrite = write
            for _ in 0..<8 {
                // Pairs with the consumer's releasing store in release().
                let before = unsafe header.u64(slot + RingLayout.Consumer.releasedBytes).pointee.load(ordering: .acquiring)
                snapshotWrite = unsafe header.u64(RingLayout.Header.writeBytes).pointee.load(ordering: .acquiring)
                released = unsafe header.u64(slot + RingLayout.Consumer.releasedBytes).pointee.load(ordering: .acquiring)
                if before == released { break }
            }
            guard RingIndex.used(write: snapshotWrite, released: released, capacity: geometry.capacity) != nil,
                released % geometry.alignment == 0
            else {
                throw RingError(
                    .corruptHeader,
                    segment: name,
                    "consumers[\(index)].released_bytes is \(released) with write_bytes \(snapshotWrite) and capacity \(geometry.capacity)"
                )
            }
            let claim = unsafe header.u32(slot + RingLayout.Consumer.claim).pointee.load(ordering: .relaxed)
            guard claim == RingLayout.claimProducer || claim <= RingLayout.pidMax else {
                throw RingError(.corruptHeader, segment: name, "consumers[\(index)].claim is \(claim); expected 0, a pid or 0xffffffff")
            }
        }
    }
}

/// The two mappings of an attached peer: the header page (read-write) and the data area (read-write for the
/// producer, read-only for consumers, so a consumer cannot scribble on frames even by mistake).
@usableFromInline
struct RingMapping: ~Copyable {
    let name: String
    let headerRegion: MappedRegion
    let dataRegion: MappedRegion
    @usableFromInline let geometry: RingGeometry

    /// Opens `name`, validates its header and maps it.
    init(name: String, writableData: Bool) throws(RingError) {
        if let problem = RingName.validationFailure(name) { throw RingError(.invalidConfiguration, segment: name, problem) }
        let descriptor: FileDescriptor
        do {
            descriptor = try SharedMemory.open(name: name)
        } catch {
            throw RingError(.systemCall, segment: name, "cannot open the segment", cause: error)
        }
        try self.init(descriptor: descriptor, name: name, writableData: writableData)
    }

    /// Validates and maps an open segment (for example one received over the bus with SCM_RIGHTS).
    /// - Parameters:
    ///   - writableData: Whether the data area is mapped writable (the producer).
    ///   - writableHeader: Whether the header page is mapped writable; `false` for a passive reader
    ///     (``RingTap``), whose descriptor may be read-only.
    init(
        descriptor: borrowing FileDescriptor,
        name: String,
        writableData: Bool,
        writableHeader: Bool = true
    ) throws(RingError) {
        let size: Int
        do {
            size = try descriptor.size()
        } catch {
            throw RingError(.systemCall, segment: name, "cannot read the segment's size", cause: SystemCallError("fstat", name, error))
        }
        // Touching a page beyond the end of the object would raise SIGBUS: check before mapping anything.
        guard size >= RingLayout.headerSize else {
            throw RingError(.segmentSizeMismatch, segment: name, "the segment has \(size) bytes, less than a header page")
        }
        let headerRegion: MappedRegion
        do {
            headerRegion = try MappedRegion(mapping: descriptor, length: RingLayout.headerSize, writable: writableHeader)
        } catch {
            throw RingError(.systemCall, segment: name, "cannot map the header", cause: error)
        }
        let geometry = try unsafe RingValidator.validate(
            header: UnsafeRingHeader(base: headerRegion.unsafeBase),
            fileSize: size,
            name: name
        )
        let dataRegion: MappedRegion
        do {
            dataRegion = try MappedRegion(
                mapping: descriptor,
                length: Int(geometry.capacity),
                offset: RingLayout.headerSize,
                writable: writableData,
                populate: true
            )
        } catch {
            throw RingError(.systemCall, segment: name, "cannot map the data area", cause: error)
        }
        self.name = name
        self.headerRegion = headerRegion
        self.dataRegion = dataRegion
        self.geometry = geometry
    }

    @usableFromInline
    var header: UnsafeRingHeader { unsafe UnsafeRingHeader(base: headerRegion.unsafeBase) }
}
