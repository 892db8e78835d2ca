import ChronetixCore
import ChronetixSystem
import ShmDataPort
import Testing

/// The ring's protocol with the producer and the consumers in this process (the cross-process suite runs
/// the same protocol between real processes).
@Suite(.serialized, .timeLimit(.minutes(1)))
struct RingBehaviourTests {
    @Test func framesArriveInOrderAcrossManyWrapArounds() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
        var producer = try RingProducer(attachingTo: ring.name)
        var consumer = try RingConsumer(attachingTo: ring.name)
        var next: UInt64 = 0
        var expected: UInt64 = 0
        // Sizes cycle so that frames land at every offset and pads and short tails both occur.
        while expected < 5000 {
            let extra = Int(next % 97)
            if case .sent(let sequence) = try producer.send(value: next, extra: extra) {
                #expect(sequence == next)
                next += 1
                continue
            }
            // Full: drain a few, releasing as we go.
            for _ in 0..<3 {
                guard let frame = try consumer.receiveValue() else { break }
                #expect(frame.value == expected)
                #expect(frame.sequence == expected)
                #expect(frame.length == 8 + Int(expected % 97))
                expected += 1
            }
            consumer.release()
        }
        #expect(producer.status().writeBytes > 10 * 4096, "the counters wrapped the data area many times")
    }

    @Test func aFullRingRefusesWithoutWaitingAndReleaseMakesRoom() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
        var producer = try RingProducer(attachingTo: ring.name)
        var consumer = try RingConsumer(attachingTo: ring.name)
        var sent: UInt64 = 0
        while case .sent = try producer.send(value: sent, extra: 56) { sent += 1 }
        #expect(sent == 4096 / 96, "96-byte slots fill the 4 KiB ring exactly")
        #expect(try producer.send(value: 99, extra: 56) == .wouldBlock)
        // Received but not released frames still hold their credits.
        #expect(try consumer.receiveValue()?.value == 0)
        #expect(try producer.send(value: 99, extra: 56) == .wouldBlock)
        consumer.release()
        #expect(try producer.send(value: sent, extra: 56) == .sent(sequenceNumber: sent))
    }

    @Test func anEmptyRingReportsWouldBlockAndThenEndOfStream() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
        var producer = try RingProducer(attachingTo: ring.name)
        var consumer = try RingConsumer(attachingTo: ring.name)
        #expect(try consumer.receiveValue() == nil)
        guard case .wouldBlock = try consumer.receive(timeout: .milliseconds(20)) else {
            Issue.record("an empty ring must time out")
            return
        }
        _ = try producer.send(value: 7)
        producer.close()
        #expect(try consumer.receiveValue()?.value == 7, "frames committed before close are delivered")
        consumer.release()
        guard case .endOfStream = try consumer.receive(timeout: .seconds(5)) else {
            Issue.record("a drained, closed ring is at end of stream")
            return
        }
        #expect(throws: RingError.self) { try producer.send(value: 8) }
    }

    @Test func metadataAndZeroCopyReservationsRoundTrip() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 8192, frameAlignment: 64))
        var producer = try RingProducer(attachingTo: ring.name)
        var consumer = try RingConsumer(attachingTo: ring.name)
        let metadata = FrameMetadata(
            timestampNanoseconds: 123,
            deadlineNanoseconds: 456,
            priority: 3,
            contentType: UInt8(ContentType.f64.wireIdentifier),
            flags: 0
        )
        let buffer = try #require(try producer.reserve(capacity: 100))
        for index in 0..<100 { buffer[index] = UInt8(index) }
        #expect(producer.commit(length: 40, metadata: metadata) == 0, "a commit may be shorter than its reservation")
        // An abandoned reservation publishes nothing.
        _ = try #require(try producer.reserve(capacity: 10))
        producer.abandonReservation()
        guard case .frame(let frame) = try consumer.receive(timeout: .zero) else {
            Issue.record("frame expected")
            return
        }
        #expect(frame.metadata == metadata)
        #expect(Array(frame.payload) == (0..<40).map { UInt8($0) })
        #expect(Int(bitPattern: frame.payload.baseAddress!) % 32 == 0, "payloads are aligned to min(alignment, 32)")
        consumer.release()
        #expect(try consumer.receiveValue() == nil)
    }

    @Test func aFrameLargerThanHalfTheRingIsRefused() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
        var producer = try RingProducer(attachingTo: ring.name)
        let error = #expect(throws: RingError.self) { _ = try producer.reserve(capacity: 4000) }
        #expect(error?.code == .frameTooLarge)
        #expect(try producer.reserve(capacity: 2048 - 32) != nil)
    }

    @Test func fanOutUnderBlockIsBoundedByTheSlowestConsumer() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096, consumerCount: 2))
        var producer = try RingProducer(attachingTo: ring.name)
        var fast = try RingConsumer(attachingTo: ring.name, slot: 0)
        var slow = try RingConsumer(attachingTo: ring.name, slot: 1)
        var sent: UInt64 = 0
        while case .sent = try producer.send(value: sent, extra: 56) { sent += 1 }
        while let frame = try fast.receiveValue() { #expect(frame.value < sent) }
        fast.release()
        #expect(try producer.send(value: sent, extra: 56) == .wouldBlock, "the slow consumer still holds every slot")
        #expect(try slow.receiveValue()?.value == 0)
        slow.release()
        #expect(try producer.send(value: sent, extra: 56) == .sent(sequenceNumber: sent))
        // Both consumers see every frame, in order, with no copy per consumer.
        var slowSeen: [UInt64] = []
        while let frame = try slow.receiveValue() { slowSeen.append(frame.value) }
        #expect(slowSeen == Array(1...sent))
        #expect(try fast.receiveValue()?.value == sent)
        #expect(producer.status().consumers.allSatisfy { $0.drops == 0 }, "block never drops")
    }

    @Test func dropOldestCountsEveryDropAndKeepsTheNewestFrames() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096, consumerCount: 2, policy: .dropOldest))
        var producer = try RingProducer(attachingTo: ring.name)
        var fast = try RingConsumer(attachingTo: ring.name, slot: 0)
        var slow = try RingConsumer(attachingTo: ring.name, slot: 1)
        let total: UInt64 = 1000
        var fastSeen: [UInt64] = []
        for value in 0..<total {
            #expect(try producer.send(value: value, extra: 56) == .sent(sequenceNumber: value), "a lossy ring never refuses")
            while let frame = try fast.receiveValue() { fastSeen.append(frame.value) }
            fast.release()
        }
        var slowSeen: [UInt64] = []
        while let frame = try slow.receiveValue() { slowSeen.append(frame.value) }
        slow.release()
        let status = producer.status()
        #expect(fastSeen == Array(0..<total))
        #expect(status.consumers[0].drops == 0)
        // The slow consumer got the newest ring-full, in order; every other frame is counted.
        #expect(slowSeen == Array((total - UInt64(slowSeen.count))..<total))
        #expect(status.consumers[1].drops + UInt64(slowSeen.count) == total)
        #expect(status.consumers[1].drops > 0)
    }

    @Test func latestDeliversOnlyTheNewestFrame() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096, policy: .latest))
        var producer = try RingProducer(attachingTo: ring.name)
        var consumer = try RingConsumer(attachingTo: ring.name)
        for value in 0..<10 as Range<UInt64> { _ = try producer.send(value: value) }
        #expect(try consumer.receiveValue()?.value == 9)
        consumer.release()
        #expect(try consumer.receiveValue() == nil)
        for value in 10..<500 as Range<UInt64> { #expect(try producer.send(value: value, extra: 100) == .sent(sequenceNumber: value)) }
        #expect(try consumer.receiveValue()?.value == 499)
        consumer.release()
        #expect(producer.status().consumers[0].drops == 498, "every frame but the two delivered is a counted drop")
    }

    @Test func aReattachedConsumerResumesAtItsLastReleaseAndCountsDuplicates() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 8192))
        var producer = try RingProducer(attachingTo: ring.name)
        for value in 0..<10 as Range<UInt64> { _ = try producer.send(value: value) }
        do {
            var first = try RingConsumer(attachingTo: ring.name)
            for expected in 0..<4 as Range<UInt64> { #expect(try first.receiveValue()?.value == expected) }
            first.release()
            for expected in 4..<7 as Range<UInt64> { #expect(try first.receiveValue()?.value == expected) }
            // Gone without releasing 4, 5 and 6.
        }
        var second = try RingConsumer(attachingTo: ring.name)
        #expect(second.resumedDuplicates == 3)
        var seen: [UInt64] = []
        while let frame = try second.receiveValue() { seen.append(frame.value) }
        #expect(seen == Array(4..<10), "nothing lost: the unreleased frames come again")
        #expect(second.status().consumers[0].duplicates == 3)
        #expect(second.status().consumers[0].attachCount == 2)
    }

    @Test func aReattachedProducerContinuesTheSequence() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 8192))
        var consumer = try RingConsumer(attachingTo: ring.name)
        do {
            var first = try RingProducer(attachingTo: ring.name)
            for value in 0..<5 as Range<UInt64> { _ = try first.send(value: value) }
            _ = try first.reserve(capacity: 64)  // never committed: no consumer ever sees it
        }
        #expect(try consumer.receiveValue()?.value == 0)
        consumer.release()
        var second = try RingProducer(attachingTo: ring.name)
        #expect(try second.send(value: 5) == .sent(sequenceNumber: 5))
        var seen: [UInt64] = []
        while let frame = try consumer.receiveValue() {
            #expect(frame.sequence == frame.value)
            seen.append(frame.value)
        }
        #expect(seen == [1, 2, 3, 4, 5])
        #expect(second.status().generation == 2)
    }

    @Test func aSecondLiveProducerOrConsumerIsRefused() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096, consumerCount: 2))
        let producer = try RingProducer(attachingTo: ring.name)
        let consumer = try RingConsumer(attachingTo: ring.name, slot: 1)
        #expect { _ = try RingProducer(attachingTo: ring.name) } throws: { ($0 as? RingError)?.code == .producerAttached }
        #expect { _ = try RingConsumer(attachingTo: ring.name, slot: 1) } throws: { ($0 as? RingError)?.code == .slotInUse }
        #expect { _ = try RingConsumer(attachingTo: ring.name, slot: 2) } throws: { ($0 as? RingError)?.code == .slotOutOfRange }
        _ = producer.status()
        _ = consumer.status()
    }

    @Test func aRetiredConsumerNoLongerHoldsTheProducerBack() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096, consumerCount: 2))
        var producer = try RingProducer(attachingTo: ring.name)
        var sent: UInt64 = 0
        while case .sent = try producer.send(value: sent, extra: 56) { sent += 1 }
        try ring.segment.retireConsumer(1)
        var consumer = try RingConsumer(attachingTo: ring.name, slot: 0)
        while try consumer.receiveValue() != nil {}
        consumer.release()
        #expect(try producer.send(value: sent, extra: 56) == .sent(sequenceNumber: sent))
        #expect { _ = try RingConsumer(attachingTo: ring.name, slot: 1) } throws: { ($0 as? RingError)?.code == .slotRetired }
    }

    @Test func aDetachedProducerIsReportedGoneOnceTheRingIsDrained() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
        var consumer = try RingConsumer(attachingTo: ring.name, waitStrategy: .sleep)
        do {
            var producer = try RingProducer(attachingTo: ring.name)
            _ = try producer.send(value: 1)
        }
        #expect(try consumer.receiveValue()?.value == 1)
        consumer.release()
        let error = #expect(throws: RingError.self) { _ = try consumer.receive(timeout: .seconds(5)) }
        #expect(error?.code == .producerGone)
    }

    /// The coordinator ends the stream of a producer that is gone for good: its consumers get every committed
    /// frame, then end of stream (not "producer gone"); a live producer's stream is not the coordinator's to end.
    @Test func theCreatorEndsTheStreamOfAGoneProducerOnly() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
        var consumer = try RingConsumer(attachingTo: ring.name, waitStrategy: .sleep)
        do {
            var producer = try RingProducer(attachingTo: ring.name)
            _ = try producer.send(value: 1)
            _ = try producer.send(value: 2)
            let refused = try !ring.segment.endStreamOfGoneProducer()
            #expect(refused, "refused while the producer is attached")
        }
        let ended = try ring.segment.endStreamOfGoneProducer()
        #expect(ended)
        #expect(try consumer.receiveValue()?.value == 1)
        #expect(try consumer.receiveValue()?.value == 2)
        consumer.release()
        guard case .endOfStream = try consumer.receive(timeout: .seconds(5)) else {
            Issue.record("expected the end of the stream")
            return
        }
        #expect { _ = try RingProducer(attachingTo: ring.name) } throws: { ($0 as? RingError)?.code == .streamClosed }
    }

    @Test func nothingIsLeftInDevShm() throws {
        do {
            let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
            #expect(try TestRing.leftovers().contains(ring.name))
        }
        #expect(try TestRing.leftovers().isEmpty)
    }
}

extension RingBehaviourTests {
    @Test func aFailedAttachGivesTheSlotBack() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
        var producer = try RingProducer(attachingTo: ring.name)
        _ = try producer.send(value: 1)
        do {
            // Corrupt the first frame's kind byte (the data area starts one header page into the segment).
            let descriptor = try SharedMemory.open(name: ring.name)
            let region = try MappedRegion(mapping: descriptor, length: 8192)
            unsafe region.unsafeBase.storeBytes(of: 7 as UInt8, toByteOffset: 4096 + 4, as: UInt8.self)
        }
        for _ in 0..<2 {
            // Both times the frame is the problem, never "slot in use" by this very process.
            #expect { _ = try RingConsumer(attachingTo: ring.name) } throws: { ($0 as? RingError)?.code == .corruptFrame }
        }
        #expect(producer.status().consumers[0].process == nil)
    }
}
