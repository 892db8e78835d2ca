import CChronetix
import ChronetixCore
import ChronetixSystem
import ChronetixTestSupport
import Glibc
import ShmDataPort
import Testing

/// The passive tap (`RingTap`): frames in order, skips counted when it falls behind, torn reads never returned,
/// nothing written into the ring, clear errors for a broken segment. The cross-process tests are at the end of
/// this file, in an extension of `CrossProcessTests`.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct RingTapTests {
    /// This suite's own segment prefix, so that its leak check never sees another suite's segments.
    static let prefix = "/chronetix.tap\(ProcessIdentity.current.pid)"

    /// Checks the counter pattern the test producers write: the value (= sequence number), then `value + i`.
    static func expectPattern(_ frame: TappedFrame, length: Int? = nil) {
        #expect(frame.payload.count >= 8, "frame \(frame.sequenceNumber) has \(frame.payload.count) bytes")
        guard frame.payload.count >= 8 else { return }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(frame.payload[index]) << (8 * index) }
        #expect(value == frame.sequenceNumber, "frame \(frame.sequenceNumber) carries value \(value): a torn read")
        for index in 8..<frame.payload.count where frame.payload[index] != UInt8(truncatingIfNeeded: value &+ UInt64(index - 8)) {
            Issue.record("frame \(frame.sequenceNumber): payload byte \(index) is wrong: a torn read")
            break
        }
        if let length { #expect(frame.length == length) }
    }

    /// The header page as bytes, read with `pread` (not through a mapping).
    static func headerBytes(_ name: String) throws -> [UInt8] {
        try SharedMemory.open(name: name, writable: false).readBytes(at: 0, count: 4096)
    }

    // MARK: - In one process

    @Test func seesEveryFrameInOrderWithItsHeaderAndAPayloadCopy() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 8192), prefix: Self.prefix)
        var producer = try RingProducer(attachingTo: ring.name)
        // Holds every frame (it never releases): the producer may overwrite none of them.
        let consumer = try RingConsumer(attachingTo: ring.name)
        var tap = try RingTap(tapping: ring.name, maximumPayloadBytes: 20)
        #expect(try tap.poll() == nil, "an empty ring")
        for value in 0..<40 as Range<UInt64> {
            let length = 8 + Int(value % 30)
            let buffer = try #require(try producer.reserve(capacity: length))
            buffer.storeBytes(of: value, as: UInt64.self)
            for index in 8..<length { buffer[index] = UInt8(truncatingIfNeeded: value &+ UInt64(index - 8)) }
            let metadata = FrameMetadata(
                timestampNanoseconds: Int64(value) * 10,
                deadlineNanoseconds: Int64(value) * 10 + 5,
                priority: UInt8(value % 4),
                contentType: 7
            )
            #expect(producer.commit(length: length, metadata: metadata) == value)
        }
        for value in 0..<40 as Range<UInt64> {
            let frame = try #require(try tap.poll(), "frame \(value)")
            #expect(frame.sequenceNumber == value)
            #expect(frame.skippedBefore == 0)
            #expect(frame.length == 8 + Int(value % 30))
            #expect(frame.payload.count == min(20, frame.length), "at most maximumPayloadBytes copied")
            #expect(frame.isPayloadTruncated == (frame.length > 20))
            #expect(frame.metadata.timestampNanoseconds == Int64(value) * 10)
            #expect(frame.metadata.deadlineNanoseconds == Int64(value) * 10 + 5)
            #expect(frame.metadata.priority == UInt8(value % 4))
            #expect(frame.metadata.contentType == 7)
            Self.expectPattern(frame)
        }
        #expect(try tap.next(timeout: .milliseconds(5)) == .wouldBlock)
        producer.close()
        #expect(try tap.next(timeout: .seconds(5)) == .endOfStream)
        let ended = tap.isAtEndOfStream
        #expect(ended)
        #expect(tap.framesSeen == 40)
        #expect(tap.framesSkipped == 0)
        _ = consumer.slotIndex
    }

    @Test(arguments: [QueuePolicy.block, .dropOldest, .latest])
    func aSlowTapCountsTheFramesItSkipped(policy: QueuePolicy) throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096, policy: policy), prefix: Self.prefix)
        var producer = try RingProducer(attachingTo: ring.name)
        var consumer = try RingConsumer(attachingTo: ring.name)
        var tap = try RingTap(tapping: ring.name)
        let total: UInt64 = 5000
        var seen: [UInt64] = []
        var reportedSkips: UInt64 = 0
        for value in 0..<total {
            #expect(try producer.send(value: value, extra: Int(value % 50)) == .sent(sequenceNumber: value))
            _ = try consumer.receiveValue()
            consumer.release()
            // The tap reads one frame per 100 sent: the producer laps it again and again.
            if value % 100 == 99, let frame = try tap.poll() {
                Self.expectPattern(frame, length: 8 + Int(frame.sequenceNumber % 50))
                if let last = seen.last { #expect(frame.sequenceNumber == last + 1 + frame.skippedBefore) }
                seen.append(frame.sequenceNumber)
                reportedSkips += frame.skippedBefore
            }
        }
        producer.close()
        while case .frame(let frame) = try tap.next(timeout: .seconds(5)) {
            Self.expectPattern(frame)
            seen.append(frame.sequenceNumber)
            reportedSkips += frame.skippedBefore
        }
        let ended = tap.isAtEndOfStream
        #expect(ended)
        #expect(seen == seen.sorted() && Set(seen).count == seen.count, "in order, none twice")
        #expect(tap.framesSeen == UInt64(seen.count))
        #expect(tap.framesSkipped > 0, "the tap fell behind")
        #expect(tap.framesSkipped >= reportedSkips)
        #expect(tap.framesSeen + tap.framesSkipped == total, "every frame seen or counted as skipped")
        #expect(ring.segment.status().consumers[0].releasedFrames == total, "the consumer got every frame")
    }

    @Test func theTapWritesNothingAndTakesNoCredits() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
        var producer = try RingProducer(attachingTo: ring.name)
        var consumer = try RingConsumer(attachingTo: ring.name)
        for value in 0..<5 as Range<UInt64> { _ = try producer.send(value: value, extra: 56) }
        let before = try Self.headerBytes(ring.name)
        var tap = try RingTap(tapping: ring.name)
        for value in 0..<5 as Range<UInt64> { #expect(try tap.poll()?.sequenceNumber == value) }
        #expect(try tap.next(timeout: .milliseconds(20)) == .wouldBlock, "it slept on the futex, read-only")
        #expect(try Self.headerBytes(ring.name) == before, "not one byte of the header page changed")
        // The credits are the consumer's alone: the ring fills to exactly what it holds without a tap.
        var sent: UInt64 = 5
        while case .sent = try producer.send(value: sent, extra: 56) { sent += 1 }
        #expect(sent == 4096 / 96)
        let stalls = producer.statistics.stalls
        // The consumer releases everything; the producer laps the tap at once, never waiting for it.
        for _ in 0..<sent { _ = try consumer.receiveValue() }
        consumer.release()
        for value in sent..<(2 * sent) { #expect(try producer.send(value: value, extra: 56) == .sent(sequenceNumber: value)) }
        #expect(producer.statistics.stalls == stalls, "not one wait for room")
        let frame = try #require(try tap.poll())
        #expect(frame.sequenceNumber == sent, "it jumped to the oldest frame the consumer still holds")
        #expect(frame.skippedBefore == sent - 5)
        Self.expectPattern(frame)
    }

    @Test func startingAtTheNewestFrameSkipsTheBacklog() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
        var producer = try RingProducer(attachingTo: ring.name)
        let consumer = try RingConsumer(attachingTo: ring.name)
        for value in 0..<10 as Range<UInt64> { _ = try producer.send(value: value) }
        var tap = try RingTap(tapping: ring.name, start: .newest)
        #expect(try tap.poll() == nil)
        _ = try producer.send(value: 10)
        #expect(try tap.poll()?.sequenceNumber == 10)
        #expect(tap.framesSkipped == 0)
        _ = consumer
    }

    // MARK: - Broken segments

    @Test func aTruncatedSegmentIsReportedInsteadOfFaulting() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
        var producer = try RingProducer(attachingTo: ring.name)
        _ = try producer.send(value: 0)
        var tap = try RingTap(tapping: ring.name)
        try SharedMemory.open(name: ring.name).truncate(to: 100)
        for attempt in [{ _ = try tap.poll() }, { _ = try tap.next(timeout: .seconds(1)) }] {
            let error = try #require(throws: RingError.self) { try attempt() }
            #expect(error.code == .segmentSizeMismatch)
            #expect(error.message == "segment truncated to 100 bytes (expected 8192)")
        }
        let reopened = try #require(throws: RingError.self) { _ = try RingTap(tapping: ring.name) }
        #expect(reopened.code == .segmentSizeMismatch)
    }

    @Test(arguments: [
        (0, UInt64(0x0123_4567_89ab_cdef), RingError.Code.badMagic),
        (0, UInt64(0), .notInitialized),
        (8, UInt64(2), .unsupportedVersion),
        (16, UInt64(12345), .corruptHeader),
        (128, UInt64(3), .corruptHeader),
    ])
    func aCorruptHeaderIsRefused(offset: Int, value: UInt64, code: RingError.Code) throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
        let descriptor = try SharedMemory.open(name: ring.name)
        let region = try MappedRegion(mapping: descriptor, length: 4096)
        if offset == 8 {
            region.unsafeBase.storeBytes(of: UInt32(value), toByteOffset: offset, as: UInt32.self)
        } else {
            region.unsafeBase.storeBytes(of: value, toByteOffset: offset, as: UInt64.self)
        }
        let error = try #require(throws: RingError.self) { _ = try RingTap(tapping: ring.name) }
        #expect(error.code == code, "\(error)")
        #expect(error.segment == ring.name)
    }

    @Test func aCounterCorruptedAfterOpeningIsAnErrorNotACrash() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
        var producer = try RingProducer(attachingTo: ring.name)
        _ = try producer.send(value: 0)
        var tap = try RingTap(tapping: ring.name)
        let region = try MappedRegion(mapping: SharedMemory.open(name: ring.name), length: 4096)
        let offset = MemoryLayout<cx_ring_header>.offset(of: \.write_bytes)!
        for corrupt: UInt64 in [3, 1 << 40] {
            region.unsafeBase.storeBytes(of: corrupt, toByteOffset: offset, as: UInt64.self)
            let error = try #require(throws: RingError.self) { _ = try tap.poll() }
            #expect(error.code == .corruptHeader, "\(error)")
        }
    }

    @Test func aMissingSegmentIsASystemCallError() throws {
        let error = try #require(throws: RingError.self) { _ = try RingTap(tapping: "\(Self.prefix)-none.a.out") }
        #expect(error.code == .systemCall)
        #expect(error.cause?.errno == .noSuchFile)
    }

    @Test func nothingIsLeftInDevShm() throws {
        #expect(try TestRing.leftovers(prefix: Self.prefix).isEmpty)
    }
}

