import ChronetixSystem
import Foundation
import IpcEventBus

/// The rows of `chronetix bench bus`: starts each row's peer processes against the hosted bus, waits for them,
/// checks their verdicts and turns their reports into a result.
///
/// Every peer is killed and reaped on every exit path (``BenchPeerProcess``'s `deinit`), and a row fails as soon
/// as one of its peers fails, with what the peer and the bus said about it.
struct BenchBusRunner {
    let host: BenchBusHost
    let seconds: Double
    /// The publisher's window in messages; `nil`: ``BenchBusTuning/window(size:queueLimit:)``; 0: none.
    let window: Int?
    /// The CPU every client process pins itself to, or `nil` to leave them to the scheduler.
    var clientCPU: Int? = nil
    /// Microseconds each client's waits poll before sleeping, or `nil` for the library's default.
    var busyPoll: Int? = nil
    var peerWatchdog: Double { seconds + 60 }

    /// The window a publish row of `size` bytes runs with.
    func window(size: Int) -> Int { window ?? BenchBusTuning.window(size: size, queueLimit: host.queueLimit) }

    // MARK: - Publish

    /// One publisher and `subscribers` subscriber processes on the row's topics.
    func publish(
        _ test: BenchBusTest,
        size: Int,
        subscribers: Int,
        row: Int
    ) throws(BenchFailure) -> BenchBusResult {
        let topics = BenchBusTopics(row: row)
        let window = window(size: size)
        let ackEvery = window > 0 ? BenchBusTuning.acknowledgementInterval(window: window) : 0
        let before = host.statistics
        var peers: [Peer] = []
        for index in 0..<subscribers {
            let arguments = ["--index", "\(index)", "--ack-every", "\(ackEvery)"]
            peers.append(try start(.subscriber, topics, size: size, label: "subscriber \(index)", arguments))
        }
        try waitForReady(topics, count: subscribers, peers)
        var arguments = ["--subscribers", "\(subscribers)", "--duration", "\(seconds)", "--window", "\(window)"]
        if test == .publishBatched { arguments.append("--batched") }
        if test == .publishThread { arguments.append("--sending-thread") }
        peers.append(try start(.publisher, topics, size: size, label: "publisher", arguments))
        let reports = try finish(peers, timeout: seconds + 30, since: before)

        let sent = reports.last?["sent"] ?? 0
        var longest: UInt64 = 0
        for (index, report) in reports.dropLast().enumerated() {
            let received = report["messages"] ?? 0
            guard received == sent, report["end"] == sent else {
                throw BenchFailure("subscriber \(index) received \(received) of the \(sent) messages published")
            }
            longest = max(longest, (report["last_ns"] ?? 0) &- (report["first_ns"] ?? 0))
        }
        try checkStatistics(since: before)
        return BenchBusResult(
            test: test.rawValue,
            payload: size,
            subscribers: subscribers,
            messages: sent,
            seconds: Double(longest) / 1e9,
            latency: nil,
            window: window,
            windowWaits: reports.last?["waits"] ?? 0
        )
    }

    // MARK: - Request and reply

    /// A requester process against the host's echo service, or against a responder process.
    func requestReply(_ test: BenchBusTest, size: Int, row: Int) throws(BenchFailure) -> BenchBusResult {
        let topics = BenchBusTopics(row: row)
        let before = host.statistics
        var peers: [Peer] = []
        let isHosted = test == .requestReplyHost
        if !isHosted {
            peers.append(try start(.responder, topics, size: size, label: "responder", []))
            try waitForReady(topics, count: 1, peers)
        }
        var arguments = ["--duration", "\(seconds)"]
        if isHosted { arguments.append("--host") }
        peers.insert(try start(.requester, topics, size: size, label: "requester", arguments), at: 0)
        let reports = try finish(peers, timeout: seconds + 30, since: before)

        let requester = reports[0]
        if !isHosted {
            // The responder counts every request but the end request; the requester, every one but the end.
            let answered = reports[1]["requests"] ?? 0
            guard answered == requester["sent"] ?? 0 else {
                throw BenchFailure(
                    "the requester sent \(requester["sent"] ?? 0) requests; the responder answered \(answered)"
                )
            }
        }
        try checkStatistics(since: before)
        let measured = requester["measured"] ?? 0
        guard measured > 0 else { throw BenchFailure("no round trip was measured after the warm-up") }
        return BenchBusResult(
            test: test.rawValue,
            payload: size,
            subscribers: isHosted ? 0 : 1,
            messages: measured,
            seconds: Double((requester["end_ns"] ?? 0) &- (requester["start_ns"] ?? 0)) / 1e9,
            latency: .init(
                p50: Double(requester["p50_ns"] ?? 0),
                p99: Double(requester["p99_ns"] ?? 0),
                p999: Double(requester["p999_ns"] ?? 0)
            ),
            window: nil,
            windowWaits: nil
        )
    }

    // MARK: - Peers

    /// A peer process and what to call it in a report.
    private struct Peer {
        var label: String
        var process: BenchPeerProcess
    }

    private func start(
        _ role: BenchBusRole,
        _ topics: BenchBusTopics,
        size: Int,
        label: String,
        _ arguments: [String]
    ) throws(BenchFailure) -> Peer {
        let common =
            [
                "--role", role.rawValue, "--socket", host.socketPath, "--prefix", topics.prefix, "--size", "\(size)",
                "--watchdog", "\(peerWatchdog)", "--parent", "\(ProcessIdentity.current.pid)",
            ] + (clientCPU.map { ["--cpu", "\($0)"] } ?? []) + (busyPoll.map { ["--busy-poll", "\($0)"] } ?? [])
        let process = try BenchPeerProcess(
            role: "bus-peer",
            arguments: common + arguments,
            environment: [BenchBusTuning.tokenVariable: host.token]
        )
        return Peer(label: label, process: process)
    }

