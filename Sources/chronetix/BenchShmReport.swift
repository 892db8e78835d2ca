import ChronetixCore
import ChronetixSystem
import Foundation

/// One measurement of `chronetix bench shm`: one payload size, one mode, one wait strategy.
struct BenchShmResult: Encodable {
    /// One-way latency percentiles in nanoseconds (round trip / 2).
    struct Latency: Encodable {
        var p50: Double
        var p99: Double
        var p999: Double
    }

    /// What the consumer cost while the ring was idle (attached, no traffic), before the traffic.
    struct Idle: Encodable {
        var seconds: Double
        var consumerCPUSeconds: Double
        var consumerCPUPercent: Double

        enum CodingKeys: String, CodingKey {
            case seconds
            case consumerCPUSeconds = "consumer_cpu_seconds"
            case consumerCPUPercent = "consumer_cpu_percent"
        }
    }

    /// How often each side waited (the ring's `WaitStatistics`), to tell spinning from sleeping.
    struct Waits: Encodable {
        var producerStalls: UInt64
        var producerSleeps: UInt64
        var consumerStalls: UInt64
        var consumerSleeps: UInt64
        /// Futex sleeps that ended by their 100 ms safety timeout on either side (a lost wake-up shows up here).
        var timeouts: UInt64

        enum CodingKeys: String, CodingKey {
            case producerStalls = "producer_stalls", producerSleeps = "producer_sleeps"
            case consumerStalls = "consumer_stalls", consumerSleeps = "consumer_sleeps"
            case timeouts = "futex_timeouts"
        }
    }

    var test: String
    var size: Int
    var mode: String
    var wait: String
    var ringBytes: Int
    var frameAlignment: Int
    /// Throughput: frames per publication of the write counter (1: every frame).
    var batch: Int
    /// Throughput: frames the consumer received. Latency: round trips measured (after the warm-up).
    var frames: UInt64
    var seconds: Double
    var latency: Latency?
    var idle: Idle?
    var waits: Waits

    var framesPerSecond: Double { seconds > 0 ? Double(frames) / seconds : 0 }
    var bytesPerSecond: Double { framesPerSecond * Double(size) }

    enum CodingKeys: String, CodingKey {
        case test, size, mode, wait, frames, seconds, waits, batch, idle
        case ringBytes = "ring_bytes"
        case frameAlignment = "frame_alignment"
        case framesPerSecond = "frames_per_second"
        case bytesPerSecond = "bytes_per_second"
        case latency = "latency_ns"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(test, forKey: .test)
        try container.encode(size, forKey: .size)
        try container.encode(mode, forKey: .mode)
        try container.encode(wait, forKey: .wait)
        try container.encode(ringBytes, forKey: .ringBytes)
        try container.encode(frameAlignment, forKey: .frameAlignment)
        try container.encode(batch, forKey: .batch)
        try container.encode(frames, forKey: .frames)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(framesPerSecond.rounded(), forKey: .framesPerSecond)
        try container.encode(bytesPerSecond.rounded(), forKey: .bytesPerSecond)
        try container.encodeIfPresent(latency, forKey: .latency)
        try container.encodeIfPresent(idle, forKey: .idle)
        try container.encode(waits, forKey: .waits)
    }
}

/// The whole report: results, the machine and the build, as `--json` writes it.
struct BenchShmReport: BenchJSONReport {
    struct Machine: Encodable {
        var cpu: String
        var cores: Int
        var kernel: String
        var hostname: String
        /// Whether the ring's light barriers are compiler-only here (`membarrier(2)` expedited is available).
        var asymmetricBarrier: Bool

        enum CodingKeys: String, CodingKey {
            case cpu, cores, kernel, hostname
            case asymmetricBarrier = "asymmetric_barrier"
        }

        /// Read from procfs.
        static var current: Machine {
            Machine(
                cpu: cpuModel(),
                cores: CPU.onlineCount,
                kernel: procfsLine("/proc/sys/kernel/osrelease"),
                hostname: procfsLine("/proc/sys/kernel/hostname"),
                asymmetricBarrier: MemoryBarrier.isAsymmetric
            )
        }

