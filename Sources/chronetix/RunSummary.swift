import ChronetixCore
import ChronetixRuntime
import ChronetixSystem
import Foundation
import ShmDataPort

/// What a run did, for people (``text()``) and for programs (``json()``, the `--summary-json` file).
/// `docs/running.md` describes every field.
struct RunSummary {
    struct Node {
        var id: String
        var kind: String
        var pid: Int32?
        var framesIn: UInt64
        var framesOut: UInt64
        var errors: UInt64
        var exit: ChildProcess.Termination?
        var restarts: Int
        var leftDown: Bool
        var byHand: Bool
        var details: StructuredValue
    }

    struct Edge {
        /// `SRC/OUT->DST/IN`.
        var key: String
        var frames: UInt64
        var bytes: UInt64
        var drops: UInt64?
        var duplicates: UInt64?
        var deadlineMisses: UInt64
        /// Of the deadline misses, the frames the reader dropped (`on_late: drop`) instead of handling.
        var lateDrops: UInt64
        /// Frames committed to the edge's ring that this reader never read nor had dropped by its policy:
        /// what a cut left in flight (0 when the run drained).
        var unread: UInt64?
        var latency: (p50: UInt64, p95: UInt64, p99: UInt64)
        /// Why the edge failed, when it did: its ring is broken or corrupt (then the ring's figures are not
        /// shown: `drops`, `duplicates` and `unread` are nil), or its stream ended with frames not accounted for.
        var problem: String?
    }

    var flow: String
    /// The run id (`<flow>-<8 hex digits>`).
    var run: String
    var status: FlowRun.Status
    var startup: UInt64?
    var firstFrame: UInt64?
    var lastFrame: UInt64?
    var duration: UInt64
    /// From the flow's start (every node ready, the sources told to start) to the end: what an edge's
    /// frames/s is over, so time spent waiting for workers (attached by hand, say) does not dilute it.
    var running: UInt64?
    var traceParent: String
    var nodes: [Node] = []
    var edges: [Edge] = []
    /// How a stop went, relative to the command's start; nil when the run was not stopped.
    var stop: (
        reason: FlowRun.Status, cause: String?, after: UInt64, drain: UInt64?, timeout: UInt64, drained: [String], cut: [String],
        failed: [String]
    )?

    init(run: FlowRun, status: FlowRun.Status) {
        flow = run.flow.flow
        self.run = run.runID
        self.status = status
        let start = run.startNanoseconds
        startup = run.readyNanoseconds > 0 ? run.readyNanoseconds - start : nil
        duration = (run.endNanoseconds > 0 ? run.endNanoseconds : Clock.monotonicNanoseconds()) - start
        running = run.readyNanoseconds > 0 ? start + duration - run.readyNanoseconds : nil
        traceParent = run.traceParent
        if let stop = run.stop {
            self.stop = (
                stop.reason, stop.cause, stop.at - start, stop.drainedAt.map { $0 - stop.at }, run.board.requestedDrainTimeout ?? Clock.nanoseconds(run.options.drainTimeout),
                stop.drained, stop.cut,
                // Neither drained nor cut: they ended without reporting (crashed, killed, failed), before or
                // after the stop.
                run.flow.nodes.map(\.id).filter { !stop.drained.contains($0) && !stop.cut.contains($0) }
            )
        }
        let board = run.board.nodes
        var firstSinkFrame = UInt64.max
        var lastSinkFrame: UInt64 = 0
        var reports: [String: WorkerMessage] = [:]
        for manifest in run.flow.nodes {
            let state = board[manifest.id]
            let report = state?.report
            if let report { reports[manifest.id] = report }
            if manifest.outputs.isEmpty, let first = report?.firstFrameNanoseconds, first > 0 {
                firstSinkFrame = min(firstSinkFrame, first)
                lastSinkFrame = max(lastSinkFrame, report?.lastFrameNanoseconds ?? 0)
            }
            nodes.append(
                Node(
                    id: manifest.id,
                    kind: manifest.kind,
                    pid: report?.pid ?? state?.attachedPID,
                    framesIn: report?.framesIn ?? 0,
                    framesOut: report?.framesOut ?? 0,
                    errors: report?.errors ?? 0,
                    exit: run.terminations[manifest.id],
                    restarts: run.restarts[manifest.id] ?? 0,
                    leftDown: run.leftDown.contains(manifest.id),
                    byHand: run.options.attach.contains(manifest.id),
                    details: report?.details ?? .map([])
                )
            )
        }
        // A restarted node's report covers its last worker only, and a node whose worker died without reporting
        // has none; its frames over the whole run are in the rings: frames read from its input slots, frames
        // written to its output rings.
        for index in nodes.indices where nodes[index].restarts > 0 || reports[nodes[index].id] == nil {
            let id = nodes[index].id
            var framesIn: UInt64 = 0
            var framesOut: UInt64 = 0
            for edge in run.flow.routes.edges {
                guard let status = run.ringStatuses[edge.id] else { continue }
                if edge.from.node == id { framesOut &+= status.writeFrames }
                for (slot, target) in edge.to.enumerated() where target.node == id && slot < status.consumers.count {
                    framesIn &+= status.consumers[slot].readFrames
                }
            }
            nodes[index].framesIn = framesIn
            nodes[index].framesOut = framesOut
        }
        firstFrame = firstSinkFrame == .max ? nil : firstSinkFrame - start
        lastFrame = lastSinkFrame == 0 ? nil : lastSinkFrame - start
        for edge in run.flow.routes.edges {
            let status = run.ringStatuses[edge.id]
            for (slot, target) in edge.to.enumerated() {
                let input = reports[target.node]?.inputs.first { $0.edge == edge.id && $0.slot == slot }
                let consumer = status.flatMap { slot < $0.consumers.count ? $0.consumers[slot] : nil }
                // A consumer restarted after a crash reported only its last worker's frames: the ring's count of
                // frames read in this slot (each once, whichever worker read it) is the whole run's.
                let restarted = (run.restarts[target.node] ?? 0) > 0
                let key = "\(edge.from)->\(target)"
                // A broken or corrupt ring's counters are never shown as figures.
                let problem = run.ringProblems[edge.id]
                    ?? run.unaccounted[key].map { "\($0) of \(status?.writeFrames ?? 0) frames not accounted for (neither read nor dropped)" }
                let trusted = run.ringProblems[edge.id] == nil
                edges.append(
                    Edge(
                        key: key,
                        frames: restarted ? consumer?.readFrames ?? 0 : input?.frames ?? consumer?.readFrames ?? 0,
                        bytes: input?.bytes ?? 0,
                        drops: trusted ? consumer?.drops ?? 0 : nil,
                        // The slot counts the frames delivered again after every re-attach, over the whole run.
                        duplicates: trusted ? consumer?.duplicates ?? input?.duplicates ?? 0 : nil,
                        deadlineMisses: input?.deadlineMisses ?? 0,
                        lateDrops: input?.lateDrops ?? 0,
                        unread: trusted ? status?.unaccountedFrames(slot: slot) ?? 0 : nil,
                        latency: (input?.latencyP50 ?? 0, input?.latencyP95 ?? 0, input?.latencyP99 ?? 0),
                        problem: problem
                    )
                )
            }
        }
    }

