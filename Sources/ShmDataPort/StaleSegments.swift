public import ChronetixSystem
import Synchronization

/// Finds and removes ring segments whose owner is dead: what `chronetix gc` does, and what a run started
/// after a crashed one does to clean up after it.
///
/// Only Chronetix rings are ever removed: a segment must carry our name prefix *and* our magic, and its
/// owner (the creating process, recorded by pid and start time) must be gone. Anything else with our
/// prefix is reported and left alone.
public enum StaleSegments {
    /// What the scan concluded about one segment.
    public enum Verdict: Hashable, Sendable {
        /// A ring whose owner is dead (or that was never initialised, more than a minute ago).
        case stale(reason: String)
        /// A ring whose owner is alive.
        case live(owner: ProcessIdentity)
        /// Something with our prefix that is not a ring we can judge; never removed.
        case unrecognized(reason: String)
    }

    /// One segment and the verdict on it.
    public struct Finding: Hashable, Sendable {
        /// The segment's name (`/chronetix.…`).
        public var name: String
        /// What the scan concluded.
        public var verdict: Verdict
        /// Its size in bytes, when it could be read.
        public var size: Int?
    }

    /// Segments that are never initialised (magic still 0, or still 0 bytes long) count as stale once they
    /// are this old: their creator died between creating and initialising (or sizing) them.
    public static let uninitializedGraceSeconds = 60

    /// Judges every segment in `/dev/shm` whose name starts with `prefix`.
    ///
    /// `/dev/shm` is world-writable: anything may carry our prefix. Each name is opened without blocking and
    /// without following a symbolic link, and only a regular file owned by this user is looked into; anything
    /// else (a FIFO, a symbolic link, a directory, another user's file) is reported as unrecognised and never
    /// removed.
    /// - Parameters:
    ///   - prefix: The name prefix with its slash; ``RingName/prefix`` by default.
    ///   - uninitializedGraceSeconds: How old an uninitialised segment must be to be stale (tests shorten it).
    /// - Returns: One finding per segment, sorted by name.
    /// - Throws: `SystemCallError` when `/dev/shm` cannot be listed.
    public static func scan(
        prefix: String = RingName.prefix,
        uninitializedGraceSeconds: Int = uninitializedGraceSeconds
    ) throws(SystemCallError) -> [Finding] {
        try SharedMemory.names(withPrefix: prefix).map { judge($0, graceSeconds: uninitializedGraceSeconds) }
    }

    /// Removes the stale segments among `findings`.
    /// - Parameter findings: The result of ``scan(prefix:)``.
    /// - Returns: The findings that were removed, and failures (name and error) for those that could not be.
    public static func remove(_ findings: [Finding]) -> (removed: [Finding], failed: [(Finding, SystemCallError)]) {
        var removed: [Finding] = []
        var failed: [(Finding, SystemCallError)] = []
        for finding in findings {
            guard case .stale = finding.verdict else { continue }
            do {
                try SharedMemory.unlink(name: finding.name)
                removed.append(finding)
            } catch where error.errno == .noSuchFile {
                removed.append(finding)  // someone else removed it first: it is gone either way
            } catch {
                failed.append((finding, error))
            }
        }
        return (removed, failed)
    }

    /// Judges one segment by its header page, read with `pread(2)` and never trusted.
    static func judge(_ name: String, graceSeconds: Int) -> Finding {
        let descriptor: FileDescriptor
        do {
            descriptor = try SharedMemory.openForInspection(name: name)
        } catch where error.errno == .symbolicLinkLoop {
            return Finding(name: name, verdict: .unrecognized(reason: "a symbolic link, not a segment; left alone"), size: nil)
        } catch {
            return Finding(name: name, verdict: .unrecognized(reason: "cannot open it: \(error.errno)"), size: nil)
        }
        let status: OpenFileStatus
        do {
            status = try descriptor.status()
        } catch {
            return Finding(name: name, verdict: .unrecognized(reason: "cannot read its status: \(error)"), size: nil)
        }
        guard status.kind == .regular else {
            return Finding(name: name, verdict: .unrecognized(reason: "\(status.kind), not a segment; left alone"), size: nil)
        }
        guard status.ownerUserID == FileSystem.currentUserID() else {
            return Finding(
                name: name,
                verdict: .unrecognized(reason: "owned by user \(status.ownerUserID), not this user; left alone"),
                size: status.size
            )
        }
        let size = status.size
        let age = Int(Clock.realtimeNanoseconds() / 1_000_000_000) - status.statusChangeTime
        if size == 0 {
            // Its creator died between shm_open and ftruncate: nothing was ever written.
            if age > graceSeconds {
                return Finding(name: name, verdict: .stale(reason: "empty (0 bytes), never sized; created \(age) s ago"), size: size)
            }
            return Finding(name: name, verdict: .unrecognized(reason: "empty, not sized yet (\(age) s old)"), size: size)
        }
        guard size >= RingLayout.headerSize else {
            return Finding(name: name, verdict: .unrecognized(reason: "\(size) bytes, smaller than a ring header"), size: size)
        }
        // Read with pread, not through a mapping: a segment truncated meanwhile gives a short read, not SIGBUS.
        let bytes: [UInt8]
        do {
            bytes = try descriptor.readBytes(at: 0, count: RingLayout.headerSize)
        } catch {
            return Finding(name: name, verdict: .unrecognized(reason: "cannot read it: \(error)"), size: size)
        }
        guard bytes.count == RingLayout.headerSize else {
            return Finding(name: name, verdict: .unrecognized(reason: "truncated to \(bytes.count) bytes while being read"), size: size)
        }
        let header = RingHeaderBytes(bytes)
        let magic = header.loadU64(RingLayout.Header.magic)
        if magic == 0 {
            if age > graceSeconds {
                return Finding(name: name, verdict: .stale(reason: "never initialised; created \(age) s ago"), size: size)
            }
            return Finding(name: name, verdict: .unrecognized(reason: "not initialised yet (\(age) s old)"), size: size)
        }
        guard magic == RingLayout.magic else {
            return Finding(name: name, verdict: .unrecognized(reason: "not a Chronetix ring (magic 0x\(String(magic, radix: 16)))"), size: size)
        }
        let owner = ProcessIdentity(
            pid: header.loadI32(RingLayout.Header.ownerPID),
            startTime: header.loadU64(RingLayout.Header.ownerStartTime)
        )
        if owner.isAlive { return Finding(name: name, verdict: .live(owner: owner), size: size) }
        return Finding(name: name, verdict: .stale(reason: "owner \(owner) is gone"), size: size)
    }
}