        private static func procfsLine(_ path: String) -> String {
            // An unreadable procfs file leaves the field unknown; the report is still worth having.
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "unknown"
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        private static func cpuModel() -> String {
            // See procfsLine: an unknown model does not spoil the report.
            let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") where line.hasPrefix("model name") {
                if let colon = line.firstIndex(of: ":") {
                    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            return "unknown"
        }
    }

    struct Build: Encodable {
        var chronetix: String
        var swift: String
        var configuration: String

        static var current: Build {
            #if DEBUG
            let configuration = "debug"
            #else
            let configuration = "release"
            #endif
            return Build(chronetix: Chronetix.version, swift: swiftVersion, configuration: configuration)
        }

        /// The compiler that built this executable, to the patch level it can be told apart by `#if compiler`.
        private static var swiftVersion: String {
            #if compiler(>=6.5)
            ">=6.5"
            #elseif compiler(>=6.3.2)
            "6.3.2+"
            #elseif compiler(>=6.3.1)
            "6.3.1"
            #elseif compiler(>=6.3)
            "6.3"
            #elseif compiler(>=6.2)
            "6.2"
            #else
            "<6.2"
            #endif
        }
    }

    var date: String
    var pinned: Bool
    var secondsPerSize: Double
    var results: [BenchShmResult]
    var machine: Machine
    var build: Build

    enum CodingKeys: String, CodingKey {
        case date, pinned, results, machine, build
        case secondsPerSize = "seconds_per_size"
    }
}

/// A bench's `--json` report: pretty-printed, keys sorted, with a trailing newline.
protocol BenchJSONReport: Encodable {}

extension BenchJSONReport {
    /// The report as pretty-printed JSON with a trailing newline.
    func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(UInt8(ascii: "\n"))
        return data
    }
}

/// Right-aligned table cells for the benches' human output.
enum BenchTableLayout {
    /// The cells padded to `widths` and joined by two spaces; the first cell is left-aligned when asked.
    static func row(_ cells: [String], widths: [Int], leftAlignFirst: Bool = false) -> String {
        zip(cells, widths).enumerated().map { index, pair in
            let (cell, width) = pair
            let padding = String(repeating: " ", count: max(0, width - cell.count))
            return index == 0 && leftAlignFirst ? cell + padding : padding + cell
        }.joined(separator: "  ")
    }
}

/// The tables `chronetix bench shm` prints for people.
enum BenchShmTable {
    static func throughputHeader() -> String {
        row(["size", "ring", "frames", "seconds", "frames/s", "GB/s", "sleeps p/c"])
    }

    static func throughputRow(_ result: BenchShmResult) -> String {
        row([
            ByteCount.format(result.size), ByteCount.format(result.ringBytes), "\(result.frames)",
            String(format: "%.3f", result.seconds), rate(result.framesPerSecond),
            String(format: "%.3f", result.bytesPerSecond / 1e9),
            "\(result.waits.producerSleeps)/\(result.waits.consumerSleeps)",
        ])
    }

    static func idleRow(_ idle: BenchShmResult.Idle) -> String {
        String(
            format: "           idle %.1f s before the traffic: the waiting consumer used %.2f s of CPU (%.1f%%)",
            idle.seconds,
            idle.consumerCPUSeconds,
            idle.consumerCPUPercent
        )
    }

    static func latencyHeader() -> String {
        row(["size", "ring", "round trips", "seconds", "p50 µs", "p99 µs", "p99.9 µs"])
    }

    static func latencyRow(_ result: BenchShmResult) -> String {
        let latency = result.latency ?? .init(p50: 0, p99: 0, p999: 0)
        return row([
            ByteCount.format(result.size), ByteCount.format(result.ringBytes), "\(result.frames)",
            String(format: "%.3f", result.seconds), microseconds(latency.p50), microseconds(latency.p99),
            microseconds(latency.p999),
        ])
    }

    /// `52.29M`, `731.4k`, `842`.
    static func rate(_ value: Double) -> String {
        if value >= 1e6 { return String(format: "%.2fM", value / 1e6) }
        if value >= 1e3 { return String(format: "%.1fk", value / 1e3) }
        return String(format: "%.0f", value)
    }

    private static func microseconds(_ nanoseconds: Double) -> String {
        nanoseconds < 10_000 ? String(format: "%.3f", nanoseconds / 1000) : String(format: "%.1f", nanoseconds / 1000)
    }

    private static func row(_ cells: [String]) -> String {
        BenchTableLayout.row(cells, widths: [7, 6, 12, 8, 10, 9, 12])
    }
}
