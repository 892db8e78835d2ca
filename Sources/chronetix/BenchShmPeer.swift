import ArgumentParser
import ChronetixSystem
import Dispatch
import Foundation
import ShmDataPort

/// The consumer side of `chronetix bench shm`, started by it as a separate process (hidden from help).
///
/// Throughput: receives every frame of `--segment`, checks its length and sequence number, and at the end of the
/// stream prints one `RESULT` line (frames, errors, the CLOCK_MONOTONIC time it saw the end). Latency (with
/// `--reply`): echoes every frame on the reply ring until the end of the stream, then closes the reply ring.
struct BenchShmPeer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shm-peer",
        abstract: "The consumer process of `chronetix bench shm` (started by it; not for direct use).",
        shouldDisplay: false
    )

    @Option(help: "The ring to consume.")
    var segment: String

    @Option(help: "Latency: the ring to echo every frame on.")
    var reply: String?

    @Option(help: "The payload size every frame must have.")
    var size: Int

    @Option(help: "copy or zero-copy.")
    var mode: BenchShmMode = .copy

    @Option(help: "spin, sleep or adaptive.")
    var wait: BenchShmWait = .adaptive

    @Flag(inversion: .prefixedNo, help: "Pin this process to CPU1.")
    var pin = true

    @Option(help: "Exit with status 3 after this many seconds, whatever happens.")
    var watchdog: Double = 120

    @Option(help: "The bench's pid: the peer exits at once if its parent is already another process.")
    var parent: Int32?

    func run() throws {
        try BenchPeerSetup.install(name: "chronetix bench shm-peer", parent: parent, watchdog: watchdog)
        if pin && CPU.onlineCount > 1 {
            do {
                try CPU.pinCurrentThread(to: 1)
            } catch {
                StandardError.print("chronetix bench shm-peer: warning: cannot pin to CPU1: \(error)")
            }
        }
        var checker = BenchSequenceChecker(size: size)
        let end: UInt64
        let statistics: WaitStatistics
        do {
            if let reply {
                (end, statistics) = try echo(to: reply, checker: &checker)
            } else {
                (end, statistics) = try consume(checker: &checker)
            }
        } catch {
            StandardError.print("chronetix bench shm-peer: \(error)")
            for message in checker.messages { StandardError.print("chronetix bench shm-peer: \(message)") }
            throw ExitCode(1)
        }
        print(
            "RESULT frames=\(checker.expected) errors=\(checker.errors) end_ns=\(end) stalls=\(statistics.stalls) "
                + "sleeps=\(statistics.sleeps) wakes=\(statistics.wakes) timeouts=\(statistics.timeouts)"
        )
        for message in checker.messages { StandardError.print("chronetix bench shm-peer: \(message)") }
        if checker.errors > 0 { throw ExitCode(1) }
    }

    /// Throughput: receives until the end of the stream; returns when it saw the end, and its wait statistics.
    private func consume(checker: inout BenchSequenceChecker) throws(RingError) -> (UInt64, WaitStatistics) {
        var consumer = try RingConsumer(attachingTo: segment, waitStrategy: wait.strategy)
        let buffer = BenchBuffer(size: size)
        defer { buffer.deallocate() }
        switch mode {
        case .copy: try Self.consumeCopying(&consumer, into: buffer.bytes, checker: &checker)
        case .zeroCopy: try Self.consumeInPlace(&consumer, checker: &checker)
        }
        return (Clock.monotonicNanoseconds(), consumer.statistics)
    }

    /// Copies every payload out, as a node that keeps its input would, until the end of the stream. A function of
    /// its own (as the next one) so that the ring's hot path is inlined into a small loop.
    @inline(never)
    private static func consumeCopying(
        _ consumer: inout RingConsumer,
        into destination: UnsafeMutableRawBufferPointer,
        checker: inout BenchSequenceChecker
    ) throws(RingError) {
        while true {
            switch try consumer.receive() {
            case .frame(let frame):
                _ = Self.copyOut(frame, into: destination, checker: &checker)
                consumer.release()
            case .endOfStream:
                return
            case .wouldBlock:
                continue  // not returned without a timeout
            }
        }
    }

    /// Reads each frame in place, only its sequence number, as the C reference's `+inplace` consumer does.
    @inline(never)
    private static func consumeInPlace(
        _ consumer: inout RingConsumer,
        checker: inout BenchSequenceChecker
    ) throws(RingError) {
        while true {
            switch try consumer.receive() {
            case .frame(let frame):
                let payload = frame.payload
                let value = payload.count >= 8 ? payload.loadUnaligned(as: UInt64.self) : ~checker.expected
                checker.check(length: payload.count, value: value, sequenceNumber: frame.sequenceNumber)
                consumer.release()
            case .endOfStream:
                return
            case .wouldBlock:
                continue  // not returned without a timeout
            }
        }
    }

    /// Latency: echoes every frame on `reply` until the end of the stream, then closes `reply`.
    private func echo(
        to reply: String,
        checker: inout BenchSequenceChecker
    ) throws(RingError) -> (UInt64, WaitStatistics) {
        var consumer = try RingConsumer(attachingTo: segment, waitStrategy: wait.strategy)
        var producer = try RingProducer(attachingTo: reply, waitStrategy: wait.strategy)
        let buffer = BenchBuffer(size: size)
        defer { buffer.deallocate() }
        try Self.echo(&consumer, to: &producer, mode: mode, through: buffer.bytes, checker: &checker)
        producer.close()
        return (Clock.monotonicNanoseconds(), consumer.statistics)
    }

    /// Copies a frame's payload into `destination` (up to its size) and checks the copied sequence number.
    /// Returns the bytes copied. Inlined into both consuming loops.
    @inline(__always)
    private static func copyOut(
        _ frame: UnsafeRingFrame,
        into destination: UnsafeMutableRawBufferPointer,
        checker: inout BenchSequenceChecker
    ) -> Int {
        let payload = frame.payload
        let count = min(payload.count, destination.count)
        destination.baseAddress!.copyMemory(from: payload.baseAddress!, byteCount: count)
        let value = count >= 8 ? destination.load(as: UInt64.self) : ~checker.expected
        checker.check(length: payload.count, value: value, sequenceNumber: frame.sequenceNumber)
        return count
    }

    /// The echo loop, in a function of its own so that the ring's hot path is inlined into it.
    @inline(never)
    private static func echo(
        _ consumer: inout RingConsumer,
        to producer: inout RingProducer,
        mode: BenchShmMode,
        through buffer: UnsafeMutableRawBufferPointer,
        checker: inout BenchSequenceChecker
    ) throws(RingError) {
        while true {
            switch try consumer.receive() {
            case .frame(let frame):
                let payload = frame.payload
                switch mode {
                case .copy:
                    // Copy out and release, then send the copy back: what the C reference's echo does.
                    let count = Self.copyOut(frame, into: buffer, checker: &checker)
                    consumer.release()
                    // Without a timeout send waits for room: the result is always .sent.
                    _ = try producer.send(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                case .zeroCopy:
                    // Straight from one ring into the other, then release.
                    let value = payload.count >= 8 ? payload.loadUnaligned(as: UInt64.self) : ~checker.expected
                    checker.check(length: payload.count, value: value, sequenceNumber: frame.sequenceNumber)
                    // Never nil without a timeout.
                    guard let reserved = try producer.reserve(capacity: payload.count) else { continue }
                    if payload.count > 0 {
                        reserved.baseAddress!.copyMemory(from: payload.baseAddress!, byteCount: payload.count)
                    }
                    producer.commit(length: payload.count)
                    consumer.release()
                }
            case .endOfStream:
                return
            case .wouldBlock:
                continue  // not returned without a timeout
            }
        }
    }
}

