import ChronetixCore
import ChronetixRuntime
public import ChronetixSystem

/// A running flow's entry in the runtime directory (`runs/<run id>.cbor`, mode 0600, CBOR): enough for
/// another terminal of the same user to find the run, judge whether it still runs, and attach to its bus.
public struct RunRecord: Hashable, Sendable, Codable {
    /// The run id (`<flow>-<8 hex digits>`).
    public var run: String
    /// The flow's name.
    public var flow: String
    /// The coordinator's pid.
    public var pid: Int32
    /// The coordinator's start time in clock ticks since boot (`/proc/PID/stat`): with the pid, names the
    /// process even after its pid is reused.
    public var pidStartTime: UInt64
    /// The run's bus socket.
    public var socket: String
    /// The run's bus token (the file is readable by its user only).
    public var token: String
    /// When the run started, in nanoseconds since the epoch.
    public var startedAtNanoseconds: UInt64
    /// The run's log file.
    public var log: String
    /// The flow's node ids, in flow order.
    public var nodes: [String]
    /// The flow's edges as the summary writes them (`gain/out->sink/in`).
    public var edges: [String]

    public init(
        run: String, flow: String, coordinator: ProcessIdentity, socket: String, token: String, startedAtNanoseconds: UInt64,
        log: String, nodes: [String], edges: [String]
    ) {
        self.run = run
        self.flow = flow
        pid = coordinator.pid
        pidStartTime = coordinator.startTime
        self.socket = socket
        self.token = token
        self.startedAtNanoseconds = startedAtNanoseconds
        self.log = log
        self.nodes = nodes
        self.edges = edges
    }

    /// The coordinator's identity.
    public var coordinator: ProcessIdentity { ProcessIdentity(pid: pid, startTime: pidStartTime) }

    /// Whether its coordinator still runs: the same rule as a ring's owner (pid and start time, not a
    /// zombie). A stopped coordinator (Ctrl-Z) still runs.
    public var isLive: Bool { coordinator.isAlive }

    private enum CodingKeys: String, CodingKey {
        case run, flow, pid
        case pidStartTime = "pid_start_time"
        case socket, token
        case startedAtNanoseconds = "started_at_ns"
        case log, nodes, edges
    }
}

/// The records of a runtime directory: written by a coordinator when its run starts, removed at its end;
/// those whose coordinator is gone are removed by the next run and by `chronetix gc`.
public struct RunRecords: Sendable {
    public let directory: RuntimeDirectory

    public init(directory: RuntimeDirectory = .current) {
        self.directory = directory
    }

    /// The most bytes a record may have: a record larger than this was not written by a coordinator.
    static let maxRecordBytes = 1 << 20

    private func path(of run: String) -> String { "\(directory.runs)/\(run).cbor" }

    /// Records `record` (replacing an earlier one of the same run).
    /// - Throws: ``CoordinatorError``.
    public func write(_ record: RunRecord) throws(CoordinatorError) {
        try directory.prepare()
        do {
            try PrivateFile.writeAtomically(try RunCoding.encode(record), to: path(of: record.run))
        } catch {
            throw .record("cannot record run \(record.run) in \(directory.runs): \(error)")
        }
    }

    /// Removes the record of `run`; a missing one is not an error.
    public func remove(_ run: String) {
        try? FileSystem.removeFile(path(of: run))  // gone already, or never written: the same outcome
    }

    /// One entry of the directory: a record, or a file that could not be read as one.
    public enum Entry: Sendable {
        case record(RunRecord)
        case unreadable(name: String, reason: String)
    }

    /// Every entry, sorted by run id; an empty list when the directory does not exist.
    public func entries() -> [Entry] {
        guard let names = try? Directory.entries(of: directory.runs) else { return [] }
        return names.filter { $0.hasSuffix(".cbor") && !$0.hasPrefix(".") }.sorted().map { name in
            let file = "\(directory.runs)/\(name)"
            let bytes: [UInt8]
            do {
                bytes = try RegularFile.read(file, maxBytes: Self.maxRecordBytes)
            } catch {
                return .unreadable(name: name, reason: "\(error)")
            }
            guard let record = try? RunCoding.decode(RunRecord.self, from: bytes), "\(record.run).cbor" == name else {
                return .unreadable(name: name, reason: "not a run record")
            }
            return .record(record)
        }
    }

    /// The records whose coordinator runs, by run id.
    public func live() -> [RunRecord] {
        entries().compactMap { entry in
            if case .record(let record) = entry, record.isLive { return record }
            return nil
        }
    }

    /// Removes the records whose coordinator is gone, and files in `runs/` that are not records at all.
    /// - Returns: One line per file removed, for people.
    @discardableResult
    public func removeStale() -> [String] {
        var removed: [String] = []
        for entry in entries() {
            switch entry {
            case .record(let record) where !record.isLive:
                remove(record.run)
                removed.append("removed the record of run \(record.run): its coordinator (pid \(record.pid)) is gone")
            case .unreadable(let name, let reason):
                if (try? FileSystem.removeFile("\(directory.runs)/\(name)")) != nil {
                    removed.append("removed \(directory.runs)/\(name): \(reason)")
                }
            default:
                break
            }
        }
        return removed
    }

    /// The running run that `text` names: its id, a unique prefix of one, or the name of a flow with exactly
    /// one run running.
    /// - Throws: ``CoordinatorError/noSuchRun(_:)``, listing the candidates.
    public func resolve(_ text: String) throws(CoordinatorError) -> RunRecord {
        try Self.resolve(text, among: live())
    }

    /// ``resolve(_:)`` among `records`.
    public static func resolve(_ text: String, among records: [RunRecord]) throws(CoordinatorError) -> RunRecord {
        let shown = Quote.quoted(text)
        guard !text.isEmpty else { throw .noSuchRun("no run named: give a run id, a prefix of one, or a flow name") }
        if let exact = records.first(where: { $0.run == text }) { return exact }
        let byFlow = records.filter { $0.flow == text }
        if byFlow.count == 1 { return byFlow[0] }
        if byFlow.count > 1 {
            throw .noSuchRun("flow \(shown) has \(byFlow.count) runs running: \(byFlow.map(\.run).joined(separator: ", ")); name one")
        }
        let byPrefix = records.filter { $0.run.hasPrefix(text) }
        if byPrefix.count == 1 { return byPrefix[0] }
        if byPrefix.count > 1 {
            throw .noSuchRun("\(shown) is the start of \(byPrefix.count) runs: \(byPrefix.map(\.run).joined(separator: ", ")); give more of the id")
        }
        let running = records.isEmpty ? "no run is running" : "running: \(records.map(\.run).joined(separator: ", "))"
        throw .noSuchRun("no running run or flow is called \(shown) (\(running))")
    }
}
