import ArgumentParser
import ChronetixSystem
import Foundation

/// `chronetix bench`: measurements users run on their own machine.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measures parts of the runtime on this machine.",
        subcommands: [BenchShm.self, BenchShmPeer.self, BenchBus.self, BenchBusPeer.self]
    )
}

/// `chronetix bench shm`: what the shared-memory ring does here, between two processes.
struct BenchShm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shm",
        abstract: "Measures the shared-memory ring between two processes: throughput, or latency with --latency.",
        discussion: """
            This process produces frames and a second `chronetix` process consumes them, each pinned to its own \
            CPU unless --no-pin. Every payload starts with its 8-byte sequence number; the consumer checks every \
            frame (no loss, no duplicate, no reordering) and the command fails if one is wrong. Throughput time \
            runs from the first send to the consumer's receipt of the end of the stream. Exit status: 0 when every \
            frame arrived intact, 1 otherwise.
            """
    )

    @Option(help: "Payload sizes in bytes, comma-separated; K, M and G suffixes are binary (4K = 4096).")
    var sizes = ByteCountList([8, 64, 512, 4096, 65536, 1 << 20, 4 << 20])

    @Option(help: "Seconds of traffic per size.")
    var duration: Double = 1

    @Option(
        help:
            "copy: the consumer copies every payload out. zero-copy: it reads each frame in place. The producer copies every payload in from a buffer in both."
    )
    var mode: BenchShmMode = .copy

    @Option(help: "spin, sleep, or adaptive (spin 20 µs, then sleep on the futex).")
    var wait: BenchShmWait = .adaptive

    @Option(
        name: .customLong("ring-size"),
        help: "Data bytes per ring (a power of two). Default: max(256K, pow2ceil(4 × frame slot)); 64K for --latency."
    )
    var ringSize: ByteCount?

    @Option(help: "The rings' frame alignment: 8 (the ring's default), 16, 32 or 64.")
    var frameAlignment = BenchShmGeometry.defaultAlignment

    @Option(help: "Throughput: publish every N frames instead of every frame (as the C reference's PUBLISH_BATCH).")
    var batch = 1

    @Option(help: "Throughput: seconds of an idle ring before each size's traffic; reports the waiting consumer's CPU.")
    var idle: Double = 0

    @Flag(help: "Measure one-way latency (round trip / 2 of a ping-pong over two rings) instead of throughput.")
    var latency = false

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    @Flag(inversion: .prefixedNo, help: "Pin the producer to CPU0 and the consumer to CPU1.")
    var pin = true

    func validate() throws {
        guard duration > 0, duration <= 3600 else {
            throw ValidationError("--duration must be between 0 and 3600 seconds")
        }
        for size in sizes.values where size < BenchShmGeometry.minimumSize {
            throw ValidationError("size \(size) is below 8 bytes: every payload starts with its 8-byte sequence number")
        }
        guard [8, 16, 32, 64].contains(frameAlignment) else {
            throw ValidationError("--frame-alignment must be 8, 16, 32 or 64")
        }
        if let ringSize {
            let bytes = ringSize.value
            guard bytes >= 4096, bytes <= 1 << 30, bytes & (bytes - 1) == 0 else {
                throw ValidationError("--ring-size \(bytes) is not a power of two between 4K and 1G")
            }
            for size in sizes.values where size > BenchShmGeometry.maximumPayload(ring: bytes) {
                throw ValidationError(
                    "size \(size) does not fit a ring of \(ByteCount.format(bytes)) "
                        + "(at most \(BenchShmGeometry.maximumPayload(ring: bytes)) bytes per frame)"
                )
            }
        } else {
            for size in sizes.values {
                let ring =
                    latency
                    ? BenchShmGeometry.latencyRing(size, alignment: frameAlignment)
                    : BenchShmGeometry.throughputRing(size, alignment: frameAlignment)
                if ring > 1 << 30 { throw ValidationError("size \(size) needs a ring above the largest, 1G") }
            }
        }
        if latency && batch != 1 { throw ValidationError("--batch applies to throughput only") }
        if latency && idle != 0 { throw ValidationError("--idle applies to throughput only") }
    }

    func run() throws {
        BenchCleanup.shared.installSignalHandlers()
        let runner = BenchShmRunner(
            mode: mode,
            wait: wait,
            seconds: duration,
            pin: pin,
            ringSize: ringSize?.value,
            alignment: frameAlignment,
            batch: batch,
            idleSeconds: idle
        )
        let pinning = pin && CPU.onlineCount > 1 ? "producer on CPU0, consumer on CPU1" : "not pinned"
        Self.emit(
            "chronetix bench shm: \(latency ? "latency (one-way = round trip / 2)" : "throughput"), mode \(mode.rawValue), "
                + "wait \(wait.rawValue)\(batch > 1 && !latency ? ", publishing every \(batch) frames" : ""), \(pinning), "
                + "\(duration) s per size"
        )
        Self.emit(latency ? BenchShmTable.latencyHeader() : BenchShmTable.throughputHeader())
        var results: [BenchShmResult] = []
        do {
            for size in sizes.values {
                let result = latency ? try runner.latency(size: size) : try runner.throughput(size: size)
                Self.emit(latency ? BenchShmTable.latencyRow(result) : BenchShmTable.throughputRow(result))
                if let idle = result.idle { Self.emit(BenchShmTable.idleRow(idle)) }
                results.append(result)
            }
        } catch {
            BenchCleanup.shared.removeEverything()
            StandardError.print("chronetix bench shm: error: \(error)")
            throw ExitCode.failure
        }
        guard let json else { return }
        let report = BenchShmReport(
            date: ISO8601DateFormatter().string(from: Date()),
            pinned: pin && CPU.onlineCount > 1,
            secondsPerSize: duration,
            results: results,
            machine: .current,
            build: .current
        )
        do {
            try report.json().write(to: URL(fileURLWithPath: json), options: .atomic)
        } catch {
            StandardError.print("chronetix bench shm: error: cannot write \(json): \(error.localizedDescription)")
            throw FlowExit.cannotWrite
        }
    }

    /// Writes one line to standard output at once (unbuffered), so each row shows as soon as it is measured.
    private static func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
