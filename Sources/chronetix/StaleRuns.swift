import ChronetixCoordinator
import ChronetixSystem
import ShmDataPort

/// Run directories (`$TMPDIR/chronetix-<run id>/`, holding the run's `bus.sock`) left behind by coordinators
/// that died without cleaning up (SIGKILL, a crash, a power cut of the process).
///
/// A run directory is judged by its bus socket: a live coordinator's socket is listening (the kernel's socket
/// table says so, without connecting to it), a dead one's is not. Only directories named like a run's, owned
/// by this user and holding nothing but `bus.sock` are ever removed.
enum StaleRuns {
    struct Finding {
        var name: String
        var path: String
        var verdict: Verdict
    }

    enum Verdict {
        /// Its coordinator is gone.
        case stale(reason: String)
        /// Its bus is listening.
        case live
        /// Something with the prefix that this code does not judge; never removed.
        case unrecognized(reason: String)
    }

    /// How old a run directory without a socket must be before it counts as left behind: a coordinator
    /// creates the socket right after the directory.
    static let graceSeconds = 60

    /// Judges every `chronetix-*` entry of the temporary directory.
    /// - Throws: `SystemCallError` when the directory cannot be listed, or the socket table cannot be read.
    static func scan(in directory: String = FileSystem.temporaryDirectory) throws -> [Finding] {
        let names = try Directory.entries(of: directory).filter { $0.hasPrefix("chronetix-") }.sorted()
        guard !names.isEmpty else { return [] }
        let listening = try UnixSocketTable.listeningPaths()
        let now = Int(Clock.realtimeNanoseconds() / 1_000_000_000)
        return names.compactMap { name in
            let path = "\(directory)/\(name)"
            guard let status = try? FileSystem.status(of: path), status.isDirectory else { return nil }  // files: not ours to judge
            return Finding(name: name, path: path, verdict: judge(name: name, path: path, status: status, listening: listening, now: now))
        }
    }

    static func judge(name: String, path: String, status: FileStatus, listening: Set<String>, now: Int) -> Verdict {
        guard isRunDirectoryName(name) else { return .unrecognized(reason: "not named like a run directory") }
        return judgeBusDirectory(path: path, status: status, listening: listening, now: now)
    }

    /// Judges a directory that holds a bus socket (a run's, or a bus bench's) by that socket: stale when
    /// nothing listens on it, or when it stayed empty past the grace period. Never stale when it is another
    /// user's or holds anything else.
    static func judgeBusDirectory(path: String, status: FileStatus, listening: Set<String>, now: Int) -> Verdict {
        guard status.ownerUserID == FileSystem.currentUserID() else { return .unrecognized(reason: "owned by user \(status.ownerUserID)") }
        guard let entries = try? Directory.entries(of: path) else { return .unrecognized(reason: "cannot be listed") }
        guard entries.allSatisfy({ $0 == "bus.sock" }) else {
            return .unrecognized(reason: "holds more than a bus socket (\(entries.sorted().joined(separator: ", ")))")
        }
        let socket = "\(path)/bus.sock"
        if entries.contains("bus.sock") {
            if listening.contains(socket) { return .live }
            return .stale(reason: "its bus socket has no listener: the coordinator is gone")
        }
        if now - status.modificationTime > graceSeconds {
            return .stale(reason: "empty for more than \(graceSeconds) s")
        }
        return .live
    }

    /// `chronetix-<run id>` (``RunLayout``).
    static func isRunDirectoryName(_ name: String) -> Bool {
        RunLayout.runID(ofDirectoryName: name) != nil
    }

    /// Whether a segment is a run's ring, `/chronetix.<run id>.<node>.<output>` (``RunLayout``), not
    /// another program's ring with the Chronetix prefix, such as a test's or a bench's.
    static func isRunRing(_ name: String) -> Bool {
        RunLayout.runID(ofRingName: name) != nil
    }

    /// Removes stale run directories (their socket file, then the empty directory).
    static func remove(_ findings: [Finding]) -> (removed: [Finding], failed: [(Finding, any Error)]) {
        var removed: [Finding] = []
        var failed: [(Finding, any Error)] = []
        for finding in findings {
            guard case .stale = finding.verdict else { continue }
            do {
                try removeBusDirectory(finding.path)
                removed.append(finding)
            } catch {
                failed.append((finding, error))
            }
        }
        return (removed, failed)
    }

    /// Removes a stale bus directory: its socket file, then the directory (which must then be empty).
    static func removeBusDirectory(_ path: String) throws(SystemCallError) {
        let socket = "\(path)/bus.sock"
        if (try? FileSystem.status(of: socket)) != nil { try FileSystem.removeFile(socket) }
        try FileSystem.removeDirectory(path)
    }
}

/// What crashed runs left: their ring segments (`StaleSegments`) and run directories (`StaleRuns`). Only the
/// rings of runs (`/chronetix.<run id>.…`) are taken here; `chronetix gc` takes every stale Chronetix ring.
enum RunLeftovers {
    /// Removes both kinds; returns one line per thing removed or not removable, for people.
    static func clean() -> [String] {
        var lines: [String] = []
        if let segments = try? StaleSegments.scan() {
            let outcome = StaleSegments.remove(segments.filter { finding in
                guard StaleRuns.isRunRing(finding.name), case .stale = finding.verdict else { return false }
                return true
            })
            for finding in outcome.removed { lines.append("removed segment \(finding.name) left by a run whose coordinator is gone") }
            for (finding, error) in outcome.failed { lines.append("could not remove segment \(finding.name): \(error)") }
        }
        lines += RunRecords().removeStale()
        if let runs = try? StaleRuns.scan() {
            let outcome = StaleRuns.remove(runs)
            for finding in outcome.removed { lines.append("removed run directory \(finding.path) left by a coordinator that is gone") }
            for (finding, error) in outcome.failed { lines.append("could not remove run directory \(finding.path): \(error)") }
        }
        return lines
    }
}
