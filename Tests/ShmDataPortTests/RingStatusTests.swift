import ChronetixSystem
import ShmDataPort
import Testing

/// What the coordinator reports about a ring: read without the mapping, and checked before it is shown.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct RingStatusTests {
    /// Overwrites the `Value` at `offset` of segment `name` through a fresh writable mapping.
    static func poke<Value: FixedWidthInteger>(_ name: String, offset: Int, _ value: Value) throws {
        let descriptor = try SharedMemory.open(name: name)
        let region = try MappedRegion(mapping: descriptor, length: 4096)
        unsafe region.unsafeBase.storeBytes(of: value, toByteOffset: offset, as: Value.self)
    }

    /// ring-protocol.md says consumers keep `read_bytes` current: it is stored at every release.
    @Test func aConsumerKeepsItsReadPositionCurrentAtRelease() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
        var producer = try RingProducer(attachingTo: ring.name)
        var consumer = try RingConsumer(attachingTo: ring.name)
        for value in 0..<10 as Range<UInt64> { _ = try producer.send(value: value) }
        for _ in 0..<10 { _ = try consumer.receiveValue() }
        consumer.release()
        let status = try ring.segment.readStatus()
        #expect(status.writeFrames == 10)
        #expect(status.consumers[0].readBytes == status.writeBytes)
        #expect(status.consumers[0].readFrames == 10)
        #expect(status.unaccountedFrames(slot: 0) == 0)
    }

    @Test func aTruncatedSegmentIsReportedInsteadOfFaulting() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
        let descriptor = try SharedMemory.open(name: ring.name)
        try descriptor.truncate(to: 100)
        for attempt in [{ _ = try ring.segment.readStatus() }, { try ring.segment.retireConsumer(0) }, { _ = try ring.segment.endStreamOfGoneProducer() }] {
            let error = try #require(throws: RingError.self) { try attempt() }
            #expect(error.code == .segmentSizeMismatch)
            #expect(error.message == "segment truncated to 100 bytes (expected 8192)")
        }
    }

    @Test(arguments: [
        (204, UInt64(7), "closed is 7"),
        (384 + 16, UInt64(Int64.max), "consumers[0].drops is 9223372036854775807, more than the 3 frames written"),
        (384 + 64, UInt64(8000), "consumers[0].read_bytes 8000 is beyond write_bytes"),
        (384 + 64, UInt64(4), "consumers[0].read_bytes 4 is not a frame boundary"),
        (128, UInt64(1) << 40, "consumers[0].released_bytes 0 is more than the capacity 4096 behind write_bytes 1099511627776"),
        (16, UInt64(8192), "the configuration fields were overwritten"),
    ] as [(Int, UInt64, String)])
    func implausibleCountersAreACorruptRing(offset: Int, value: UInt64, expected: String) throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
        var producer = try RingProducer(attachingTo: ring.name)
        for value in 0..<3 as Range<UInt64> { _ = try producer.send(value: value) }
        #expect(try ring.segment.readStatus().writeFrames == 3)
        if offset == 204 {
            try Self.poke(ring.name, offset: offset, UInt32(value))
        } else {
            try Self.poke(ring.name, offset: offset, value)
        }
        let error = try #require(throws: RingError.self) { _ = try ring.segment.readStatus() }
        #expect(error.code == .corruptHeader)
        #expect(error.message.contains(expected), "\(error.message)")
    }
}
