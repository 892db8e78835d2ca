import CChronetix
import ChronetixCore
import ChronetixSystem
import ChronetixTestSupport
import Glibc
import ShmDataPort
import Synchronization
import Testing

/// The ring between real processes: the other side is `chronetix-ring-peer` (Sources/chronetix-ring-peer),
/// started with Foundation's `Process`, killed with SIGKILL where a test needs a crash.
///
/// Every test kills and reaps its peers in a `defer` and removes its segments through `TestRing`'s `deinit`,
/// so a failure leaves nothing behind. No assertion depends on timing: where a test needs one side to be
/// asleep or behind, it waits for the condition itself (a flag in the header, a `READY` line).
@Suite(.serialized, .timeLimit(.minutes(1)))
struct CrossProcessTests {
    /// This suite's own segment prefix, so that its leak check and the other suites' never see each other's
    /// segments while they run in parallel.
    static let prefix = "/chronetix.xproc\(ProcessIdentity.current.pid)"

    // MARK: - Ordering and end of stream

    @Test(arguments: ["adaptive", "sleep", "spin"])
    func framesReachAnotherProcessInOrderAcrossManyWrapArounds(waitStrategy: String) throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
        var producer = try RingProducer(attachingTo: ring.name)
        let consumer = try RingPeer(
            ["consume", ring.name, "--first", "0", "--size", "8", "--size-cycle", "97", "--wait", waitStrategy]
        )
        defer { consumer.stop() }
        let total: UInt64 = 20_000
        // Payloads of 8 to 104 bytes: frames land at every offset, and pads and short tails both occur.
        guard try producer.sendInOrder(0..<total, extra: { Int($0 % 97) }) else { return }
        producer.close()
        let (line, status) = consumer.finish()
        let result = try #require(line)
        #expect(result.kind == "RESULT", "\(result)")
        #expect(status == 0)
        #expect(result["frames"] == total, "no frame lost or delivered twice")
        #expect(result["first"] == 0)
        #expect(result["last"] == total - 1)
        #expect(result["errors"] == 0, "every sequence number, length and payload byte as sent, in order")
        #expect(result["repeats"] == 0)
        #expect(result["skipped"] == 0)
        let after = ring.segment.status()
        #expect(after.writeBytes > 100 * 4096, "the counters wrapped the data area hundreds of times")
        #expect(after.consumers[0].releasedFrames == total)
    }

    // MARK: - Full and empty

    @Test func aProducerBlockedOnAFullRingIsWokenWhenAConsumerProcessReleases() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
        var producer = try RingProducer(attachingTo: ring.name)
        // The peer receives nothing until this producer has announced that it waits for room.
        let consumer = try RingPeer(["consume", ring.name, "--first", "0", "--size", "64", "--await-producer-waiting"])
        defer { consumer.stop() }
        let attached = try #require(consumer.next(["ATTACHED"]))
        try #require(attached.kind == "ATTACHED", "\(attached)")
        var sent: UInt64 = 0
        while case .sent = try producer.send(value: sent, extra: 56) { sent += 1 }
        #expect(sent == 4096 / 96, "the ring is full")
        // Blocks: only the peer's releases can make room.
        #expect(try producer.send(value: sent, extra: 56, timeout: .seconds(30)) == .sent(sequenceNumber: sent))
        #expect(producer.statistics.stalls >= 1, "the send waited for room")
        sent += 1
        let total: UInt64 = 1000
        guard try producer.sendInOrder(sent..<total, extra: { _ in 56 }) else { return }
        producer.close()
        let (line, status) = consumer.finish()
        let result = try #require(line)
        #expect(result.kind == "RESULT", "\(result)")
        #expect(status == 0)
        #expect(result["frames"] == total)
        #expect(result["last"] == total - 1)
        #expect(result["errors"] == 0)
    }

    @Test func aConsumerProcessAsleepOnAnEmptyRingIsWokenByAPublish() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
        var producer = try RingProducer(attachingTo: ring.name)
        let consumer = try RingPeer(["consume", ring.name, "--first", "0", "--size", "8", "--wait", "sleep"])
        defer { consumer.stop() }
        let attached = try #require(consumer.next(["ATTACHED"]))
        try #require(attached.kind == "ATTACHED", "\(attached)")
        // The consumer announces that it sleeps in consumers_waiting; only a producer clears it.
        let sleeping = try Self.awaitFlag(
            ring.name,
            offset: MemoryLayout<cx_ring_header>.offset(of: \.consumers_waiting)!
        )
        try #require(sleeping, "the consumer never went to sleep on the empty ring")
        for value in 0..<10 as Range<UInt64> {
            #expect(try producer.send(value: value, timeout: .seconds(30)) == .sent(sequenceNumber: value))
        }
        #expect(producer.statistics.wakes >= 1, "the publish found the sleeper's announcement and woke it")
        producer.close()
        let (line, status) = consumer.finish()
        let result = try #require(line)
        #expect(result.kind == "RESULT", "\(result)")
        #expect(status == 0)
        #expect(result["frames"] == 10)
        #expect(result["last"] == 9)
        #expect(result["errors"] == 0)
        #expect(result["stalls"].map { $0 >= 1 } == true, "the consumer found the ring empty and waited")
    }

    // MARK: - Fan-out

    @Test(arguments: [QueuePolicy.block, .dropOldest, .latest])
    func fanOutToAFastAndSlowConsumerProcesses(policy: QueuePolicy) throws {
        let total: UInt64 = 3000
        let isLossy = policy != .block
        // Slot 0 is fast; slot 1 pauses (holding nothing) every 50 frames; under the lossy policies slot 2 lags
        // by everything: it reads again only once the producer has closed the stream.
        let paces: [[String]] =
            [[], ["--pause-every", "50", "--pause-us", "2000"]] + (isLossy ? [["--lag-until-closed", "10"]] : [])
        let configuration = RingConfiguration(dataCapacity: 4096, consumerCount: paces.count, policy: policy)
        let ring = try TestRing(configuration, prefix: Self.prefix)
        let shape = ["--first", "0", "--size", "8", "--size-cycle", "50"] + (isLossy ? ["--allow-gaps"] : [])
        var consumers: [RingPeer] = []
        defer { for consumer in consumers { consumer.stop() } }
        for (slot, pace) in paces.enumerated() {
            consumers.append(try RingPeer(["consume", ring.name, "--slot", "\(slot)"] + shape + pace))
            let attached = try #require(consumers[slot].next(["ATTACHED"]))
            try #require(attached.kind == "ATTACHED", "\(attached)")
        }
        let producer = try RingPeer(
            ["produce", ring.name, "--frames", "\(total)", "--size", "8", "--size-cycle", "50", "--close"]
        )
        defer { producer.stop() }
        let (produced, producerStatus) = producer.finish()
        let production = try #require(produced)
        #expect(production.kind == "RESULT", "\(production)")
        #expect(producerStatus == 0)
        #expect(production["errors"] == 0)
        let reports = consumers.map { $0.finish() }
        let status = ring.segment.status()
        #expect(status.isClosed)
        #expect(status.writeFrames == total)
        for (slot, (line, exitStatus)) in reports.enumerated() {
            let result = try #require(line)
            #expect(result.kind == "RESULT", "slot \(slot): \(result)")
            #expect(exitStatus == 0)
            #expect(result["errors"] == 0, "slot \(slot): order, lengths and payloads intact")
            #expect(result["repeats"] == 0, "slot \(slot): nothing delivered twice")
            #expect(result["last"] == total - 1, "slot \(slot): the newest frame always arrives")
            let received = try #require(result["frames"])
            let drops = status.consumers[slot].drops
            #expect(received + drops == total, "slot \(slot): \(received) received + \(drops) dropped")
            #expect(result["skipped"] == drops, "slot \(slot): the frames it missed are exactly those counted")
            #expect(result["drops"] == drops)
            #expect(status.consumers[slot].releasedFrames == total)
        }
        if isLossy {
            #expect(status.consumers[2].drops > 0, "a consumer a ring-full behind lost frames")
        } else {
            #expect(status.consumers.allSatisfy { $0.drops == 0 }, "block never drops")
            #expect(production["drops"] == 0)
        }
    }

    @Test(arguments: [QueuePolicy.block, .dropOldest, .latest])
    func aConsumerProcessThatDetachesAndReattachesOftenKeepsItsPlace(policy: QueuePolicy) throws {
        let total: UInt64 = 20_000
        let isLossy = policy != .block
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096, policy: policy), prefix: Self.prefix)
        // Every 7 frames the consumer releases everything, detaches and attaches to its slot again, while the
        // producer goes on (and, under the lossy policies, drops for the slot whenever its claim is free).
        let consumer = try RingPeer(
            ["consume", ring.name, "--first", "0", "--size", "8", "--size-cycle", "50", "--reattach-every", "7"]
                + (isLossy ? ["--allow-gaps"] : [])
        )
        defer { consumer.stop() }
        let attached = try #require(consumer.next(["ATTACHED"]))
        try #require(attached.kind == "ATTACHED", "\(attached)")
        let producer = try RingPeer(
            ["produce", ring.name, "--frames", "\(total)", "--size", "8", "--size-cycle", "50", "--close"]
        )
        defer { producer.stop() }
        let (produced, producerStatus) = producer.finish()
        #expect(produced?.kind == "RESULT", "\(String(describing: produced))")
        #expect(producerStatus == 0)
        let (line, status) = consumer.finish()
        let result = try #require(line)
        #expect(result.kind == "RESULT", "\(result)")
        #expect(status == 0)
        #expect(result["errors"] == 0)
        #expect(result["repeats"] == 0)
        #expect(result["last"] == total - 1)
        let slot = ring.segment.status().consumers[0]
        let received = try #require(result["frames"])
        #expect(received + slot.drops == total, "\(received) received + \(slot.drops) dropped")
        #expect(result["skipped"] == slot.drops)
        #expect(slot.duplicates == 0, "it released everything before each detach")
        #expect(slot.attachCount == result["attaches"])
        if !isLossy { #expect(received == total) }
    }

    // MARK: - Crashes

    /// `diedBetweenReleaseStores`: the killed consumer is made to look as if it died between the two stores of
    /// a release (`released_frames` already counting its 44 unreleased frames, `released_bytes` not yet).
    @Test(arguments: [false, true])
    func aKilledConsumerProcessIsResumedWithItsUnreleasedFramesCountedAsDuplicates(
        diedBetweenReleaseStores: Bool
    ) throws {
        let total: UInt64 = 1000
        let capacity = RingConfiguration.capacity(forFrames: Int(total), ofPayload: 16)
        let ring = try TestRing(RingConfiguration(dataCapacity: capacity), prefix: Self.prefix)
        var producer = try RingProducer(attachingTo: ring.name)
        for value in 0..<600 as Range<UInt64> {
            #expect(try producer.send(value: value, extra: 8) == .sent(sequenceNumber: value))
        }
        // Releases every 64 frames, stops after 300 with the last 44 received but not released, and is killed.
        let first = try RingPeer(
            ["consume", ring.name, "--first", "0", "--size", "16"]
                + ["--release-every", "64", "--stop-after", "300", "--no-release"]
        )
        defer { first.stop() }
        let ready = try #require(first.next(["READY"]))
        try #require(ready.kind == "READY", "\(ready)")
        #expect(ready["errors"] == 0)
        let received = try #require(ready["received"])
        let released = try #require(ready["released"])
        #expect(received == 300)
        #expect(released == 256)
        first.stop()
        let slot = ring.segment.status().consumers[0]
        #expect(slot.readFrames == received)
        #expect(slot.releasedFrames == released)
        if diedBetweenReleaseStores {
            try Self.poke(ring.name, at: Self.consumerField(0, \.released_frames), received, width: 8)
        }
        // The producer goes on while no consumer is attached.
        for value in 600..<800 as Range<UInt64> {
            #expect(try producer.send(value: value, extra: 8) == .sent(sequenceNumber: value))
        }
        let second = try RingPeer(["consume", ring.name, "--size", "16"])
        defer { second.stop() }
        let attached = try #require(second.next(["ATTACHED"]))
        try #require(attached.kind == "ATTACHED", "\(attached)")
        #expect(attached["resumed"] == received - released)
        for value in 800..<total {
            #expect(try producer.send(value: value, extra: 8, timeout: .seconds(30)) == .sent(sequenceNumber: value))
        }
        producer.close()
        let (line, status) = second.finish()
        let result = try #require(line)
        #expect(result.kind == "RESULT", "\(result)")
        #expect(status == 0)
        #expect(result["errors"] == 0)
        // The first process delivered 0..<300, the second released..<total: every frame at least once.
        #expect(result["first"] == released, "the successor resumes at the last released frame")
        #expect(result["last"] == total - 1)
        #expect(result["frames"] == total - released)
        #expect(result["resumed"] == received - released)
        let after = ring.segment.status().consumers[0]
        #expect(after.duplicates == received - released, "exactly the received-but-unreleased frames came twice")
        #expect(after.attachCount == 2)
        #expect(after.releasedFrames == total)
    }

    @Test func aConsumerProcessKilledHoldingFramesUnderDropOldestNoLongerHoldsTheProducerBack() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096, policy: .dropOldest), prefix: Self.prefix)
        var producer = try RingProducer(attachingTo: ring.name)
        // While it holds unreleased frames the consumer holds its claim word, and the producer may not drop them.
        let first = try RingPeer(
            ["consume", ring.name, "--first", "0", "--size", "16", "--allow-gaps"]
                + ["--release-every", "64", "--stop-after", "300", "--no-release"]
        )
        defer { first.stop() }
        let attached = try #require(first.next(["ATTACHED"]))
        try #require(attached.kind == "ATTACHED", "\(attached)")
        var sent: UInt64 = 0
        var ready: RingPeer.Line?
        while ready == nil {
            // Never waits: when the ring is full, look for the peer's READY line instead.
            if case .sent = try producer.send(value: sent, extra: 8) {
                sent += 1
            } else {
                ready = first.next(["READY"], within: .milliseconds(20))
                try #require(ready.map { $0.kind != "ERROR" } ?? true, "\(String(describing: ready))")
                try #require(sent < 1_000_000, "the peer never stopped")
            }
        }
        let stopped = try #require(ready)
        #expect(stopped["errors"] == 0)
        let released = try #require(stopped["released"])
        first.stop()  // SIGKILL while it holds its claim and 44 unreleased frames
        #expect(try Self.peek(ring.name, at: Self.consumerField(0, \.claim)) == UInt32(bitPattern: first.pid), "a held claim is its holder's pid")
        // The ring is full for the dead consumer: the producer must free its claim and drop its frames.
        let total = sent + 1000
        guard try producer.sendInOrder(sent..<total, extra: { _ in 8 }) else { return }
        producer.close()
        let second = try RingPeer(["consume", ring.name, "--size", "16", "--allow-gaps"])
        defer { second.stop() }
        let (line, status) = second.finish()
        let result = try #require(line)
        #expect(result.kind == "RESULT", "\(result)")
        #expect(status == 0)
        #expect(result["errors"] == 0)
        #expect(result["repeats"] == 0)
        #expect(result["last"] == total - 1)
        #expect(result["resumed"] == 0, "the frames the dead consumer held were dropped, not delivered again")
        let slot = ring.segment.status().consumers[0]
        let receivedAfterwards = try #require(result["frames"])
        #expect(released + slot.drops + receivedAfterwards == total, "every frame released, dropped or received")
        #expect(slot.releasedFrames == total)
    }

    /// `consumerBehind`: a third consumer slot that has read nothing, so the successor finds the next sequence
    /// number by walking the frames still in the ring rather than from a caught-up consumer's count.
    @Test(arguments: [false, true])
    func aProducerKilledMidWriteLeavesOnlyItsCommittedFramesAndASuccessorContinues(consumerBehind: Bool) throws {
        let committed: UInt64 = 50
        let configuration = RingConfiguration(dataCapacity: 8192, consumerCount: consumerBehind ? 3 : 2)
        let ring = try TestRing(configuration, prefix: Self.prefix)
        var consumer = try RingConsumer(attachingTo: ring.name)
        let producer = try RingPeer(
            ["produce", ring.name, "--frames", "\(committed)", "--size", "64", "--hold-reservation"]
        )
        defer { producer.stop() }
        let ready = try #require(producer.next(["READY"]))
        try #require(ready.kind == "READY", "\(ready)")
        #expect(ready["held"] == committed)
        producer.stop()  // SIGKILL with half a frame written into its reservation

        var values: [UInt64] = []
        var gone: RingError?
        receiving: while true {
            do {
                switch try consumer.receive(timeout: .seconds(20)) {
                case .frame(let frame):
                    let value = frame.payload.loadUnaligned(as: UInt64.self)
                    #expect(frame.sequenceNumber == value)
                    #expect(frame.payload.count == 64)
                    let filler = frame.payload.dropFirst(8).enumerated()
                    #expect(filler.allSatisfy { $1 == UInt8(truncatingIfNeeded: value &+ UInt64($0)) }, "\(value)")
                    values.append(value)
                    consumer.release()
                case .wouldBlock:
                    Issue.record("the consumer waited 20 s instead of reporting the dead producer")
                    break receiving
                case .endOfStream:
                    Issue.record("end of stream, but the producer never closed it")
                    break receiving
                }
            } catch {
                gone = error
                break receiving
            }
        }
        #expect(values == Array(0..<committed), "the committed frames, and not the half-written one")
        #expect(gone?.code == .producerGone, "\(String(describing: gone))")
        // A consumer in another process learns the same, with its own exit status.
        let other = try RingPeer(["consume", ring.name, "--slot", "1", "--first", "0", "--size", "64"])
        defer { other.stop() }
        let (otherLine, otherStatus) = other.finish()
        #expect(otherLine?.kind == "ERROR")
        #expect(otherLine?.text.contains("producer gone") == true, "\(String(describing: otherLine))")
        #expect(otherStatus == 3)

        // As if it had died between its two stores of a commit: write_frames one ahead of write_bytes.
        try Self.poke(ring.name, at: MemoryLayout<cx_ring_header>.offset(of: \.write_frames)!, committed + 1, width: 8)
        // A new producer attaches (generation 2) and continues the sequence where the committed frames ended.
        let successor = try RingPeer(
            ["produce", ring.name, "--start", "\(committed)", "--frames", "20", "--size", "64", "--close"]
        )
        defer { successor.stop() }
        let (line, status) = successor.finish()
        let result = try #require(line)
        #expect(result.kind == "RESULT", "\(result)")
        #expect(status == 0)
        #expect(result["errors"] == 0, "each frame was committed with the sequence number it carries")
        #expect(result["generation"] == 2)
        while let frame = try consumer.receiveValue(timeout: .seconds(20)) {
            #expect(frame.sequence == frame.value)
            #expect(frame.length == 64)
            values.append(frame.value)
            consumer.release()
        }
        #expect(values == Array(0..<committed + 20))
        guard case .endOfStream = try consumer.receive(timeout: .seconds(20)) else {
            Issue.record("the successor closed the stream")
            return
        }
        if consumerBehind {
            // The consumer that was behind reads both generations as one stream.
            let behind = try RingPeer(["consume", ring.name, "--slot", "2", "--first", "0", "--size", "64"])
            defer { behind.stop() }
            let (behindLine, behindStatus) = behind.finish()
            #expect(behindLine?.kind == "RESULT", "\(String(describing: behindLine))")
            #expect(behindStatus == 0)
            #expect(behindLine?["frames"] == committed + 20)
            #expect(behindLine?["errors"] == 0)
        }
    }

    // MARK: - Hostile segments

    /// One header field overwritten with a value no correct peer writes.
    struct HeaderCorruption: Sendable, CustomTestStringConvertible {
        var field: String
        var offset: Int
        var width: Int
        var value: UInt64
        var code: RingError.Code
        /// What the error message must say.
        var message: String

        var testDescription: String { "\(field) = \(value)" }

        static func header<Field: FixedWidthInteger>(
            _ field: String,
            _ path: KeyPath<cx_ring_header, Field>,
            _ value: UInt64,
            _ code: RingError.Code,
            _ message: String
        ) -> Self {
            Self(
                field: field,
                offset: MemoryLayout<cx_ring_header>.offset(of: path)!,
                width: MemoryLayout<Field>.size,
                value: value,
                code: code,
                message: message
            )
        }

        static func consumer<Field: FixedWidthInteger>(
            _ index: Int,
            _ field: String,
            _ path: KeyPath<cx_ring_consumer, Field>,
            _ value: UInt64,
            _ message: String
        ) -> Self {
            Self(
                field: "consumers[\(index)].\(field)",
                offset: CrossProcessTests.consumerField(index, path),
                width: MemoryLayout<Field>.size,
                value: value,
                code: .corruptHeader,
                message: message
            )
        }
    }

    static let headerCorruptions: [HeaderCorruption] = [
        .header("magic", \.magic, 0x0123_4567_89ab_cdef, .badMagic, "magic is 0x123456789abcdef"),
        .header("magic", \.magic, 0, .notInitialized, "magic is still 0"),
        .header("layout_version", \.layout_version, 2, .unsupportedVersion, "layout_version is 2"),
        .header("header_size", \.header_size, 8192, .corruptHeader, "header_size is 8192"),
        .header("data_capacity", \.data_capacity, 12345, .corruptHeader, "data_capacity is 12345"),
        .header("data_capacity", \.data_capacity, 8192, .segmentSizeMismatch, "header promises 4096 + 8192"),
        .header("frame_alignment", \.frame_alignment, 12, .corruptHeader, "frame_alignment is 12"),
        .header("frame_header_size", \.frame_header_size, 16, .corruptHeader, "frame_header_size is 16"),
        .header("consumer_count", \.consumer_count, 17, .corruptHeader, "consumer_count is 17"),
        .header("queue_policy", \.queue_policy, 9, .corruptHeader, "queue_policy is 9"),
        .header("frame_capacity", \.frame_capacity, 0, .corruptHeader, "frame_capacity is 0"),
        .header("high_watermark", \.high_watermark, 4097, .corruptHeader, "high_watermark is 4097"),
        .header("low_watermark", \.low_watermark, 4096, .corruptHeader, "low_watermark is 4096"),
        .header("write_bytes", \.write_bytes, 3, .corruptHeader, "write_bytes 3 is not a multiple"),
        .consumer(0, "released_bytes", \.released_bytes, 8, "consumers[0].released_bytes is 8"),
        .consumer(0, "state", \.state, 9, "consumers[0].state is 9"),
        .consumer(1, "state", \.state, 1, "consumers[1].state is 1 beyond consumer_count 1"),
        .consumer(0, "claim", \.claim, 0xFFFF_0000, "consumers[0].claim is 4294901760"),
    ]

    @Test(arguments: headerCorruptions)
    func aCorruptHeaderIsRefusedNamingTheField(_ corruption: HeaderCorruption) throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
        try Self.poke(ring.name, at: corruption.offset, corruption.value, width: corruption.width)
        for side in ["consumer", "producer"] {
            let error = #expect(throws: RingError.self, "\(side)") {
                if side == "consumer" {
                    _ = try RingConsumer(attachingTo: ring.name)
                } else {
                    _ = try RingProducer(attachingTo: ring.name)
                }
            }
            #expect(error?.code == corruption.code, "\(side): \(String(describing: error))")
            #expect(error?.message.contains(corruption.message) == true, "\(side): \(String(describing: error))")
        }
    }

    @Test func aPeerProcessReportsACorruptHeaderAndFails() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
        try Self.poke(ring.name, at: 0, 0xbad as UInt64, width: 8)
        let consumer = try RingPeer(["consume", ring.name])
        defer { consumer.stop() }
        let (line, status) = consumer.finish()
        #expect(line?.kind == "ERROR")
        #expect(line?.text.contains("\(ring.name): bad magic: magic is 0xbad") == true, "\(String(describing: line))")
        #expect(status == 1)
    }

    @Test func aSegmentTooSmallForAHeaderOrNeverInitialisedIsRefused() throws {
        for (size, code, message) in [
            (100, RingError.Code.segmentSizeMismatch, "100 bytes, less than a header page"),
            (8192, .notInitialized, "magic is still 0"),
        ] {
            let name = "\(Self.prefix)-raw\(size).x.out"
            defer { try? SharedMemory.unlink(name: name) }  // this test's own object; gone already is fine
            _ = try SharedMemory.create(name: name, size: size)
            let error = #expect(throws: RingError.self) { _ = try RingConsumer(attachingTo: name) }
            #expect(error?.code == code, "\(String(describing: error))")
            #expect(error?.message.contains(message) == true, "\(String(describing: error))")
            #expect { _ = try RingProducer(attachingTo: name) } throws: { ($0 as? RingError)?.code == code }
        }
    }

    /// A frame header in the data area overwritten after the producer committed it.
    enum FrameCorruption: String, CaseIterable, Sendable {
        case lengthPastTheEnd, unknownKind, padOfTheWrongLength, sequenceOutOfOrder
    }

    @Test(arguments: FrameCorruption.allCases)
    func aHostileFrameHeaderIsACorruptFrameNotAnOutOfBoundsRead(_ corruption: FrameCorruption) throws {
        // 1000-byte payloads take 1032-byte slots: frames 0, 1, 2 at offsets 0, 1032, 2064; frame 3 does not
        // fit in the 1000 bytes left, so a pad fills offsets 3096..<4096 and frame 3 starts at offset 0 again.
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
        var producer = try RingProducer(attachingTo: ring.name)
        do {
            var consumer = try RingConsumer(attachingTo: ring.name)
            for value in 0..<3 as Range<UInt64> { _ = try producer.send(value: value, extra: 992) }
            #expect(try consumer.receiveValue()?.value == 0)
            #expect(try consumer.receiveValue()?.value == 1)
            consumer.release()
            #expect(try producer.send(value: 3, extra: 992) == .sent(sequenceNumber: 3))
            let data = 4096  // the data area follows the header page
            let length = MemoryLayout<cx_ring_frame_header>.offset(of: \.length)!
            let kind = MemoryLayout<cx_ring_frame_header>.offset(of: \.kind)!
            let sequence = MemoryLayout<cx_ring_frame_header>.offset(of: \.sequence)!
            let expected: String
            switch corruption {
            case .lengthPastTheEnd:
                try Self.poke(ring.name, at: data + 2064 + length, 0xFFFF_FFF0 as UInt64, width: 4)
                expected = "a frame of 4294967280 bytes runs past the end of the data area"
            case .unknownKind:
                try Self.poke(ring.name, at: data + 2064 + kind, 7, width: 1)
                expected = "frame kind 7 is neither data (1) nor pad (2)"
            case .padOfTheWrongLength:
                try Self.poke(ring.name, at: data + 3096 + length, 8, width: 4)
                expected = "a pad of 8 bytes does not fill the 968 bytes to the end"
            case .sequenceOutOfOrder:
                try Self.poke(ring.name, at: data + sequence, 99, width: 8)
                expected = "frame sequence number 99 where 3 was expected"
            }
            var error: RingError?
            do {
                while let frame = try consumer.receiveValue() { #expect(frame.value == 2) }
                Issue.record("the consumer reached the end without noticing the corrupt frame")
            } catch let caught as RingError {
                error = caught
            }
            #expect(error?.code == .corruptFrame, "\(String(describing: error))")
            #expect(error?.message.contains(expected) == true, "\(String(describing: error))")
        }
        // A consumer process resuming at the same place finds the same corruption (when it attaches or reads).
        let peer = try RingPeer(["consume", ring.name, "--timeout-ms", "5000"])
        defer { peer.stop() }
        let (line, status) = peer.finish()
        #expect(line?.kind == "ERROR")
        #expect(line?.text.contains("corrupt frame") == true, "\(String(describing: line))")
        #expect(status == 1)
        producer.close()
    }

    // MARK: - Cleanup

    @Test func nothingOfOursIsLeftInDevShmOrRunning() throws {
        #expect(try TestRing.leftovers(prefix: Self.prefix).isEmpty)
        #expect(RingPeer.survivors().isEmpty, "every peer was killed and reaped by its test")
    }

    // MARK: - Helpers

    /// Overwrites `width` bytes (little-endian) at `offset` of segment `name` through a mapping of its own.
    static func poke(_ name: String, at offset: Int, _ value: UInt64, width: Int) throws {
        let descriptor = try SharedMemory.open(name: name)
        let region = try MappedRegion(mapping: descriptor, length: try descriptor.size())
        withUnsafeBytes(of: value.littleEndian) { bytes in
            for index in 0..<width {
                region.unsafeBase.storeBytes(of: bytes[index], toByteOffset: offset + index, as: UInt8.self)
            }
        }
    }

    /// The 32-bit word at `offset` of segment `name`, read through a mapping of its own.
    static func peek(_ name: String, at offset: Int) throws -> UInt32 {
        let descriptor = try SharedMemory.open(name: name)
        let region = try MappedRegion(mapping: descriptor, length: 4096)
        let word = (region.unsafeBase + offset).assumingMemoryBound(to: Atomic<UInt32>.self)
        return word.pointee.load(ordering: .acquiring)
    }

    /// The offset in the segment of a field of consumer slot `index`.
    static func consumerField(_ index: Int, _ path: PartialKeyPath<cx_ring_consumer>) -> Int {
        MemoryLayout<cx_ring_header>.offset(of: \.consumers)! + index * MemoryLayout<cx_ring_consumer>.stride
            + MemoryLayout<cx_ring_consumer>.offset(of: path)!
    }

    /// Waits until the 32-bit header word at `offset` of segment `name` is non-zero; whether it became so
    /// within 30 seconds.
    static func awaitFlag(_ name: String, offset: Int) throws -> Bool {
        let descriptor = try SharedMemory.open(name: name)
        let region = try MappedRegion(mapping: descriptor, length: 4096)
        let word = (region.unsafeBase + offset).assumingMemoryBound(to: Atomic<UInt32>.self)
        let deadline = ContinuousClock.now + .seconds(30)
        while word.pointee.load(ordering: .acquiring) == 0 {
            if ContinuousClock.now >= deadline { return false }
            usleep(200)
        }
        return true
    }
}
