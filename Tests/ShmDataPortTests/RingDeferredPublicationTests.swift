import ChronetixSystem
import ShmDataPort
import Testing

/// `commitWithoutPublishing` and `publish`: frames become visible in batches, and never stay hidden when the
/// producer runs out of room, closes or goes away.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct RingDeferredPublicationTests {
    @Test func framesCommittedWithoutPublishingAppearAtPublish() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
        var producer = try RingProducer(attachingTo: ring.name)
        var consumer = try RingConsumer(attachingTo: ring.name)
        for value: UInt64 in 0..<3 {
            #expect(try Self.commitUnpublished(&producer, value: value) == value)
        }
        #expect(try consumer.receiveValue() == nil, "nothing is visible before publish()")
        #expect(producer.status().writeFrames == 0)
        producer.publish()
        for value: UInt64 in 0..<3 {
            let frame = try #require(try consumer.receiveValue())
            #expect(frame.value == value)
            #expect(frame.sequence == value)
        }
        #expect(try consumer.receiveValue() == nil)
        // A plain commit publishes the frames before it too.
        _ = try Self.commitUnpublished(&producer, value: 3)
        #expect(try producer.send(value: 4) == .sent(sequenceNumber: 4))
        #expect(try consumer.receiveValue()?.value == 3)
        #expect(try consumer.receiveValue()?.value == 4)
    }

    @Test func aProducerOutOfRoomPublishesWhatItCommitted() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
        var producer = try RingProducer(attachingTo: ring.name)
        var consumer = try RingConsumer(attachingTo: ring.name)
        var committed: UInt64 = 0
        while let buffer = try producer.tryReserve(capacity: 64) {
            buffer.storeBytes(of: committed, as: UInt64.self)
            producer.commitWithoutPublishing(length: 64)
            committed += 1
        }
        #expect(committed == 4096 / 96, "96-byte slots fill the 4 KiB ring exactly")
        // Finding no room published every committed frame, so the consumer can release room.
        var received: UInt64 = 0
        while let frame = try consumer.tryReceive() {
            #expect(frame.sequenceNumber == received)
            received += 1
        }
        #expect(received == committed)
        consumer.release()
        #expect(try producer.tryReserve(capacity: 64) != nil)
    }

    @Test func closeAndDetachPublishWhatWasCommitted() throws {
        let closing = try TestRing(RingConfiguration(dataCapacity: 4096), label: "closing")
        var producer = try RingProducer(attachingTo: closing.name)
        var consumer = try RingConsumer(attachingTo: closing.name)
        _ = try Self.commitUnpublished(&producer, value: 0)
        _ = try Self.commitUnpublished(&producer, value: 1)
        producer.close()
        #expect(try consumer.receiveValue()?.value == 0)
        #expect(try consumer.receiveValue()?.value == 1)
        consumer.release()
        guard case .endOfStream = try consumer.receive(timeout: .seconds(5)) else {
            Issue.record("a drained, closed ring is at end of stream")
            return
        }

        let detaching = try TestRing(RingConfiguration(dataCapacity: 4096), label: "detaching")
        var reader = try RingConsumer(attachingTo: detaching.name)
        do {
            var writer = try RingProducer(attachingTo: detaching.name)
            _ = try Self.commitUnpublished(&writer, value: 7)
        }  // the producer goes away without closing
        #expect(try reader.receiveValue()?.value == 7)
    }

    /// Reserves an 8-byte frame holding `value` and commits it without publishing; returns its sequence number.
    private static func commitUnpublished(_ producer: inout RingProducer, value: UInt64) throws -> UInt64 {
        let buffer = try #require(try producer.tryReserve(capacity: 8))
        buffer.storeBytes(of: value, as: UInt64.self)
        return producer.commitWithoutPublishing(length: 8)
    }
}
