import Foundation

/// One row of `chronetix bench bus`: one test, one payload size, one subscriber count.
struct BenchBusResult: Encodable {
    /// Round-trip percentiles in nanoseconds (not halved: a request and its reply).
    struct Latency: Encodable {
        var p50: Double
        var p99: Double
        var p999: Double
    }

    /// `publish`, `publish-batched`, `request-reply-host` or `request-reply`.
    var test: String
    /// Payload bytes of every message or request.
    var payload: Int
    /// Subscriber processes of a publish row; responder processes of a request-reply row (0 when the host
    /// answers).
    var subscribers: Int
    /// Publish: the messages every subscriber received (all of those published). Request-reply: the round
    /// trips measured after the warm-up.
    var messages: UInt64
    /// Publish: the longest time any subscriber took from its first receipt to its last. Request-reply: from
    /// the first measured request to the last reply.
    var seconds: Double
    var latency: Latency?
    /// Publish: the publisher's window in messages (0: none), and how often it was full. Printed, not in the JSON.
    var window: Int?
    var windowWaits: UInt64?

    /// Publish: each subscriber's rate, the slowest one's (every subscriber receives every message). Request-reply:
    /// round trips per second.
    var messagesPerSecond: Double { seconds > 0 ? Double(messages) / seconds : 0 }

    enum CodingKeys: String, CodingKey {
        case test, payload, subscribers, messages, seconds
        case messagesPerSecond = "messages_per_second"
        case latency = "latency_ns"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(test, forKey: .test)
        try container.encode(payload, forKey: .payload)
        try container.encode(subscribers, forKey: .subscribers)
        try container.encode(messages, forKey: .messages)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(messagesPerSecond.rounded(), forKey: .messagesPerSecond)
        try container.encodeIfPresent(latency, forKey: .latency)
    }
}

/// The whole report as `--json` writes it: the results, and the machine and build as `bench shm` reports them.
struct BenchBusReport: BenchJSONReport {
    var results: [BenchBusResult]
    var machine: BenchShmReport.Machine
    var build: BenchShmReport.Build
}

/// The table `chronetix bench bus` prints for people.
enum BenchBusTable {
    static func header() -> String {
        row(["test", "payload", "subs", "messages", "seconds", "msg/s", "RTT p50 µs", "p99 µs", "p99.9 µs", "window"])
    }

    static func row(_ result: BenchBusResult) -> String {
        let latency = result.latency
        let window: String
        if let size = result.window {
            window = size == 0 ? "none" : "\(size) (full \(result.windowWaits ?? 0)×)"
        } else {
            window = ""
        }
        return row([
            result.test, ByteCount.format(result.payload), "\(result.subscribers)", "\(result.messages)",
            String(format: "%.3f", result.seconds), BenchShmTable.rate(result.messagesPerSecond),
            latency.map { microseconds($0.p50) } ?? "-", latency.map { microseconds($0.p99) } ?? "-",
            latency.map { microseconds($0.p999) } ?? "-", window,
        ])
    }

    /// A row that did not produce a result.
    static func failedRow(_ test: BenchBusTest, size: Int, subscribers: Int) -> String {
        row([test.rawValue, ByteCount.format(size), "\(subscribers)", "FAILED"])
    }

    private static func microseconds(_ nanoseconds: Double) -> String {
        nanoseconds < 10_000 ? String(format: "%.2f", nanoseconds / 1000) : String(format: "%.1f", nanoseconds / 1000)
    }

    private static func row(_ cells: [String]) -> String {
        BenchTableLayout.row(cells, widths: [18, 7, 4, 9, 7, 8, 10, 8, 8, 0], leftAlignFirst: true)
    }
}
