import Glibc

/// Files only their owner may read or write: a run's record in the per-user runtime directory, a run's
/// log. Every file is created with mode 0600 whatever the umask, never through a symbolic link
/// (`O_NOFOLLOW`), and is close-on-exec.
public enum PrivateFile {
    /// Writes `bytes` to `path` so that a reader sees the old file or the new one, never a part: the bytes
    /// go to `path.tmp-PID` (created with `O_EXCL`), then `rename(2)` puts it in place.
    /// - Throws: `SystemCallError` naming `open`, `write`, `fchmod` or `rename`, and the path.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(SystemCallError) {
        let temporary = "\(path).tmp-\(getpid())"
        _ = unsafe unlink(temporary)  // a leftover of this pid (reused after a crash); ENOENT otherwise
        let file = try AppendingFile(creating: temporary, exclusive: true)
        // No do/catch around a typed throw here: the Swift 6.3.1 compiler crashes on it (AllocBoxToStack).
        if let failure = file.writeReportingFailure(bytes) {
            _ = unsafe unlink(temporary)  // ours, half written: nothing of it may stay
            throw failure
        }
        // Safe: both paths are NUL-terminated C strings that live for the call.
        guard unsafe rename(temporary, path) == 0 else {
            let error = Errno.current
            _ = unsafe unlink(temporary)
            throw SystemCallError("rename", path, error)
        }
    }

    /// Makes sure `path` is a directory that only this user may enter: creates it with mode 0700 if it is
    /// missing; refuses one that is a symbolic link, not a directory, another user's, or open to others.
    /// - Throws: `SystemCallError` naming `mkdir` or `lstat`; ``UnsafeDirectory`` for one that exists and
    ///   may not be trusted.
    public static func ensurePrivateDirectory(_ path: String) throws -> Void {
        switch Result(catching: { () throws(SystemCallError) in try FileSystem.createDirectory(path, mode: 0o700) }) {
        case .success: return
        case .failure(let error) where error.errno == Errno(rawValue: EEXIST): break  // there already: checked below
        case .failure(let error): throw error
        }
        let status = try FileSystem.status(of: path)
        guard status.isDirectory else { throw UnsafeDirectory(path: path, reason: "it is not a directory (or is a symbolic link)") }
        guard status.ownerUserID == FileSystem.currentUserID() else {
            throw UnsafeDirectory(path: path, reason: "it belongs to user \(status.ownerUserID), not to this user (\(FileSystem.currentUserID()))")
        }
        guard status.mode & 0o077 == 0 else {
            throw UnsafeDirectory(path: path, reason: "others may enter it (mode \(String(status.mode, radix: 8)), not 700)")
        }
    }

    /// A directory that exists and may not be trusted with private files.
    public struct UnsafeDirectory: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path) is not a private directory: \(reason)" }
    }
}

/// A private file (mode 0600) opened for appending: a run's log. Each ``write(_:)`` is one `write(2)` call
/// (or as many as a short write takes) at the end of the file.
public final class AppendingFile: Sendable {
    private let descriptor: Int32

    /// Opens (and creates, mode 0600) `path` for appending. Wraps `open(2)` with `O_WRONLY | O_APPEND |
    /// O_CREAT | O_NOFOLLOW | O_CLOEXEC` (and `O_EXCL` when `exclusive`), then `fchmod(2)` to 0600 against
    /// the umask; retries `EINTR`.
    /// - Throws: `SystemCallError` naming `open` or `fchmod`, and the path.
    public init(creating path: String, exclusive: Bool = false) throws(SystemCallError) {
        var flags = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC
        if exclusive { flags |= O_EXCL }
        let descriptor: Int32
        do {
            // Safe: the path is a NUL-terminated C string that lives for the call.
            descriptor = try SystemCall.value("open") { unsafe open(path, flags, mode_t(0o600)) }
        } catch {
            throw SystemCallError("open", path, error)
        }
        do {
            try SystemCall.nothing("fchmod") { fchmod(descriptor, 0o600) }
        } catch {
            _ = Glibc.close(descriptor)  // nothing written yet: nothing to lose
            throw SystemCallError("fchmod", path, error)
        }
        self.descriptor = descriptor
    }

    /// Appends every byte; retries `EINTR` and short writes.
    /// - Throws: `SystemCallError` naming `write` (`ENOSPC`, `EIO`).
    public func write(_ bytes: [UInt8]) throws(SystemCallError) {
        if let failure = writeReportingFailure(bytes) { throw failure }
    }

    /// ``write(_:)``, with its failure returned rather than thrown.
    func writeReportingFailure(_ bytes: [UInt8]) -> SystemCallError? {
        let failure: Errno? = unsafe bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                // Safe: the kernel reads at most the remaining bytes of the array's live buffer. (A Result, not
                // do/catch: the closure's untyped rethrow would lose the Errno.)
                let written = Result { () throws(Errno) in
                    try SystemCall.value("write") { unsafe Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset) }
                }
                switch written {
                case .success(let count): offset += count
                case .failure(let error): return error
                }
            }
            return nil
        }
        return failure.map { SystemCallError("write", nil, $0) }
    }

    deinit {
        _ = Glibc.close(descriptor)  // appended with write(2): nothing is buffered here to lose on close
    }
}