    // MARK: - For people

    func text() -> String {
        var lines: [String] = []
        let seconds = Double(running ?? 0) / 1e9
        lines.append(
            "flow \(flow): \(status.rawValue) in \(Self.milliseconds(duration))"
                + (startup.map { "; all nodes ready after \(Self.milliseconds($0))" } ?? "")
                + (firstFrame.map { ", first frame at a sink after \(Self.milliseconds($0))" } ?? "")
        )
        if let stop {
            var line = "stopped (\(stop.reason.rawValue)\(stop.cause.map { ": \($0)" } ?? "")) after \(Self.milliseconds(stop.after)): "
            if let drain = stop.drain, stop.failed.isEmpty {
                line += "every node drained in \(Self.milliseconds(drain))"
            } else {
                var parts: [String] = []
                if !stop.drained.isEmpty {
                    parts.append("\(stop.drained.joined(separator: ", ")) drained" + (stop.drain.map { " in \(Self.milliseconds($0))" } ?? ""))
                }
                if !stop.failed.isEmpty { parts.append("\(stop.failed.joined(separator: ", ")) ended without draining") }
                if !stop.cut.isEmpty {
                    parts.append("\(stop.cut.joined(separator: ", ")) cut after the \(Self.milliseconds(stop.timeout)) drain timeout")
                }
                line += parts.joined(separator: "; ")
            }
            let unread = edges.filter { ($0.unread ?? 0) > 0 }
            if !unread.isEmpty {
                line += "; left unread: " + unread.map { "\($0.unread ?? 0) on \($0.key)" }.joined(separator: ", ")
            }
            lines.append(line)
        }
        lines.append("")
        var table = [["node", "kind", "pid", "frames in", "frames out", "errors", "restarts", "exit"]]
        for node in nodes {
            table.append([
                node.id, node.kind, node.pid.map { "\($0)" } ?? "-", "\(node.framesIn)", "\(node.framesOut)",
                "\(node.errors)", "\(node.restarts)",
                (node.exit.map(Self.exitText) ?? (node.byHand ? "by hand" : "-")) + (node.leftDown ? " (left down)" : ""),
            ])
        }
        lines += Table.render(table, rightAligned: [2, 3, 4, 5, 6])
        lines.append("")
        var edgeTable = [["edge", "frames", "MB", "frames/s", "drops", "dups", "late", "p50", "p95", "p99"]]
        for edge in edges {
            edgeTable.append([
                edge.key, "\(edge.frames)", String(format: "%.1f", Double(edge.bytes) / 1e6),
                seconds > 0 ? String(format: "%.0f", Double(edge.frames) / seconds) : "-",
                edge.drops.map { "\($0)" } ?? "-", edge.duplicates.map { "\($0)" } ?? "-",
                edge.lateDrops > 0 ? "\(edge.deadlineMisses) (\(edge.lateDrops) dropped)" : "\(edge.deadlineMisses)",
                Self.latencyText(edge.latency.p50), Self.latencyText(edge.latency.p95), Self.latencyText(edge.latency.p99),
            ])
        }
        lines += Table.render(edgeTable, rightAligned: Array(1...9))
        for edge in edges { if let problem = edge.problem { lines.append("edge \(edge.key) failed: \(problem)") } }
        for node in nodes {
            guard case .map(let entries) = node.details, !entries.isEmpty else { continue }
            lines.append("")
            lines.append("\(node.id) (\(node.kind)): " + entries.map { "\($0.key) \(Self.valueText($0.value))" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func milliseconds(_ nanoseconds: UInt64) -> String {
        String(format: "%.1f ms", Double(nanoseconds) / 1e6)
    }

    private static func latencyText(_ nanoseconds: UInt64) -> String {
        if nanoseconds == 0 { return "-" }
        if nanoseconds < 10_000 { return "\(nanoseconds) ns" }
        if nanoseconds < 10_000_000 { return String(format: "%.1f µs", Double(nanoseconds) / 1e3) }
        return String(format: "%.1f ms", Double(nanoseconds) / 1e6)
    }

    private static func exitText(_ termination: ChildProcess.Termination) -> String {
        switch termination {
        case .exited(let status): "\(status)"
        case .signaled(let signal): "signal \(signal)"
        }
    }

    private static func valueText(_ value: StructuredValue) -> String {
        switch value {
        case .string(let text): text
        case .double(let number): String(format: "%.6g", number)
        default: JSONText.write(value, style: .compact)
        }
    }

    // MARK: - For programs

    func json() throws -> Data {
        var nodeMap: [StructuredValue.Entry] = []
        for node in nodes {
            var exit: StructuredValue = .null
            switch node.exit {
            case .exited(let status)?: exit = .integer(Int64(status))
            case .signaled(let signal)?: exit = .string("signal \(signal)")
            case nil: break
            }
            nodeMap.append(
                .init(
                    node.id,
                    .map([
                        .init("kind", .string(node.kind)),
                        .init("pid", node.pid.map { .integer(Int64($0)) } ?? .null),
                        .init("frames_in", .integer(Int64(clamping: node.framesIn))),
                        .init("frames_out", .integer(Int64(clamping: node.framesOut))),
                        .init("errors", .integer(Int64(clamping: node.errors))),
                        .init("restarts", .integer(Int64(node.restarts))),
                        .init("left_down", .bool(node.leftDown)),
                        .init("exit", exit),
                        .init("report", node.details),
                    ])
                )
            )
        }
        let edgeMap = edges.map { edge in
            StructuredValue.Entry(
                edge.key,
                .map([
                    .init("frames", .integer(Int64(clamping: edge.frames))),
                    .init("bytes", .integer(Int64(clamping: edge.bytes))),
                    .init("drops", edge.drops.map { .integer(Int64(clamping: $0)) } ?? .null),
                    .init("duplicates", edge.duplicates.map { .integer(Int64(clamping: $0)) } ?? .null),
                    .init("deadline_misses", .integer(Int64(clamping: edge.deadlineMisses))),
                    .init("late_drops", .integer(Int64(clamping: edge.lateDrops))),
                    .init("unread", edge.unread.map { .integer(Int64(clamping: $0)) } ?? .null),
                    .init("problem", edge.problem.map { .string($0) } ?? .null),
                    .init(
                        "latency_ns",
                        .map([
                            .init("p50", .integer(Int64(clamping: edge.latency.p50))),
                            .init("p95", .integer(Int64(clamping: edge.latency.p95))),
                            .init("p99", .integer(Int64(clamping: edge.latency.p99))),
                        ])
                    ),
                ])
            )
        }
        let document: StructuredValue = .map([
            .init("flow", .string(flow)),
            .init("run", .string(run)),
            .init("status", .string(status.rawValue)),
            .init("trace_parent", .string(traceParent)),
            .init("startup_ns", startup.map { .integer(Int64(clamping: $0)) } ?? .null),
            .init("first_frame_ns", firstFrame.map { .integer(Int64(clamping: $0)) } ?? .null),
            .init("last_frame_ns", lastFrame.map { .integer(Int64(clamping: $0)) } ?? .null),
            .init("duration_ns", .integer(Int64(clamping: duration))),
            .init("stop", stop.map { stop in
                .map([
                    .init("reason", .string(stop.reason.rawValue)),
                    .init("cause", stop.cause.map { .string($0) } ?? .null),
                    .init("after_ns", .integer(Int64(clamping: stop.after))),
                    .init("drain_ns", stop.drain.map { .integer(Int64(clamping: $0)) } ?? .null),
                    .init("drain_timeout_ns", .integer(Int64(clamping: stop.timeout))),
                    .init("drained", .array(stop.drained.map { .string($0) })),
                    .init("cut", .array(stop.cut.map { .string($0) })),
                    .init("failed", .array(stop.failed.map { .string($0) })),
                ])
            } ?? .null),
            .init("nodes", .map(nodeMap)),
            .init("edges", .map(edgeMap)),
        ])
        return Data((JSONText.write(document) + "\n").utf8)
    }
}
