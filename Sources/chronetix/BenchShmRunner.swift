import ChronetixSystem
import Foundation
import Histogram
import ShmDataPort

/// The producing side of `chronetix bench shm`: makes the rings, starts the peer, moves the frames, checks
/// the peer's verdict and times the run.
///
/// Every segment name is removed as soon as both processes have mapped it (so nothing stays in /dev/shm even
/// if a process is killed afterwards), on every error path before that (a `defer`), and by ``BenchCleanup`` on
/// SIGINT or SIGTERM. The peer is killed and reaped on every exit path (``BenchPeerProcess``'s `deinit`).
struct BenchShmRunner {
    var mode: BenchShmMode
    var wait: BenchShmWait
    var seconds: Double
    var pin: Bool
    var ringSize: Int?
    var peerWatchdog: Double { seconds + 60 }

    /// Unique per run, so two benches never share a segment name.
    let runID = "bench-\(ProcessIdentity.current.pid)"

    // MARK: - Throughput

    /// Streams frames of `size` bytes for the configured duration and returns what the consumer received.
    func throughput(size: Int) throws(BenchFailure) -> BenchShmResult {
        let ringBytes = ringSize ?? BenchShmGeometry.throughputRing(size)
        let name = RingName.forEdge(runID: runID, node: "bench", output: "s\(size)")
        BenchCleanup.shared.register(segment: name)
        defer { Self.removeName(name) }
        let segment = try Self.create(name, ringBytes: ringBytes)
        var producer: RingProducer
        do {
            producer = try RingProducer(attachingTo: name, waitStrategy: wait.strategy)
        } catch {
            throw BenchFailure("cannot attach the producer: \(error)")
        }
        let peer = try BenchPeerProcess(arguments: peerArguments(segment: name, size: size))
        try Self.waitForPeer(peer) { segment.status().consumers.first?.state == .attached }
        try Self.remove(segment)
        pinProducer()

        let buffer = BenchBuffer(size: size)
        defer { buffer.deallocate() }
        let source = buffer.bytes
        let payload = UnsafeRawBufferPointer(rebasing: source[0..<size])
        // Read the clock every 256 frames below 4 KiB, every 16 below 64 KiB, else every frame (as the C reference).
        let clockMask: UInt64 = size < 4096 ? 255 : size < 65536 ? 15 : 0
        let limit = UInt64(seconds * 1e9)
        var sent: UInt64 = 0
        var peerExited = false
        let start = Clock.monotonicNanoseconds()
        do throws(RingError) {
            switch mode {
            case .copy:
                produce: while true {
                    source.storeBytes(of: sent, as: UInt64.self)
                    switch try producer.send(payload, timeout: .seconds(1)) {
                    case .sent:
                        sent &+= 1
                    case .wouldBlock:
                        // No room for a second: the consumer is slow or gone.
                        if !peer.isRunning {
                            peerExited = true
                            break produce
                        }
                    }
                    if sent & clockMask == 0 && Clock.monotonicNanoseconds() &- start >= limit { break }
                }
            case .zeroCopy:
                while true {
                    if let frame = try producer.reserve(capacity: size, timeout: .seconds(1)) {
                        // Every payload byte is written in place: the source stands for what a node would serialise.
                        frame.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: size)
                        frame.storeBytes(of: sent, as: UInt64.self)
                        producer.commit(length: size)
                        sent &+= 1
                    } else if !peer.isRunning {
                        peerExited = true
                        break
                    }
                    if sent & clockMask == 0 && Clock.monotonicNanoseconds() &- start >= limit { break }
                }
            }
        } catch {
            throw BenchFailure("size \(size): the producer failed after \(sent) frames: \(error)")
        }
        if peerExited { try Self.checkAlive(peer) }
        producer.close()
        let verdict = try Self.collect(peer, size: size, sent: sent)
        let statistics = producer.statistics
        return BenchShmResult(
            test: "throughput",
            size: size,
            mode: mode.rawValue,
            wait: wait.rawValue,
            ringBytes: ringBytes,
            frames: verdict.frames,
            seconds: Double(verdict.end &- start) / 1e9,
            latency: nil,
            waits: .init(
                producerStalls: statistics.stalls,
                producerSleeps: statistics.sleeps,
                consumerStalls: verdict.stalls,
                consumerSleeps: verdict.sleeps,
                timeouts: statistics.timeouts &+ verdict.timeouts
            )
        )
    }

    // MARK: - Latency

    /// Ping-pong over two rings for the configured duration after a 100 ms warm-up; one-way = round trip / 2.
    func latency(size: Int) throws(BenchFailure) -> BenchShmResult {
        let ringBytes = ringSize ?? BenchShmGeometry.latencyRing(size)
        let pingName = RingName.forEdge(runID: runID, node: "bench", output: "ping\(size)")
        let pongName = RingName.forEdge(runID: runID, node: "bench-peer", output: "pong\(size)")
        BenchCleanup.shared.register(segment: pingName)
        BenchCleanup.shared.register(segment: pongName)
        defer {
            Self.removeName(pingName)
            Self.removeName(pongName)
        }
        let pingSegment = try Self.create(pingName, ringBytes: ringBytes)
        let pongSegment = try Self.create(pongName, ringBytes: ringBytes)
        var producer: RingProducer
        do {
            producer = try RingProducer(attachingTo: pingName, waitStrategy: wait.strategy)
        } catch {
            throw BenchFailure("cannot attach the producer of the ping ring: \(error)")
        }
        var consumer: RingConsumer
        do {
            consumer = try RingConsumer(attachingTo: pongName, waitStrategy: wait.strategy)
        } catch {
            throw BenchFailure("cannot attach the consumer of the reply ring: \(error)")
        }
        let peer = try BenchPeerProcess(
            arguments: peerArguments(segment: pingName, size: size) + ["--reply", pongName]
        )
        try Self.waitForPeer(peer) {
            pingSegment.status().consumers.first?.state == .attached && pongSegment.status().producer != nil
        }
        try Self.remove(pingSegment)
        try Self.remove(pongSegment)
        pinProducer()

        let sourceBuffer = BenchBuffer(size: size)
        let destinationBuffer = BenchBuffer(size: size)
        defer {
            sourceBuffer.deallocate()
            destinationBuffer.deallocate()
        }
        let source = sourceBuffer.bytes
        let destination = destinationBuffer.bytes
        let payload = UnsafeRawBufferPointer(rebasing: source[0..<size])
        // Round trips in nanoseconds, 1 ns to 100 s at 3 significant digits; percentiles are halved for one-way.
        var roundTrips = Histogram<UInt64>(
            highestTrackableValue: 100_000_000_000,
            numberOfSignificantValueDigits: .three
        )
        let limit = UInt64(seconds * 1e9)
        let warmUpEnd = Clock.monotonicNanoseconds() &+ 100_000_000
        var sequence: UInt64 = 0
        var measured: UInt64 = 0
        var measuredStart: UInt64 = 0
        var measuredEnd: UInt64 = 0
        var errors = BenchSequenceChecker(size: size)
        var failure: BenchFailure? = nil
        do throws(RingError) {
            pingPong: while true {
                let sent = Clock.monotonicNanoseconds()
                switch mode {
                case .copy:
                    source.storeBytes(of: sequence, as: UInt64.self)
                    _ = try producer.send(payload)
                case .zeroCopy:
                    // Never nil without a timeout.
                    guard let frame = try producer.reserve(capacity: size) else { continue }
                    frame.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: size)
                    frame.storeBytes(of: sequence, as: UInt64.self)
                    producer.commit(length: size)
                }
                echo: while true {
                    switch try consumer.receive(timeout: .seconds(1)) {
                    case .frame(let frame):
                        let echoed = frame.payload
                        let value: UInt64
                        switch mode {
                        case .copy:
                            let count = min(echoed.count, destination.count)
                            destination.baseAddress!.copyMemory(from: echoed.baseAddress!, byteCount: count)
                            value = count >= 8 ? destination.load(as: UInt64.self) : ~sequence
                        case .zeroCopy:
                            value = echoed.count >= 8 ? echoed.loadUnaligned(as: UInt64.self) : ~sequence
                        }
                        errors.check(length: echoed.count, value: value, sequenceNumber: frame.sequenceNumber)
                        consumer.release()
                        break echo
                    case .wouldBlock:
                        // No echo for a second: the peer is slow or gone.
                        if !peer.isRunning {
                            failure = BenchFailure(
                                "size \(size): the peer (pid \(peer.pid)) exited during the ping-pong"
                            )
                            break pingPong
                        }
                    case .endOfStream:
                        failure = BenchFailure(
                            "size \(size): the peer closed the reply ring after \(sequence) round trips"
                        )
                        break pingPong
                    }
                }
                let received = Clock.monotonicNanoseconds()
                sequence &+= 1
                if sent < warmUpEnd { continue }
                if measuredStart == 0 { measuredStart = sent }
                roundTrips.record(received &- sent)
                measured &+= 1
                measuredEnd = received
                if received &- measuredStart >= limit { break }
            }
        } catch {
            throw BenchFailure("size \(size): the ping-pong failed after \(sequence) round trips: \(error)")
        }
        if let failure { throw failure }
        producer.close()
        let verdict = try Self.collect(peer, size: size, sent: sequence)
        if errors.errors > 0 {
            throw BenchFailure(
                "size \(size): \(errors.errors) echoed frames were wrong\n" + errors.messages.joined(separator: "\n")
            )
        }
        let producerStatistics = producer.statistics
        let consumerStatistics = consumer.statistics
        func oneWay(_ percentile: Double) -> Double { Double(roundTrips.valueAtPercentile(percentile)) / 2 }
        return BenchShmResult(
            test: "latency",
            size: size,
            mode: mode.rawValue,
            wait: wait.rawValue,
            ringBytes: ringBytes,
            frames: measured,
            seconds: Double(measuredEnd &- measuredStart) / 1e9,
            latency: .init(p50: oneWay(50), p99: oneWay(99), p999: oneWay(99.9)),
            waits: .init(
                producerStalls: producerStatistics.stalls,
                producerSleeps: producerStatistics.sleeps,
                consumerStalls: consumerStatistics.stalls,
                consumerSleeps: consumerStatistics.sleeps,
                timeouts: producerStatistics.timeouts &+ consumerStatistics.timeouts &+ verdict.timeouts
            )
        )
    }

    // MARK: - Helpers

    private func peerArguments(segment: String, size: Int) -> [String] {
        [
            "--segment", segment, "--size", "\(size)", "--mode", mode.rawValue, "--wait", wait.rawValue,
            pin ? "--pin" : "--no-pin", "--watchdog", "\(peerWatchdog)",
        ]
    }

    /// Pins this thread to CPU0 (the peer pins itself to CPU1), as the C reference does.
    private func pinProducer() {
        guard pin, CPU.onlineCount > 1 else { return }
        do {
            try CPU.pinCurrentThread(to: 0)
        } catch {
            StandardError.print("chronetix bench shm: warning: cannot pin to CPU0: \(error)")
        }
    }

    private static func create(_ name: String, ringBytes: Int) throws(BenchFailure) -> RingSegment {
        do {
            return try RingSegment(creating: name, configuration: RingConfiguration(dataCapacity: ringBytes))
        } catch {
            throw BenchFailure("cannot create the ring: \(error)")
        }
    }

    /// Removes a segment's name once both processes have mapped it.
    private static func remove(_ segment: consuming RingSegment) throws(BenchFailure) {
        let name = segment.name
        do {
            try segment.remove()
        } catch {
            throw BenchFailure("cannot remove the ring: \(error)")
        }
        BenchCleanup.shared.unregister(segment: name)
    }

    /// Removes a name on any exit path; a name already removed is fine.
    private static func removeName(_ name: String) {
        // ENOENT (already removed) is the normal case; any other failure is reported, nothing more can be done.
        do {
            try SharedMemory.unlink(name: name)
        } catch  where error.errno == .noSuchFile {
        } catch {
            StandardError.print("chronetix bench shm: warning: \(error)")
        }
        BenchCleanup.shared.unregister(segment: name)
    }

    /// Polls (every millisecond, for at most 10 s) until `isReady` holds; fails if the peer exits first.
    private static func waitForPeer(_ peer: BenchPeerProcess, isReady: () -> Bool) throws(BenchFailure) {
        let deadline = Clock.monotonicNanoseconds() &+ 10_000_000_000
        while !isReady() {
            try checkAlive(peer)
            if Clock.monotonicNanoseconds() >= deadline { throw BenchFailure("the peer did not attach within 10 s") }
            Thread.sleep(forTimeInterval: 0.001)
        }
    }

    private static func checkAlive(_ peer: BenchPeerProcess) throws(BenchFailure) {
        guard peer.isRunning else {
            let (status, _, _) = peer.finish(timeout: 0)
            throw BenchFailure("the peer (pid \(peer.pid)) exited early with status \(status)")
        }
    }

    /// The peer's `RESULT` line.
    private struct Verdict {
        var frames: UInt64 = 0
        var errors: UInt64 = 0
        var end: UInt64 = 0
        var stalls: UInt64 = 0
        var sleeps: UInt64 = 0
        var timeouts: UInt64 = 0
    }

    /// Waits for the peer to finish and checks its verdict: exit status 0, no errors, every frame received.
    private static func collect(_ peer: BenchPeerProcess, size: Int, sent: UInt64) throws(BenchFailure) -> Verdict {
        let (status, output, timedOut) = peer.finish(timeout: 30)
        if timedOut {
            throw BenchFailure("size \(size): the peer did not finish within 30 s after the end of the stream")
        }
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("RESULT ") }) else {
            throw BenchFailure("size \(size): the peer exited with status \(status) without a result")
        }
        var verdict = Verdict()
        for field in line.split(separator: " ").dropFirst() {
            let parts = field.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let value = UInt64(parts[1]) else { continue }
            switch parts[0] {
            case "frames": verdict.frames = value
            case "errors": verdict.errors = value
            case "end_ns": verdict.end = value
            case "stalls": verdict.stalls = value
            case "sleeps": verdict.sleeps = value
            case "timeouts": verdict.timeouts = value
            default: break
            }
        }
        if verdict.errors > 0 || status != 0 {
            throw BenchFailure(
                "size \(size): the peer found \(verdict.errors) wrong frames of \(verdict.frames) (exit status \(status))"
            )
        }
        if verdict.frames != sent {
            throw BenchFailure("size \(size): \(sent) frames were sent but the peer received \(verdict.frames)")
        }
        return verdict
    }
}
