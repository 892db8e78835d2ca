// chronetix-ring-peer: the other process of the cross-process ring tests (Tests/ShmDataPortTests).
//
// It attaches to one ring in one role, does one scripted thing, and reports on stdout, one line each:
//
//   ATTACHED key=value …   as soon as it is attached (tests wait for it before they go on)
//   READY key=value …      when it has reached the point where the test kills it; it then sleeps until killed
//   RESULT key=value …     at the end, then exits 0
//   ERROR <description>    on failure, then exits 1 (RingError), 2 (usage), 3 (RingError producerGone)
//                          or 4 (nothing arrived, or no room, within --timeout-ms)
//
// Usage:
//   chronetix-ring-peer produce <ring> --frames N [--start V] [--size S] [--size-cycle C] [--close]
//                               [--hold-reservation] [--wait adaptive|sleep|spin] [--timeout-ms T]
//   chronetix-ring-peer consume <ring> [--slot I] [--first V] [--allow-gaps] [--size S] [--size-cycle C]
//                               [--release-every K] [--stop-after N [--no-release]]
//                               [--pause-every K --pause-us U] [--lag-until-closed K] [--reattach-every K]
//                               [--await-producer-waiting] [--wait adaptive|sleep|spin] [--timeout-ms T]
//
// Payloads: frame V carries V as 8 little-endian bytes, then byte i (from 0) of the rest is the low byte of
// V + i; its payload length is S + V % C (C = 0: always S; S >= 8). The tests' in-process helpers
// (`RingProducer.send(value:extra:)`) write the same bytes, so either side can be in the test process.
//
// This is a test tool, not a runtime executable: it parses its arguments by hand (no ArgumentParser) and
// imports Glibc for write(2), usleep(3) and pause(2).

import ChronetixCore
import ChronetixSystem
import Glibc
import ShmDataPort
import Synchronization

// MARK: - Exit statuses and output

/// The process's exit statuses; the tests tell the outcomes apart by them.
enum ExitStatus {
    static let success: Int32 = 0
    static let ringError: Int32 = 1
    static let usage: Int32 = 2
    static let producerGone: Int32 = 3
    static let timeout: Int32 = 4
}

/// Why the scripted action stopped early; mapped to an `ERROR` line and an exit status in one place.
enum PeerFailure: Error {
    case usage(String)
    case timeout(String)
}