    /// Polls (every millisecond, for at most 10 s) until `count` peers of the row said they are ready.
    private func waitForReady(_ topics: BenchBusTopics, count: Int, _ peers: [Peer]) throws(BenchFailure) {
        let deadline = Clock.monotonicNanoseconds() &+ 10_000_000_000
        while host.readyCount(prefix: topics.prefix) < count {
            for peer in peers where !peer.process.isRunning {
                let (status, _, _) = peer.process.finish(timeout: 0)
                throw failure(of: peer, status: status, report: [:], before: "attaching")
            }
            if let failure = host.failure { throw BenchFailure(failure) }
            if Clock.monotonicNanoseconds() >= deadline {
                throw BenchFailure("\(host.readyCount(prefix: topics.prefix)) of \(count) peers were ready after 10 s")
            }
            Thread.sleep(forTimeInterval: 0.001)
        }
    }

    /// Waits until every peer has exited (for at most `timeout` seconds) and returns their `RESULT` fields in
    /// order; fails as soon as one exits with a non-zero status. A failure quotes the bus's counters since
    /// `before`.
    private func finish(
        _ peers: [Peer],
        timeout: Double,
        since before: BusServer.Statistics
    ) throws(BenchFailure) -> [[String: UInt64]] {
        var reports: [[String: UInt64]?] = Array(repeating: nil, count: peers.count)
        var remaining = peers.count
        let deadline = Clock.monotonicNanoseconds() &+ UInt64(timeout * 1e9)
        while remaining > 0 {
            for (index, peer) in peers.enumerated() where reports[index] == nil && !peer.process.isRunning {
                let (status, output, _) = peer.process.finish(timeout: 1)
                let report = Self.fields(of: output)
                if status != 0 {
                    var failure = failure(of: peer, status: status, report: report, before: nil)
                    failure.description += "\n  " + Self.describe(host.statistics, since: before)
                    throw failure
                }
                reports[index] = report
                remaining -= 1
            }
            if remaining == 0 { break }
            if let failure = host.failure { throw BenchFailure(failure) }
            if Clock.monotonicNanoseconds() >= deadline {
                let late = peers.indices.filter { reports[$0] == nil }.map { peers[$0].label }
                var text = "\(late.joined(separator: ", ")) did not finish within \(Int(timeout)) s"
                for (index, report) in reports.enumerated() {
                    guard let report else { continue }
                    let fields = report.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                    text += "\n  the \(peers[index].label) reported \(fields.joined(separator: " "))"
                }
                text += "\n  " + Self.describe(host.statistics, since: before)
                throw BenchFailure(text)
            }
            Thread.sleep(forTimeInterval: 0.001)
        }
        return reports.map { $0 ?? [:] }
    }

    /// Describes a peer that exited with a non-zero status: its report, and what the bus said about it.
    private func failure(of peer: Peer, status: Int32, report: [String: UInt64], before: String?) -> BenchFailure {
        var text = "the \(peer.label) (pid \(peer.process.pid)) exited with status \(status)"
        if let before { text += " before \(before)" }
        if let messages = report["messages"] { text += " after \(messages) messages" }
        if let sent = report["sent"] { text += " after sending \(sent)" }
        let closures = host.closures(of: [peer.process.pid])
        for closure in closures { text += "\n  \(closure)" }
        if closures.contains(where: { $0.contains("(slow consumer)") }) {
            text +=
                "\n  The publisher outran this subscriber and its queue on the bus reached --queue-limit "
                + "(\(ByteCount.format(host.queueLimit))). Run with the default window, a smaller --window, "
                + "or a larger --queue-limit."
        }
        return BenchFailure(text)
    }

    /// Fails when the bus dropped a message or closed a slow consumer during the row.
    private func checkStatistics(since before: BusServer.Statistics) throws(BenchFailure) {
        let after = host.statistics
        if after.slowConsumers != before.slowConsumers {
            throw BenchFailure(
                "the bus closed \(after.slowConsumers - before.slowConsumers) connections as slow consumers"
            )
        }
        if after.dropped != before.dropped {
            throw BenchFailure("the bus dropped \(after.dropped - before.dropped) messages")
        }
        if after.timedOut != before.timedOut {
            throw BenchFailure("\(after.timedOut - before.timedOut) requests timed out on the bus")
        }
    }

    /// The bus's counters over a row, for a failure's report.
    private static func describe(_ after: BusServer.Statistics, since before: BusServer.Statistics) -> String {
        "the bus during the row: \(after.published - before.published) published, "
            + "\(after.delivered - before.delivered) delivered, \(after.dropped - before.dropped) dropped, "
            + "\(after.slowConsumers - before.slowConsumers) slow consumers closed, "
            + "\(after.replied - before.replied) replies, \(after.protocolViolations - before.protocolViolations) "
            + "protocol violations; \(after.connections) connections open"
    }

    /// The `key=value` fields of a peer's `RESULT` line (numbers only).
    private static func fields(of output: String) -> [String: UInt64] {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("RESULT ") }) else { return [:] }
        var fields: [String: UInt64] = [:]
        for field in line.split(separator: " ").dropFirst() {
            let parts = field.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let value = UInt64(parts[1]) else { continue }
            fields[String(parts[0])] = value
        }
        return fields
    }
}