/// The tap across processes: the producer and a real consumer are `chronetix-ring-peer` processes and the tap
/// reads from this one. In `CrossProcessTests`, which is serialized, so that its check that every peer was
/// reaped never runs while one of these peers does.
extension CrossProcessTests {
    @Test(arguments: ["adaptive", "sleep"])
    func aLosslessEdgeDeliversTheSameFramesWithATapAndNoTornFrameIsReturned(waitStrategy: String) throws {
        let total: UInt64 = 100_000
        let ring = try TestRing(RingConfiguration(dataCapacity: 8192), prefix: Self.prefix)
        let shape = ["--size", "8", "--size-cycle", "300"]
        let consumer = try RingPeer(["consume", ring.name, "--first", "0"] + shape)
        defer { consumer.stop() }
        let attached = try #require(consumer.next(["ATTACHED"]))
        try #require(attached.kind == "ATTACHED", "\(attached)")
        var tap = try RingTap(
            tapping: ring.name,
            maximumPayloadBytes: 1024,
            waitStrategy: waitStrategy == "sleep" ? .sleep : .adaptive,
            sleepInterval: .microseconds(200)
        )
        let producer = try RingPeer(
            ["produce", ring.name, "--frames", "\(total)", "--close", "--wait", waitStrategy] + shape
        )
        defer { producer.stop() }
        var last: UInt64?
        while case .frame(let frame) = try tap.next(timeout: .seconds(30)) {
            // Every payload copied while the producer may be lapping the tap must be the frame's own.
            RingTapTests.expectPattern(frame, length: 8 + Int(frame.sequenceNumber % 300))
            if let last { #expect(frame.sequenceNumber == last + 1 + frame.skippedBefore) }
            last = frame.sequenceNumber
            // A deliberately slow tap: 5 ms away every 2000 frames, while the producer runs on (the ring holds
            // about 50 frames), so it is lapped, also in the middle of its copies.
            if frame.sequenceNumber % 2000 == 0 { usleep(5000) }
        }
        let ended = tap.isAtEndOfStream
        #expect(ended)
        #expect(tap.framesSeen + tap.framesSkipped == total, "seen \(tap.framesSeen), skipped \(tap.framesSkipped)")
        #expect(tap.framesSkipped > 0, "the producer lapped the tap")
        let (produced, producerStatus) = producer.finish()
        #expect(producerStatus == 0)
        #expect(produced?["frames"] == total)
        #expect(produced?["errors"] == 0)
        let (line, status) = consumer.finish()
        let result = try #require(line)
        #expect(result.kind == "RESULT", "\(result)")
        #expect(status == 0)
        #expect(result["frames"] == total, "the lossless edge lost nothing to the tap")
        #expect(result["last"] == total - 1)
        #expect(result["errors"] == 0)
        #expect(result["skipped"] == 0)
        #expect(result["repeats"] == 0)
    }

    @Test func aTapThatNeverReadsDoesNotSlowTheProducer() throws {
        // The same transfer with and without a tap attached (and never polled): the producer finishes either
        // way and the consumer receives exactly every frame.
        for withTap in [false, true] {
            let total: UInt64 = 20_000
            let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
            let tap = withTap ? try RingTap(tapping: ring.name) : nil
            let consumer = try RingPeer(["consume", ring.name, "--first", "0", "--size", "8", "--size-cycle", "97"])
            defer { consumer.stop() }
            let producer = try RingPeer(["produce", ring.name, "--frames", "\(total)", "--close", "--size", "8", "--size-cycle", "97"])
            defer { producer.stop() }
            let (produced, producerStatus) = producer.finish()
            #expect(producerStatus == 0, "with tap: \(withTap)")
            #expect(produced?["frames"] == total)
            let (line, status) = consumer.finish()
            #expect(status == 0)
            #expect(line?["frames"] == total, "with tap: \(withTap)")
            #expect(line?["errors"] == 0)
            _ = tap?.name
        }
    }
}

extension RingTapTests {
    @Test func aCorruptFrameTheProducerStillHoldsIsAnErrorNotACrash() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
        var producer = try RingProducer(attachingTo: ring.name)
        let consumer = try RingConsumer(attachingTo: ring.name)  // holds frame 0: the producer may not overwrite it
        _ = try producer.send(value: 0)
        var tap = try RingTap(tapping: ring.name)
        let region = try MappedRegion(mapping: SharedMemory.open(name: ring.name), length: 4096, offset: 4096)
        for (offset, value, message) in [(0, UInt32(1 << 20), "runs past"), (4, UInt32(9), "frame kind 9")] {
            let original = region.unsafeBase.load(fromByteOffset: offset, as: UInt32.self)
            region.unsafeBase.storeBytes(of: offset == 4 ? (original & ~0xFF) | value : value, toByteOffset: offset, as: UInt32.self)
            let error = try #require(throws: RingError.self) { _ = try tap.poll() }
            #expect(error.code == .corruptFrame, "\(error)")
            #expect(error.message.contains(message), "\(error)")
            region.unsafeBase.storeBytes(of: original, toByteOffset: offset, as: UInt32.self)
        }
        #expect(try tap.poll()?.sequenceNumber == 0, "restored, the frame reads again")
        _ = consumer.slotIndex
    }

