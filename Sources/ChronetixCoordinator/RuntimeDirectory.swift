import ChronetixSystem

/// Where this user's runs record themselves: `$XDG_RUNTIME_DIR/chronetix`, else `/tmp/chronetix-UID`
/// (mode 0700, this user's, no symbolic link). `runs/` holds one record per running flow (``RunRecord``),
/// `logs/` the logs of running and recently finished runs (``RunLogs``).
public struct RuntimeDirectory: Sendable, Hashable {
    /// The directory itself.
    public var path: String

    /// The directory at `path` (tests use a directory of their own).
    public init(path: String) {
        self.path = path
    }

    /// This user's: `$CHRONETIX_RUNTIME_DIR` when set (tests, several hosts in one machine), else
    /// `$XDG_RUNTIME_DIR/chronetix`, else `/tmp/chronetix-UID`.
    public static var current: RuntimeDirectory {
        func value(_ name: String) -> String? {
            Processes.environmentValue(named: name).flatMap { $0.isEmpty ? nil : $0 }
        }
        if let explicit = value("CHRONETIX_RUNTIME_DIR") { return RuntimeDirectory(path: explicit) }
        if let runtime = value("XDG_RUNTIME_DIR") { return RuntimeDirectory(path: "\(runtime)/chronetix") }
        return RuntimeDirectory(path: "/tmp/chronetix-\(FileSystem.currentUserID())")
    }

    /// The running runs' records.
    public var runs: String { "\(path)/runs" }
    /// The runs' logs.
    public var logs: String { "\(path)/logs" }

    /// Creates the directory and its two subdirectories if they are missing, checking each is private.
    /// - Throws: ``CoordinatorError/runtimeDirectory(_:)``.
    public func prepare() throws(CoordinatorError) {
        for directory in [path, runs, logs] {
            do {
                try PrivateFile.ensurePrivateDirectory(directory)
            } catch {
                throw .runtimeDirectory("\(error)")
            }
        }
    }
}
