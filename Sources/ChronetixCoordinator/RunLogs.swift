import ChronetixSystem
import Synchronization

/// The logs of a host's runs (`logs/` in the runtime directory): `<run id>.log`, the run's log as its
/// terminal shows it (every line with run, node and pid), and `<run id>.summary.json` once the run ended.
/// The logs of the last ``keptFinishedRuns`` finished runs stay, each at most ``maxLogBytes``, so that a
/// person can read why a run failed after it ended.
public struct RunLogs: Sendable {
    public let directory: RuntimeDirectory
    /// Finished runs whose logs are kept.
    public static let keptFinishedRuns = 20
    /// The most bytes one run's log file takes; past it, one line says so and the rest goes to the
    /// terminal only.
    public static let maxLogBytes = 16 << 20

    public init(directory: RuntimeDirectory = .current) {
        self.directory = directory
    }

    public func logPath(of run: String) -> String { "\(directory.logs)/\(run).log" }
    public func summaryPath(of run: String) -> String { "\(directory.logs)/\(run).summary.json" }

    /// The run ids with a log, newest first (by the log's last change).
    public func runs() -> [String] {
        guard let names = try? Directory.entries(of: directory.logs) else { return [] }
        let runs = names.filter { $0.hasSuffix(".log") && !$0.hasPrefix(".") }.map { String($0.dropLast(4)) }
        let times = Dictionary(uniqueKeysWithValues: runs.map { ($0, (try? FileSystem.status(of: logPath(of: $0)))?.modificationTime ?? 0) })
        return runs.sorted { (times[$0] ?? 0, $0) > (times[$1] ?? 0, $1) }
    }

    /// Removes the logs of finished runs beyond the newest ``keptFinishedRuns``; a running run's log stays.
    /// - Parameter running: The ids of the runs still running.
    public func prune(keeping running: Set<String>) {
        let finished = runs().filter { !running.contains($0) }
        for run in finished.dropFirst(Self.keptFinishedRuns) {
            try? FileSystem.removeFile(logPath(of: run))  // gone already: the same outcome
            try? FileSystem.removeFile(summaryPath(of: run))
        }
    }
}

/// A run's log file: lines appended whole, at most ``RunLogs/maxLogBytes`` in all (then a last line says
/// the rest was left out). Shared by the threads that log (the main loop, the bus, the workers' captures).
public final class RunLogFile: Sendable {
    private let file: AppendingFile
    private let written = Mutex<Int>(0)
    private let limit: Int

    /// Creates (or appends to) the log at `path`, mode 0600.
    /// - Throws: ``CoordinatorError/record(_:)``.
    public init(path: String, limit: Int = RunLogs.maxLogBytes) throws(CoordinatorError) {
        do {
            file = try AppendingFile(creating: path)
        } catch {
            throw .record("cannot write the run's log: \(error)")
        }
        self.limit = limit
    }

    /// Appends `line` (which ends with a line feed); a failed write loses the line, never the run.
    public func append(_ line: String) {
        let bytes = Array(line.utf8)
        let fits: Bool? = written.withLock { total in
            guard total < limit else { return nil }
            total += bytes.count
            return total <= limit
        }
        guard let fits else { return }
        if fits {
            try? file.write(bytes)  // a full disk loses log lines; the terminal still has them
        } else {
            try? file.write(Array("… the log reached \(limit >> 20) MiB; the rest went to the terminal only\n".utf8))
        }
    }
}
