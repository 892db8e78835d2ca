import ArgumentParser
import ChronetixCoordinator
import ChronetixCore
import ChronetixSystem
import Foundation

/// Prints `error` as `chronetix CMD: …` and exits with `status`.
private func fail(_ command: String, _ error: CoordinatorError, status: Int32 = 1) -> ExitCode {
    StandardError.print("chronetix \(command): \(error)")
    return ExitCode(status)
}

/// `chronetix ps`: the flows running on this host, found through their records in the runtime directory.
struct PS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps",
        abstract: "Lists the flows running on this host (this user's runs).",
        discussion: """
            Each run records itself in the runtime directory ($XDG_RUNTIME_DIR/chronetix, else \
            /tmp/chronetix-UID); ps asks each running coordinator for its status over the run's bus. A run \
            whose coordinator does not answer within a second (stopped with Ctrl-Z, say) is listed with its \
            record's figures only. docs/operating.md describes the columns and the JSON.
            """
    )

    @Flag(help: "Print one JSON array of objects (run, flow, pid, phase, nodes {ready, total}, restarts, frames_per_second, uptime_s).")
    var json = false

    func run() throws {
        let records = RunRecords().live()
        var rows: [[String]] = [["run", "flow", "pid", "uptime", "nodes", "restarts", "frames/s", "phase"]]
        var documents: [StructuredValue] = []
        let now = Clock.realtimeNanoseconds()
        for record in records {
            let status = try? RunConnection(record, name: "ps").status(timeout: .seconds(1))
            let uptime = Double(now &- record.startedAtNanoseconds) / 1e9
            let ready = status.map { $0.nodes.filter { ["ready", "completed"].contains($0.state) }.count }
            let restarts = status.map { $0.nodes.reduce(0) { $0 + $1.restarts } }
            let rate = status.map { $0.edges.reduce(0) { $0 + $1.framesPerSecond } }
            let phase = status?.phase ?? "not answering"
            rows.append([
                record.run, record.flow, "\(record.pid)", Self.duration(uptime),
                "\(ready.map(String.init) ?? "?")/\(record.nodes.count)", restarts.map(String.init) ?? "?",
                rate.map { String(format: "%.0f", $0) } ?? "?", phase,
            ])
            documents.append(
                .map([
                    .init("run", .string(record.run)), .init("flow", .string(record.flow)), .init("pid", .integer(Int64(record.pid))),
                    .init("phase", .string(phase)),
                    .init("nodes", .map([.init("ready", ready.map { .integer(Int64($0)) } ?? .null), .init("total", .integer(Int64(record.nodes.count)))])),
                    .init("restarts", restarts.map { .integer(Int64($0)) } ?? .null),
                    .init("frames_per_second", rate.map { .double($0) } ?? .null),
                    .init("uptime_s", .double((uptime * 10).rounded() / 10)),
                ])
            )
        }
        if json {
            StandardOutput.write(JSONText.write(.array(documents)) + "\n")
        } else if records.isEmpty {
            StandardOutput.write("no flows running\n")
        } else {
            StandardOutput.write(Table.render(rows, rightAligned: [2, 3, 4, 5, 6]).joined(separator: "\n") + "\n")
        }
    }

    /// `42.1 s`, `12 min 5 s`, `3 h 4 min`.
    static func duration(_ seconds: Double) -> String {
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        let whole = Int(seconds)
        if whole < 3600 { return "\(whole / 60) min \(whole % 60) s" }
        return "\(whole / 3600) h \(whole % 3600 / 60) min"
    }
}

