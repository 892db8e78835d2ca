import ArgumentParser
import ChronetixCoordinator
import ChronetixCore
import ChronetixSystem
import Foundation

/// `chronetix top RUN`: a live view of a running flow, per node and per edge.
struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Shows a running flow live: per node state, frames, restarts, CPU and memory; per edge rate, latency, queue, drops.",
        discussion: """
            Redrawn every --interval seconds in a terminal until the run ends (Ctrl-C leaves); one snapshot \
            with --once, or when standard output is not a terminal. CPU % is the node's worker process (its \
            user and system time over the interval, from /proc; 100 % is one core), RSS its resident memory. \
            Edge figures come from the workers' metrics snapshots (every 250 ms). docs/operating.md has the \
            columns and the JSON.
            """
    )

    @Argument(help: ArgumentHelp("The run: its id, a unique prefix of one, or its flow's name.", valueName: "run"))
    var target: String

    @Flag(help: "Print one snapshot and exit.")
    var once = false

    @Option(help: "Seconds between redraws (and the span CPU % is measured over).")
    var interval: Double = 1

    @Flag(help: "Print each snapshot as one JSON object on a line of its own.")
    var json = false

    func run() throws {
        guard interval >= 0.1, interval <= 3600 else { throw ValidationError("--interval must be between 0.1 and 3600 seconds") }
        let record: RunRecord
        do {
            record = try RunRecords().resolve(target)
        } catch {
            StandardError.print("chronetix top: \(error)")
            throw ExitCode(64)
        }
        let connection: RunConnection
        do {
            connection = try RunConnection(record, name: "top")
        } catch {
            StandardError.print("chronetix top: \(error)")
            throw ExitCode.failure
        }
        let live = !once && !json && StandardStream.output.isTerminal
        let single = once || (!json && !live)
        // CPU % needs two readings: the first snapshot is taken one interval (at most half a second when
        // only one is printed) after the first reading.
        var previous = Self.usage(connection, record: record)
        var previousTime = Clock.monotonicNanoseconds()
        Thread.sleep(forTimeInterval: min(interval, 0.5))
        while true {
            let status: RunStatusReport
            do {
                status = try connection.status()
            } catch {
                if previous == nil { StandardError.print("chronetix top: \(error)") }
                StandardOutput.write("run \(record.run) ended\n")
                return
            }
            let now = Clock.monotonicNanoseconds()
            let usage = Self.usage(status)
            let elapsed = Double(now - previousTime)
            var cpu: [String: Double] = [:]
            for (node, current) in usage {
                guard let before = previous?[node], before.pid == current.pid, elapsed > 0 else { continue }
                cpu[node] = Double(current.usage.cpuNanoseconds &- before.usage.cpuNanoseconds) / elapsed * 100
            }
            let text = json ? JSONText.write(Self.document(status, usage: usage, cpu: cpu), style: .compact) + "\n" : Self.render(status, usage: usage, cpu: cpu)
            if !StandardOutput.write((live ? "\u{1B}[H\u{1B}[2J" : "") + text) { return }
            if single { return }
            previous = usage
            previousTime = now
            Thread.sleep(forTimeInterval: interval)
        }
    }

    /// Each node's worker and what it used so far.
    private static func usage(_ status: RunStatusReport) -> [String: (pid: Int32, usage: ProcessUsage)] {
        var result: [String: (pid: Int32, usage: ProcessUsage)] = [:]
        for node in status.nodes {
            guard let pid = node.pid, let identity = ProcessIdentity.of(pid: pid), let usage = identity.usage else { continue }
            result[node.id] = (pid, usage)
        }
        return result
    }

    private static func usage(_ connection: RunConnection, record: RunRecord) -> [String: (pid: Int32, usage: ProcessUsage)]? {
        (try? connection.status()).map(usage)
    }

    static func render(_ status: RunStatusReport, usage: [String: (pid: Int32, usage: ProcessUsage)], cpu: [String: Double]) -> String {
        var lines = [
            "run \(status.run)  flow \(status.flow)  pid \(status.pid)  up \(PS.duration(Double(status.uptimeNanoseconds) / 1e9))  \(status.phase)",
            "",
        ]
        var nodes = [["node", "kind", "state", "pid", "frames in", "frames out", "restarts", "cpu %", "rss"]]
        for node in status.nodes {
            nodes.append([
                node.id, node.kind, node.state, node.pid.map(String.init) ?? "-", "\(node.framesIn)", "\(node.framesOut)",
                "\(node.restarts)", cpu[node.id].map { String(format: "%.1f", $0) } ?? "-",
                usage[node.id].map { String(format: "%.1f MiB", Double($0.usage.residentBytes) / 1_048_576) } ?? "-",
            ])
        }
        lines += Table.render(nodes, rightAligned: [3, 4, 5, 6, 7, 8])
        lines.append("")
        var edges = [["edge", "frames/s", "MB/s", "p50", "p99", "queue", "drops", "late"]]
        for edge in status.edges {
            edges.append([
                edge.key, String(format: "%.0f", edge.framesPerSecond), String(format: "%.2f", edge.bytesPerSecond / 1e6),
                latency(edge.latencyP50Nanoseconds), latency(edge.latencyP99Nanoseconds), "\(edge.queueDepth)", "\(edge.drops)",
                "\(edge.late)",
            ])
        }
        lines += Table.render(edges, rightAligned: Array(1...7))
        return lines.joined(separator: "\n") + "\n"
    }

    static func document(_ status: RunStatusReport, usage: [String: (pid: Int32, usage: ProcessUsage)], cpu: [String: Double]) -> StructuredValue {
        .map([
            .init("run", .string(status.run)), .init("flow", .string(status.flow)), .init("pid", .integer(Int64(status.pid))),
            .init("phase", .string(status.phase)), .init("uptime_s", .double(Double(status.uptimeNanoseconds) / 1e9)),
            .init("nodes", .array(status.nodes.map { node in
                .map([
                    .init("node", .string(node.id)), .init("kind", .string(node.kind)), .init("state", .string(node.state)),
                    .init("pid", node.pid.map { .integer(Int64($0)) } ?? .null),
                    .init("frames_in", .integer(Int64(clamping: node.framesIn))), .init("frames_out", .integer(Int64(clamping: node.framesOut))),
                    .init("restarts", .integer(Int64(node.restarts))),
                    .init("cpu_percent", cpu[node.id].map { .double($0) } ?? .null),
                    .init("rss_bytes", usage[node.id].map { .integer(Int64(clamping: $0.usage.residentBytes)) } ?? .null),
                ])
            })),
            .init("edges", .array(status.edges.map { edge in
                .map([
                    .init("edge", .string(edge.key)), .init("frames", .integer(Int64(clamping: edge.frames))),
                    .init("frames_per_second", .double(edge.framesPerSecond)), .init("bytes_per_second", .double(edge.bytesPerSecond)),
                    .init("latency_p50_ns", .integer(Int64(clamping: edge.latencyP50Nanoseconds))),
                    .init("latency_p99_ns", .integer(Int64(clamping: edge.latencyP99Nanoseconds))),
                    .init("queue_depth", .integer(Int64(clamping: edge.queueDepth))), .init("drops", .integer(Int64(clamping: edge.drops))),
                    .init("late", .integer(Int64(clamping: edge.late))),
                ])
            })),
        ])
    }

    /// `84.0 µs`, `1.3 ms`; `-` before any frame.
    static func latency(_ nanoseconds: UInt64) -> String {
        if nanoseconds == 0 { return "-" }
        if nanoseconds < 1_000_000 { return String(format: "%.1f µs", Double(nanoseconds) / 1e3) }
        return String(format: "%.1f ms", Double(nanoseconds) / 1e6)
    }
}