    @Test func aReleasedCounterAheadOfTheProducerIsACorruptHeader() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
        var producer = try RingProducer(attachingTo: ring.name)
        _ = try producer.send(value: 0)
        var tap = try RingTap(tapping: ring.name)
        let region = try MappedRegion(mapping: SharedMemory.open(name: ring.name), length: 4096)
        let offset = MemoryLayout<cx_ring_header>.offset(of: \.consumers)! + MemoryLayout<cx_ring_consumer>.offset(of: \.released_bytes)!
        region.unsafeBase.storeBytes(of: UInt64(4096), toByteOffset: offset, as: UInt64.self)
        let error = try #require(throws: RingError.self) { _ = try tap.poll() }
        #expect(error.code == .corruptHeader, "\(error)")
        #expect(error.message.contains("ahead of write_bytes"), "\(error)")
    }
}

extension RingTapTests {
    @Test(arguments: [QueuePolicy.dropOldest, .latest])
    func aTapBehindAProducerDroppingForAnIdleConsumerCountsItsSkips(policy: QueuePolicy) throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096, policy: policy), prefix: Self.prefix)
        var producer = try RingProducer(attachingTo: ring.name)
        let consumer = try RingConsumer(attachingTo: ring.name)  // attached, never reads: the producer drops for it
        var tap = try RingTap(tapping: ring.name)
        let total: UInt64 = 3000
        for value in 0..<total {
            #expect(try producer.send(value: value, extra: 24) == .sent(sequenceNumber: value))
            if value % 64 == 0, let frame = try tap.poll() { Self.expectPattern(frame, length: 32) }
        }
        #expect(producer.statistics.drops > 0)
        producer.close()
        while case .frame(let frame) = try tap.next(timeout: .seconds(5)) { Self.expectPattern(frame, length: 32) }
        #expect(tap.framesSkipped > 0)
        #expect(tap.framesSeen + tap.framesSkipped == total)
        _ = consumer.slotIndex
    }
}