/// `chronetix stop RUN`: the graceful stop of Ctrl-C, asked for from another terminal.
struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Stops a running flow as Ctrl-C does, waits for its end, and prints its final status.",
        discussion: """
            RUN is a run id, a unique prefix of one, or a flow name with exactly one run running (chronetix \
            ps lists them). The sources stop, the frames in flight drain for up to the drain timeout (the \
            run's own --drain-timeout unless given here), the nodes still running are cut. Exit status: 0 \
            when the run ended (whatever its status, which is printed); 1 when it could not be stopped or \
            did not end; 64 when RUN names no running run.
            """
    )

    @Argument(help: ArgumentHelp("The run: its id, a unique prefix of one, or its flow's name.", valueName: "run"))
    var target: String

    @Option(help: "Seconds the frames in flight get to drain before the nodes still running are cut (default: the run's own).")
    var drainTimeout: Double?

    @Flag(help: "Print the run's summary (as --summary-json writes it) instead of its status line.")
    var json = false

    func run() throws {
        if let drainTimeout, !(drainTimeout >= 0 && drainTimeout <= 86_400) {
            throw ValidationError("--drain-timeout must be between 0 and 86400 seconds")
        }
        let record: RunRecord
        do {
            record = try RunRecords().resolve(target)
        } catch {
            throw fail("stop", error, status: 64)
        }
        do {
            let connection = try RunConnection(record, name: "stop")
            try connection.stop(
                RunStopRequest(
                    drainTimeoutNanoseconds: drainTimeout.map { UInt64($0 * 1e9) },
                    requester: "chronetix stop (pid \(FileSystem.currentProcessID()))"
                )
            )
        } catch {
            throw fail("stop", error)
        }
        // The coordinator drains (its drain timeout), cuts, stops its workers (≤ 3 s more) and exits.
        let limit = (drainTimeout ?? 86_400) + 60
        let deadline = Clock.monotonicNanoseconds() + UInt64(limit * 1e9)
        while record.isLive {
            guard Clock.monotonicNanoseconds() < deadline else {
                throw fail("stop", .unreachable("run \(record.run) (pid \(record.pid)) did not end within \(Int(limit)) s of the stop"))
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        let summaryPath = RunLogs().summaryPath(of: record.run)
        guard let bytes = try? RegularFile.read(summaryPath, maxBytes: 64 << 20) else {
            StandardOutput.write("run \(record.run) ended (its summary was not written: see chronetix logs \(record.run))\n")
            return
        }
        if json {
            StandardOutput.write(String(decoding: bytes, as: UTF8.self))
        } else {
            StandardOutput.write("run \(record.run) ended: \(Self.statusLine(bytes) ?? "see \(summaryPath)")\n")
        }
    }

    /// `interrupted in 1532.0 ms; every node drained` from a summary's JSON.
    static func statusLine(_ bytes: [UInt8]) -> String? {
        guard let document = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let status = document["status"] as? String
        else { return nil }
        var line = status
        if let duration = document["duration_ns"] as? Int { line += String(format: " after %.1f ms", Double(duration) / 1e6) }
        if let stop = document["stop"] as? [String: Any] {
            let drained = stop["drained"] as? [String] ?? []
            let cut = stop["cut"] as? [String] ?? []
            let failed = stop["failed"] as? [String] ?? []
            if cut.isEmpty && failed.isEmpty {
                line += "; every node drained"
            } else {
                if !drained.isEmpty { line += "; drained: \(drained.joined(separator: ", "))" }
                if !failed.isEmpty { line += "; ended without draining: \(failed.joined(separator: ", "))" }
                if !cut.isEmpty { line += "; cut: \(cut.joined(separator: ", "))" }
            }
        }
        return line
    }
}

/// `chronetix logs RUN [NODE]`: a run's log, while it runs and after it ended.
struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Prints a run's log (running, or one of the last 20 finished), optionally one node's lines only.",
        discussion: """
            The coordinator writes its log (its own lines and its workers' standard error, each labelled with \
            run, node and pid) to the runtime directory's logs/RUN.log as well as to its terminal; the logs \
            of the last 20 finished runs are kept (at most 16 MiB each). RUN is a run id, a unique prefix of \
            one, or a flow name: its one running run, else its latest finished one.
            """
    )

    @Argument(help: ArgumentHelp("The run: its id, a unique prefix of one, or its flow's name.", valueName: "run"))
    var target: String

    @Argument(help: "Only the lines about this node.")
    var node: String?

    @Flag(name: .shortAndLong, help: "Keep printing what the run logs until it ends (Ctrl-C stops).")
    var follow = false

    func run() throws {
        let logs = RunLogs()
        let records = RunRecords()
        let live = records.live()
        let id: String
        do {
            id = try Self.resolve(target, running: live, logged: logs.runs())
        } catch {
            throw fail("logs", error, status: 64)
        }
        let path = logs.logPath(of: id)
        let record = live.first { $0.run == id }
        var offset = 0
        var pending: [UInt8] = []
        var ended = false
        while true {
            // Read what was appended since the last look (the whole file the first time).
            if let bytes = try? RegularFile.read(path, maxBytes: RunLogs.maxLogBytes + 4096), bytes.count > offset {
                pending += bytes[offset...]
                offset = bytes.count
                var text = ""
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    if node.map({ Self.isAbout(line, node: $0) }) ?? true { text += line + "\n" }
                }
                if !text.isEmpty && !StandardOutput.write(text) { return }
            }
            guard follow, let record, !ended else { break }
            // Once the coordinator is gone, one more look takes what it wrote last.
            ended = !record.isLive
            if !ended { Thread.sleep(forTimeInterval: 0.1) }
        }
    }

    /// Whether a log line (`TIME LEVEL run=… node=N pid=…: …`) is about `node`.
    static func isAbout(_ line: String, node: String) -> Bool {
        guard let fieldsEnd = line.range(of: ": ") else { return false }
        return line[..<fieldsEnd.lowerBound].split(separator: " ").contains { $0 == "node=\(node)" }
    }

    /// The run `text` names among the running runs and those with a log.
    static func resolve(_ text: String, running: [RunRecord], logged: [String]) throws(CoordinatorError) -> String {
        if logged.contains(text) || running.contains(where: { $0.run == text }) { return text }
        if let record = try? RunRecords.resolve(text, among: running) { return record.run }
        // Finished runs: a unique prefix, or the newest run of a flow (`logged` is newest first).
        let byPrefix = logged.filter { $0.hasPrefix(text) }
        if byPrefix.count == 1 { return byPrefix[0] }
        if let newest = logged.first(where: { Self.flow(of: $0) == text }) { return newest }
        if byPrefix.count > 1 {
            throw .noSuchRun("\(Quote.quoted(text)) is the start of \(byPrefix.count) runs: \(byPrefix.joined(separator: ", ")); give more of the id")
        }
        // Says why among the running runs (an ambiguous flow name, say), or that nothing has that name.
        _ = try RunRecords.resolve(text, among: running)
        throw .noSuchRun("no run or flow is called \(Quote.quoted(text))")
    }

    /// A run id's flow: everything before its last `-`.
    static func flow(of run: String) -> String {
        run.lastIndex(of: "-").map { String(run[..<$0]) } ?? run
    }
}

/// Columns of text, the first row the header: the summary's tables, `ps`, `top`.
enum Table {
    static func render(_ rows: [[String]], rightAligned: [Int]) -> [String] {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return rightAligned.contains(column) ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
    }
}
