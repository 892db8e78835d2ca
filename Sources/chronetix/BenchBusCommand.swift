import ArgumentParser
import ChronetixSystem
import Foundation

/// `chronetix bench bus`: what the control-plane bus does here, between real processes.
struct BenchBus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus",
        abstract: "Measures the control-plane bus between processes: publish throughput and request-reply latency.",
        discussion: """
            This process hosts the bus (a BusServer on a thread of its own, as the coordinator does) on a socket in \
            a fresh 0700 directory under the temporary directory; every client is a separate `chronetix` process. \
            Every payload starts with its 8-byte sequence number, which the receiving side checks (no loss, no \
            duplicate, no reordering); the command fails if one is wrong.

            publish, publish-batched, publish-thread: one publisher, N subscribers (each of --subscribers). The publisher \
            publishes for --duration seconds, then an end message. `publish` writes every message at once \
            (publish(_:flush: true)); `publish-batched` writes every 64 (flush: false, then flush()); \
            `publish-thread` is `publish` from a client that sends on a thread of its own (each publish queues \
            its message; the thread writes all that gathered in one system call). msg/s is \
            the rate EACH subscriber received, from its first message to its last (the slowest subscriber's when \
            there are several; every subscriber receives every message), not the sum over subscribers.

            Flow control: the bus has none end to end. A subscriber that falls --queue-limit bytes behind is \
            disconnected (the default overflow policy, which the subscribers use), and the row fails. So that \
            the rate is one the subscribers sustain, the publisher keeps a window: it is never more than \
            --window messages ahead of the slowest subscriber, which acknowledges every window/8 messages on \
            the bus. The default window fills half of --queue-limit, so the queue never reaches its bound; \
            --window 0 measures the open loop (a row fails if the publisher outruns a subscriber).

            request-reply-host: a requester process and a service hosted in the bus (2 hops, as a tool asking \
            the coordinator). request-reply: a requester and a responder process (4 hops: requester, bus, \
            responder, bus, requester). One request at a time for --duration seconds after a 100 ms warm-up; \
            the percentiles are round trips (HdrHistogram, 3 significant digits), not halved.

            Exit status: 0 when every check passed, 1 otherwise (the JSON is written only then).
            """
    )

    @Option(help: "Payload sizes in bytes, comma-separated; K and M suffixes are binary (4K = 4096).")
    var sizes = ByteCountList([64, 4096])

    @Option(help: "Subscriber counts of the publish tests, comma-separated.")
    var subscribers = CountList([1, 4])

    @Option(help: "Seconds of traffic per row.")
    var duration: Double = 1

    @Option(help: "The tests to run, comma-separated.")
    var tests = BenchBusTestList(BenchBusTest.allCases)

    @Option(
        name: .customLong("queue-limit"),
        help: "The bus's outbound queue bound per connection (BusServer's outboundQueueLimit)."
    )
    var queueLimit = ByteCount(4 << 20)

    @Option(
        help: """
            Publish: messages the publisher may be ahead of the slowest subscriber (0: no flow control). \
            Default: as many as fill half of --queue-limit.
            """
    )
    var window: Int?

    @Option(
        name: .customLong("busy-poll"),
        help: """
            Microseconds the bus's loop and every client poll for the next message before they sleep \
            (BusServer's and BusClient's busyPoll). Default: the library's.
            """
    )
    var busyPoll: Int?

    @Flag(
        help: """
            Pin the bus's thread to CPU1 and every client process to CPU0, so that every hop crosses CPUs as between \
            the C reference's two pinned processes. Default: the scheduler places them, as it will in a flow.
            """
    )
    var pin = false

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func validate() throws {
        guard duration > 0, duration <= 3600 else {
            throw ValidationError("--duration must be between 0 and 3600 seconds")
        }
        let largest = (1 << 20) - BenchBusTuning.wireOverhead
        for size in sizes.values {
            if size < BenchBusTuning.minimumSize {
                throw ValidationError(
                    "size \(size) is below 8 bytes: every payload starts with its 8-byte sequence number"
                )
            }
            if size > largest {
                throw ValidationError("size \(size) does not fit the bus's 1M message limit (at most \(largest) bytes)")
            }
        }
        for count in subscribers.values where count > 64 {
            throw ValidationError("--subscribers \(count): at most 64 subscriber processes")
        }
        guard queueLimit.value >= 4096, queueLimit.value <= 1 << 30 else {
            throw ValidationError("--queue-limit must be between 4K and 1G")
        }
        if let window, window < 0 { throw ValidationError("--window must be 0 or more") }
        if let busyPoll, busyPoll < 0 || busyPoll > 1_000_000 {
            throw ValidationError("--busy-poll must be between 0 and 1000000 microseconds")
        }
    }

    func run() throws {
        BenchCleanup.shared.installSignalHandlers(command: "chronetix bench bus")
        let host: BenchBusHost
        do {
            host = try BenchBusHost(
                queueLimit: queueLimit.value,
                busyPoll: busyPoll.map { .microseconds($0) },
                cpu: isPinned ? 1 : nil
            )
        } catch {
            StandardError.print("chronetix bench bus: error: \(error)")
            throw ExitCode.failure
        }
        let runner = BenchBusRunner(
            host: host,
            seconds: duration,
            window: window,
            clientCPU: isPinned ? 0 : nil,
            busyPoll: busyPoll
        )
        let flowControl =
            window == 0 ? "no flow control" : window.map { "window \($0) messages" } ?? "window half the queue"
        Self.emit(
            "chronetix bench bus: \(duration) s per row, queue limit \(ByteCount.format(queueLimit.value)), "
                + "\(flowControl), \(isPinned ? "bus on CPU1, clients on CPU0" : "not pinned"), "
                + "busy poll \(busyPoll.map { "\($0) µs" } ?? "default"); "
                + "msg/s is per subscriber; RTT is a whole round trip"
        )
        Self.emit(BenchBusTable.header())
        var results: [BenchBusResult] = []
        var failures = 0
        var row = 0
        for (test, size, count) in plan() {
            row += 1
            do {
                let result =
                    test.isPublish
                    ? try runner.publish(test, size: size, subscribers: count, row: row)
                    : try runner.requestReply(test, size: size, row: row)
                Self.emit(BenchBusTable.row(result))
                results.append(result)
            } catch {
                // Interrupted: the peers were killed under the row; the handler reports and exits.
                if BenchCleanup.shared.isInterrupted { Thread.sleep(forTimeInterval: 1) }
                failures += 1
                Self.emit(BenchBusTable.failedRow(test, size: size, subscribers: count))
                StandardError.print(
                    "chronetix bench bus: error: \(test.rawValue), \(ByteCount.format(size)), "
                        + "\(count) subscriber(s): \(error)"
                )
            }
        }
        for problem in host.stop() {
            failures += 1
            StandardError.print("chronetix bench bus: error: \(problem)")
        }
        guard failures == 0 else {
            StandardError.print(
                "chronetix bench bus: \(failures) check(s) failed\(json == nil ? "" : "; no JSON written")"
            )
            throw ExitCode.failure
        }
        guard let json else { return }
        let report = BenchBusReport(results: results, machine: .current, build: .current)
        do {
            try report.json().write(to: URL(fileURLWithPath: json), options: .atomic)
        } catch {
            StandardError.print("chronetix bench bus: error: cannot write \(json): \(error.localizedDescription)")
            throw FlowExit.cannotWrite
        }
    }

    private var isPinned: Bool { pin && CPU.onlineCount > 1 }

    /// The rows in order: each publish test for every size and subscriber count, then each request-reply test
    /// for every size (with a subscriber count of 0 or 1, the responders).
    private func plan() -> [(BenchBusTest, Int, Int)] {
        var rows: [(BenchBusTest, Int, Int)] = []
        for test in BenchBusTest.allCases where tests.values.contains(test) {
            for size in sizes.values {
                if test.isPublish {
                    for count in subscribers.values { rows.append((test, size, count)) }
                } else {
                    rows.append((test, size, test == .requestReply ? 1 : 0))
                }
            }
        }
        return rows
    }

    /// Writes one line to standard output at once (unbuffered), so each row shows as soon as it is measured.
    private static func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