/// Writes `line` and a newline to `descriptor` with write(2): unbuffered, so a line printed just before the
/// process is killed has already reached the test.
func emit(_ line: String, to descriptor: Int32 = STDOUT_FILENO) {
    let bytes = Array((line + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0 {
            if errno == EINTR { continue }
            return  // the test closed its end: nobody is left to read the line
        }
        offset += written
    }
}

/// Diagnostics for a person reading the test log (the test's stderr is inherited).
func note(_ text: String) {
    emit("chronetix-ring-peer[\(getpid())]: \(text)", to: STDERR_FILENO)
}

/// Waits for SIGKILL from the test.
func sleepUntilKilled() -> Never {
    while true { pause() }
}

// MARK: - Arguments

/// The command line: a role, a ring name, then `--name value` options and `--flag` switches.
struct Arguments {
    static let valued: Set<String> = [
        "--frames", "--start", "--size", "--size-cycle", "--wait", "--timeout-ms", "--slot", "--first",
        "--release-every", "--stop-after", "--pause-every", "--pause-us", "--lag-until-closed", "--reattach-every",
    ]
    static let switches: Set<String> = [
        "--close", "--hold-reservation", "--allow-gaps", "--no-release", "--await-producer-waiting",
    ]

    var role: String
    var ring: String
    var values: [String: String] = [:]
    var flags: Set<String> = []

    init(_ arguments: [String]) throws(PeerFailure) {
        guard arguments.count >= 2 else { throw .usage("expected a role (produce or consume) and a ring name") }
        role = arguments[0]
        ring = arguments[1]
        var index = 2
        while index < arguments.count {
            let argument = arguments[index]
            if Self.switches.contains(argument) {
                flags.insert(argument)
                index += 1
            } else if Self.valued.contains(argument) {
                guard index + 1 < arguments.count else { throw .usage("\(argument) needs a value") }
                values[argument] = arguments[index + 1]
                index += 2
            } else {
                throw .usage("unknown argument \(argument)")
            }
        }
    }

    func has(_ flag: String) -> Bool { flags.contains(flag) }

    func integer(_ name: String) throws(PeerFailure) -> UInt64? {
        guard let text = values[name] else { return nil }
        guard let value = UInt64(text) else { throw .usage("\(name) needs a non-negative integer, got \(text)") }
        return value
    }

    func integer(_ name: String, default fallback: UInt64) throws(PeerFailure) -> UInt64 {
        try integer(name) ?? fallback
    }

    var waitStrategy: WaitStrategy {
        get throws(PeerFailure) {
            switch values["--wait"] ?? "adaptive" {
            case "adaptive": .adaptive
            case "sleep": .sleep
            case "spin": .spin
            case let other: throw .usage("--wait is adaptive, sleep or spin, not \(other)")
            }
        }
    }

    var timeout: Duration {
        get throws(PeerFailure) { .milliseconds(Int64(try integer("--timeout-ms", default: 30_000))) }
    }

    var shape: PayloadShape? {
        get throws(PeerFailure) {
            guard let size = try integer("--size") else { return nil }
            guard size >= 8 else { throw .usage("--size must be at least 8 (the sequence value)") }
            return PayloadShape(size: Int(size), cycle: try integer("--size-cycle", default: 0))
        }
    }
}

// MARK: - Payloads

/// The payload length of each frame: `size + value % cycle`.
struct PayloadShape {
    var size: Int
    var cycle: UInt64

    func length(of value: UInt64) -> Int { cycle == 0 ? size : size + Int(value % cycle) }
}

enum Payload {
    /// Writes the first `count` bytes of frame `value`'s payload into `buffer`.
    static func fill(_ buffer: UnsafeMutableRawBufferPointer, value: UInt64, count: Int) {
        withUnsafeBytes(of: value.littleEndian) { header in
            for index in 0..<min(8, count) { buffer[index] = header[index] }
        }
        if count > 8 {
            for index in 8..<count { buffer[index] = UInt8(truncatingIfNeeded: value &+ UInt64(index - 8)) }
        }
    }

    /// The first payload byte (after the value) that is not what ``fill(_:value:count:)`` writes, if any.
    static func firstWrongByte(_ payload: UnsafeRawBufferPointer, value: UInt64) -> Int? {
        guard payload.count > 8 else { return nil }
        for index in 8..<payload.count where payload[index] != UInt8(truncatingIfNeeded: value &+ UInt64(index - 8)) {
            return index
        }
        return nil
    }
}

/// Checks every received frame: its value against the sequence, its length and every payload byte.
struct Verifier {
    let shape: PayloadShape?
    let allowsGaps: Bool
    /// The value the next frame should carry; `nil` before the first frame when no `--first` was given.
    var expected: UInt64?
    var frames: UInt64 = 0
    var first: UInt64?
    var last: UInt64?
    /// Values jumped over (drops seen from this side); an error unless gaps are allowed.
    var skipped: UInt64 = 0
    /// Frames whose value was not above the previous one: a duplicate or a reordering within this process.
    var repeats: UInt64 = 0
    var errors: UInt64 = 0

    mutating func check(_ frame: UnsafeRingFrame) {
        frames += 1
        let payload = frame.payload
        guard payload.count >= 8 else {
            fail("frame \(frame.sequenceNumber) has \(payload.count) payload bytes, fewer than 8")
            return
        }
        let value = UInt64(littleEndian: payload.loadUnaligned(as: UInt64.self))
        if first == nil { first = value }
        if frame.sequenceNumber != value {
            fail("frame with sequence number \(frame.sequenceNumber) carries value \(value)")
        }
        if let shape, payload.count != shape.length(of: value) {
            fail("frame \(value) has \(payload.count) payload bytes, expected \(shape.length(of: value))")
        }
        if let wrong = Payload.firstWrongByte(payload, value: value) {
            fail("frame \(value): payload byte \(wrong) is wrong")
        }
        if let last, value <= last {
            repeats += 1
            fail("frame \(value) after frame \(last)")
        } else if let expected, value != expected {
            if value > expected && allowsGaps {
                skipped += value - expected
            } else {
                fail("frame \(value) where \(expected) was expected")
            }
        }
        last = value
        expected = value &+ 1
    }

    mutating func fail(_ message: String) {
        errors += 1
        if errors <= 5 { note(message) }
    }

    var summary: String {
        "frames=\(frames) first=\(first.map(String.init) ?? "none") last=\(last.map(String.init) ?? "none") "
            + "skipped=\(skipped) repeats=\(repeats) errors=\(errors)"
    }
}

// MARK: - Roles

/// `produce`: attaches as the producer and sends frames `start ..< start + frames`.
func produce(_ arguments: Arguments) throws -> String {
    let frames = try arguments.integer("--frames", default: 0)
    let start = try arguments.integer("--start", default: 0)
    let shape = try arguments.shape ?? PayloadShape(size: 8, cycle: 0)
    let timeout = try arguments.timeout
    var producer = try RingProducer(attachingTo: arguments.ring, waitStrategy: try arguments.waitStrategy)
    emit("ATTACHED role=produce generation=\(producer.status().generation)")
    var errors: UInt64 = 0
    for value in start..<(start + frames) {
        let length = shape.length(of: value)
        guard let buffer = try producer.reserve(capacity: length, timeout: timeout) else {
            throw PeerFailure.timeout("no room for frame \(value) within \(timeout)")
        }
        Payload.fill(buffer, value: value, count: length)
        let sequence = producer.commit(length: length)
        if sequence != value {
            errors += 1
            if errors <= 5 { note("frame \(value) was committed with sequence number \(sequence)") }
        }
    }
    if arguments.has("--hold-reservation") {
        // One more frame, reserved and half written, never committed: the test kills this process now.
        let value = start + frames
        let length = shape.length(of: value)
        guard let buffer = try producer.reserve(capacity: length, timeout: timeout) else {
            throw PeerFailure.timeout("no room for the held frame \(value) within \(timeout)")
        }
        Payload.fill(buffer, value: value, count: length / 2)
        emit("READY role=produce frames=\(frames) held=\(value)")
        sleepUntilKilled()
    }
    if arguments.has("--close") { producer.close() }
    let statistics = producer.statistics
    let range = frames == 0 ? "first=none last=none" : "first=\(start) last=\(start + frames - 1)"
    return "RESULT role=produce frames=\(frames) \(range) errors=\(errors) "
        + "generation=\(producer.status().generation) drops=\(statistics.drops) stalls=\(statistics.stalls) "
        + "sleeps=\(statistics.sleeps) wakes=\(statistics.wakes)"
}

/// `consume`: attaches to a consumer slot and receives until end of stream (or `--stop-after`), checking
/// every frame.
func consume(_ arguments: Arguments) throws -> String {
    let slot = Int(clamping: try arguments.integer("--slot", default: 0))
    let releaseEvery = max(1, try arguments.integer("--release-every", default: 1))
    let stopAfter = try arguments.integer("--stop-after")
    let pauseEvery = try arguments.integer("--pause-every", default: 0)
    let pauseMicroseconds = UInt32(clamping: try arguments.integer("--pause-us", default: 0))
    let lagUntilClosed = try arguments.integer("--lag-until-closed")
    let timeout = try arguments.timeout
    var verifier = Verifier(
        shape: try arguments.shape,
        allowsGaps: arguments.has("--allow-gaps"),
        expected: try arguments.integer("--first")
    )
    let reattachEvery = try arguments.integer("--reattach-every")
    if reattachEvery == 0 { throw PeerFailure.usage("--reattach-every needs at least 1") }
    let waitStrategy = try arguments.waitStrategy
    var consumer = try RingConsumer(attachingTo: arguments.ring, slot: slot, waitStrategy: waitStrategy)
    emit("ATTACHED role=consume slot=\(slot) resumed=\(consumer.resumedDuplicates)")
    if arguments.has("--await-producer-waiting") { try awaitProducerWaiting(arguments.ring, timeout: timeout) }

    var released: UInt64 = 0
    var unreleased: UInt64 = 0
    var attaches: UInt64 = 1
    func releaseAll(_ consumer: inout RingConsumer) {
        consumer.release()
        released += unreleased
        unreleased = 0
    }
    receiving: while stopAfter.map({ verifier.frames < $0 }) ?? true {
        switch try consumer.receive(timeout: timeout) {
        case .frame(let frame):
            verifier.check(frame)
            unreleased += 1
            if unreleased == releaseEvery { releaseAll(&consumer) }
            if pauseEvery > 0 && verifier.frames % pauseEvery == 0 {
                // Slow, but holding nothing: under the lossy policies the producer may drop meanwhile.
                releaseAll(&consumer)
                usleep(pauseMicroseconds)
            }
            if let lagUntilClosed, verifier.frames == lagUntilClosed {
                releaseAll(&consumer)
                try awaitClose(consumer, timeout: timeout)
            }
            if let reattachEvery, verifier.frames % reattachEvery == 0 {
                // Detach cleanly (everything released) and attach to the same slot again, as a restarted node.
                releaseAll(&consumer)
                _ = consume consumer
                consumer = try RingConsumer(attachingTo: arguments.ring, slot: slot, waitStrategy: waitStrategy)
                attaches += 1
            }
        case .wouldBlock:
            throw PeerFailure.timeout("no frame and no end of stream within \(timeout) after \(verifier.frames) frames")
        case .endOfStream:
            break receiving
        }
    }
    if stopAfter != nil && arguments.has("--no-release") {
        emit("READY role=consume received=\(verifier.frames) released=\(released) \(verifier.summary)")
        sleepUntilKilled()
    }
    releaseAll(&consumer)
    let status = consumer.status().consumers[slot]
    let statistics = consumer.statistics
    return "RESULT role=consume slot=\(slot) \(verifier.summary) resumed=\(consumer.resumedDuplicates) "
        + "duplicates=\(status.duplicates) drops=\(status.drops) stalls=\(statistics.stalls) "
        + "sleeps=\(statistics.sleeps) wakes=\(statistics.wakes) attaches=\(attaches)"
}

/// Waits until the ring's producer has announced that it sleeps for room (`producer_waiting`, which
/// RingStatus does not report), so that the test's producer is certainly blocked before this consumer frees
/// anything. Reads the header through a mapping of its own.
func awaitProducerWaiting(_ name: String, timeout: Duration) throws {
    let descriptor = try SharedMemory.open(name: name)
    let header = try MappedRegion(mapping: descriptor, length: 4096)
    // offsetof(cx_ring_header, producer_waiting), pinned by a _Static_assert in CChronetix.h.
    let producerWaiting = (header.unsafeBase + 324).assumingMemoryBound(to: Atomic<UInt32>.self)
    let deadline = ContinuousClock.now + timeout
    while producerWaiting.pointee.load(ordering: .acquiring) == 0 {
        guard ContinuousClock.now < deadline else {
            throw PeerFailure.timeout("the producer did not wait for room within \(timeout)")
        }
        usleep(200)
    }
}

/// Waits until the producer closed the stream (the slowest possible consumer: it lags by everything).
func awaitClose(_ consumer: borrowing RingConsumer, timeout: Duration) throws {
    let deadline = ContinuousClock.now + timeout
    while !consumer.status().isClosed {
        guard ContinuousClock.now < deadline else {
            throw PeerFailure.timeout("the stream was not closed within \(timeout)")
        }
        usleep(1000)
    }
}

// MARK: - Main

/// Runs the role and maps every outcome to its line and exit status (the only place that does).
func run() -> Int32 {
    // Best effort: a peer must not outlive the test that started it; if prctl fails, the test's own
    // kill-and-wait cleanup still ends it.
    try? Processes.setParentDeathSignal(.kill)
    do {
        let arguments = try Arguments(Array(CommandLine.arguments.dropFirst()))
        let result: String
        switch arguments.role {
        case "produce": result = try produce(arguments)
        case "consume": result = try consume(arguments)
        default: throw PeerFailure.usage("unknown role \(arguments.role); expected produce or consume")
        }
        emit(result)
        return ExitStatus.success
    } catch let error as RingError {
        emit("ERROR \(error)")
        return error.code == .producerGone ? ExitStatus.producerGone : ExitStatus.ringError
    } catch PeerFailure.usage(let message) {
        emit("ERROR usage: \(message)")
        return ExitStatus.usage
    } catch PeerFailure.timeout(let message) {
        emit("ERROR timeout: \(message)")
        return ExitStatus.timeout
    } catch {
        emit("ERROR \(error)")
        return ExitStatus.ringError
    }
}

exit(run())
