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
    /// The rings' frame alignment (8, 16, 32 or 64).
    var alignment: Int = BenchShmGeometry.defaultAlignment
    /// Throughput: the producer publishes every `batch` frames (1: every frame, as `commit` does).
    var batch: Int = 1
    /// Throughput: seconds the ring stays idle (attached, no traffic) before the traffic, to measure what the
    /// waiting consumer costs; 0 skips it.
    var idleSeconds: Double = 0
    var peerWatchdog: Double { seconds + 60 }

    /// Unique per run, so two benches never share a segment name.
    let runID = "bench-\(ProcessIdentity.current.pid)"

    // MARK: - Throughput

    /// Streams frames of `size` bytes for the configured duration and returns what the consumer received.
    func throughput(size: Int) throws(BenchFailure) -> BenchShmResult {
        let ringBytes = ringSize ?? BenchShmGeometry.throughputRing(size, alignment: alignment)
        let name = RingName.forEdge(runID: runID, node: "bench", output: "s\(size)")
        BenchCleanup.shared.register(segment: name)
        defer { Self.removeName(name) }
        let segment = try create(name, ringBytes: ringBytes)
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
        let idle = idleSeconds > 0 ? try Self.measureIdle(peer, seconds: idleSeconds) : nil

        let buffer = BenchBuffer(size: size)
        defer { buffer.deallocate() }
        let source = buffer.bytes
        // Read the clock every 256 frames below 4 KiB, every 16 below 64 KiB, else every frame (as the C reference).
        let clockMask: UInt64 = size < 4096 ? 255 : size < 65536 ? 15 : 0
        let stream = BenchStream(
            size: size,
            batch: UInt64(batch),
            clockMask: clockMask,
            limit: UInt64(seconds * 1e9)
        )
        let start = Clock.monotonicNanoseconds()
        let sent: UInt64
        let peerExited: Bool
        do {
            (sent, peerExited) = try stream.run(&producer, source: source, peer: peer, start: start)
        } catch {
            throw BenchFailure("size \(size): the producer failed: \(error)")
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
            frameAlignment: alignment,
            batch: batch,
            frames: verdict.frames,
            seconds: Double(verdict.end &- start) / 1e9,
            latency: nil,
            idle: idle,
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
        let ringBytes = ringSize ?? BenchShmGeometry.latencyRing(size, alignment: alignment)
        let pingName = RingName.forEdge(runID: runID, node: "bench", output: "ping\(size)")
        let pongName = RingName.forEdge(runID: runID, node: "bench-peer", output: "pong\(size)")
        BenchCleanup.shared.register(segment: pingName)
        BenchCleanup.shared.register(segment: pongName)
        defer {
            Self.removeName(pingName)
            Self.removeName(pongName)
        }
        let pingSegment = try create(pingName, ringBytes: ringBytes)
        let pongSegment = try create(pongName, ringBytes: ringBytes)
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
        var pingPong = BenchPingPong(size: size, mode: mode, limit: UInt64(seconds * 1e9))
        let outcome: BenchPingPong.Outcome
        do {
            outcome = try pingPong.run(
                &producer,
                &consumer,
                source: sourceBuffer.bytes,
                destination: destinationBuffer.bytes,
                peer: peer
            )
        } catch {
            throw BenchFailure(
                "size \(size): the ping-pong failed after \(pingPong.sequence) round trips: \(error)"
            )
        }
        switch outcome {
        case .done: break
        case .peerExited: throw BenchFailure("size \(size): the peer (pid \(peer.pid)) exited during the ping-pong")
        case .peerClosed:
            throw BenchFailure("size \(size): the peer closed the reply ring after \(pingPong.sequence) round trips")
        }
        producer.close()
        let verdict = try Self.collect(peer, size: size, sent: pingPong.sequence)
        let checker = pingPong.checker
        if checker.errors > 0 {
            throw BenchFailure(
                "size \(size): \(checker.errors) echoed frames were wrong\n" + checker.messages.joined(separator: "\n")
            )
        }
        let roundTrips = pingPong.roundTrips.histogram
        let producerStatistics = producer.statistics
        let consumerStatistics = consumer.statistics
        func oneWay(_ percentile: Double) -> Double { Double(roundTrips.valueAtPercentile(percentile)) / 2 }
        return BenchShmResult(
            test: "latency",
            size: size,
            mode: mode.rawValue,
            wait: wait.rawValue,
            ringBytes: ringBytes,
            frameAlignment: alignment,
            batch: 1,
            frames: pingPong.roundTrips.count,
            seconds: pingPong.roundTrips.seconds,
            latency: .init(p50: oneWay(50), p99: oneWay(99), p999: oneWay(99.9)),
            idle: nil,
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
            pin ? "--pin" : "--no-pin", "--watchdog", "\(peerWatchdog)", "--parent", "\(ProcessIdentity.current.pid)",
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

    private func create(_ name: String, ringBytes: Int) throws(BenchFailure) -> RingSegment {
        do {
            return try RingSegment(
                creating: name,
                configuration: RingConfiguration(dataCapacity: ringBytes, frameAlignment: alignment)
            )
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

    /// Leaves the ring idle for `seconds` (after 50 ms for the peer to settle into its wait) and returns the CPU
    /// time the waiting consumer used meanwhile, from `/proc/PID/stat` (whole clock ticks, 10 ms each here).
    private static func measureIdle(
        _ peer: BenchPeerProcess,
        seconds: Double
    ) throws(BenchFailure) -> BenchShmResult.Idle {
        Thread.sleep(forTimeInterval: 0.05)
        guard let before = peer.cpuTicks() else { throw BenchFailure("cannot read /proc/\(peer.pid)/stat") }
        Thread.sleep(forTimeInterval: seconds)
        guard let after = peer.cpuTicks() else { throw BenchFailure("cannot read /proc/\(peer.pid)/stat") }
        let ticksPerSecond = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
        let used = Double(after &- before) / ticksPerSecond
        return .init(seconds: seconds, consumerCPUSeconds: used, consumerCPUPercent: 100 * used / seconds)
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

/// The producer's loop of a throughput run, in a function of its own so that the ring's hot path is inlined
/// into a small loop.
struct BenchStream {
    var size: Int
    var batch: UInt64
    var clockMask: UInt64
    var limit: UInt64

    /// Sends frames until `limit` nanoseconds after `start`; returns how many, and whether it stopped because
    /// the peer exited (no room for a second and the peer gone).
    @inline(never)
    func run(
        _ producer: inout RingProducer,
        source: UnsafeMutableRawBufferPointer,
        peer: BenchPeerProcess,
        start: UInt64
    ) throws(RingError) -> (sent: UInt64, peerExited: Bool) {
        var sent: UInt64 = 0
        // In every mode, as the C reference's producer: reserve, copy every payload byte from the source buffer
        // (`send` does the same copy), write the sequence number over the first 8 bytes in the ring, commit;
        // publish every `batch` frames. The sequence number is not written into the source first: the copy's
        // wide load would then wait for that narrow store to reach the cache, behind the ring stores still
        // waiting for their cache lines (a failed store-to-load forward), and the bench would time that stall.
        var untilPublish = batch
        while true {
            if let frame = try producer.reserve(capacity: size, timeout: .seconds(1)) {
                frame.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: size)
                frame.storeBytes(of: sent, as: UInt64.self)
                if batch == 1 {
                    producer.commit(length: size)
                } else {
                    producer.commitWithoutPublishing(length: size)
                    untilPublish &-= 1
                    if untilPublish == 0 {
                        producer.publish()
                        untilPublish = batch
                    }
                }
                sent &+= 1
            } else if !peer.isRunning {
                return (sent, true)
            }
            if sent & clockMask == 0 && Clock.monotonicNanoseconds() &- start >= limit { return (sent, false) }
        }
    }
}

/// The ping-pong of a latency run, in a function of its own so that the ring's hot path is inlined into a
/// small loop: send one frame, wait for its echo, record the round trip (after a 100 ms warm-up).
struct BenchPingPong {
    enum Outcome {
        case done, peerExited, peerClosed
    }

    let size: Int
    let mode: BenchShmMode
    let limit: UInt64
    /// Round trips sent (warm-up included): the next sequence number.
    private(set) var sequence: UInt64 = 0
    /// The round trips measured after the warm-up; percentiles are halved for one-way.
    private(set) var roundTrips: BenchRoundTrips
    /// Checks every echo as the peer checks every frame.
    private(set) var checker: BenchSequenceChecker

    init(size: Int, mode: BenchShmMode, limit: UInt64) {
        self.size = size
        self.mode = mode
        self.limit = limit
        self.checker = BenchSequenceChecker(size: size)
        self.roundTrips = BenchRoundTrips(limit: limit)
    }

    @inline(never)
    mutating func run(
        _ producer: inout RingProducer,
        _ consumer: inout RingConsumer,
        source: UnsafeMutableRawBufferPointer,
        destination: UnsafeMutableRawBufferPointer,
        peer: BenchPeerProcess
    ) throws(RingError) -> Outcome {
        roundTrips = BenchRoundTrips(limit: limit)
        while true {
            let sent = Clock.monotonicNanoseconds()
            // As the throughput producer (and the C reference): copy, then the sequence number in the ring.
            // Never nil without a timeout.
            guard let frame = try producer.reserve(capacity: size) else { continue }
            frame.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: size)
            frame.storeBytes(of: sequence, as: UInt64.self)
            producer.commit(length: size)
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
                    checker.check(length: echoed.count, value: value, sequenceNumber: frame.sequenceNumber)
                    consumer.release()
                    break echo
                case .wouldBlock:
                    // No echo for a second: the peer is slow or gone.
                    if !peer.isRunning { return .peerExited }
                case .endOfStream:
                    return .peerClosed
                }
            }
            let received = Clock.monotonicNanoseconds()
            sequence &+= 1
            if roundTrips.record(sent: sent, received: received) { return .done }
        }
    }
}
