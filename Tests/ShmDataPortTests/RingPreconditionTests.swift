import ShmDataPort
import Testing

/// Misuse of the producer API is a programmer error: it traps instead of corrupting the ring.
@Suite struct RingPreconditionTests {
    @Test func commitWithoutAReservationTraps() async {
        await #expect(processExitsWith: .failure) {
            let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
            var producer = try RingProducer(attachingTo: ring.name)
            try ring.unlinkNow()  // this process dies by trap: remove the name while the mapping lives on
            producer.commit(length: 8)
        }
    }

    @Test func reservingTwiceWithoutCommitTraps() async {
        await #expect(processExitsWith: .failure) {
            let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
            var producer = try RingProducer(attachingTo: ring.name)
            try ring.unlinkNow()  // this process dies by trap: remove the name while the mapping lives on
            _ = try producer.reserve(capacity: 8)
            _ = try producer.reserve(capacity: 8)
        }
    }

    @Test func committingMoreThanWasReservedTraps() async {
        await #expect(processExitsWith: .failure) {
            let ring = try TestRing(RingConfiguration(dataCapacity: 4096))
            var producer = try RingProducer(attachingTo: ring.name)
            try ring.unlinkNow()  // this process dies by trap: remove the name while the mapping lives on
            _ = try producer.reserve(capacity: 8)
            producer.commit(length: 9)
        }
    }
}