/// Checks that frames arrive with the expected length and consecutive sequence numbers from 0: no loss, no
/// duplicate, no reordering. Keeps the first few problems for the report.
struct BenchSequenceChecker {
    let size: Int
    /// The next expected sequence number; also the number of frames seen.
    private(set) var expected: UInt64 = 0
    private(set) var errors: UInt64 = 0
    private(set) var messages: [String] = []

    init(size: Int) { self.size = size }

    /// Checks one frame: its payload length, the sequence number at the start of its payload, and the ring's
    /// sequence number for it.
    @inline(__always)
    mutating func check(length: Int, value: UInt64, sequenceNumber: UInt64) {
        if length != size || value != expected || sequenceNumber != expected {
            record(length: length, value: value, sequenceNumber: sequenceNumber)
        }
        expected &+= 1
    }

    @inline(never)
    private mutating func record(length: Int, value: UInt64, sequenceNumber: UInt64) {
        errors &+= 1
        guard messages.count < 5 else { return }
        messages.append(
            "frame \(expected): payload of \(length) bytes (expected \(size)), payload sequence \(value), "
                + "frame sequence number \(sequenceNumber) (expected \(expected))"
        )
    }
}

/// A page-aligned, pre-faulted buffer of at least 8 bytes for payloads (as the C reference's `xmalloc_aligned`).
struct BenchBuffer {
    let bytes: UnsafeMutableRawBufferPointer

    init(size: Int) {
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 8), alignment: 4096)
        // Fault every page in before anything is timed.
        bytes.initializeMemory(as: UInt8.self, repeating: 0xA5)
    }

    func deallocate() { bytes.deallocate() }
}
