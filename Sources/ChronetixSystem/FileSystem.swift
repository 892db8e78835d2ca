import Glibc

/// What `lstat(2)` says about a path: the few fields Chronetix checks before trusting a socket or directory.
public struct FileStatus: Hashable, Sendable {
    /// The owning user id (`st_uid`).
    public var ownerUserID: UInt32
    /// The permission bits of `st_mode` (`mode & 0o7777`: read/write/execute, setuid, setgid, sticky).
    public var mode: UInt32
    /// Whether the path is a directory (`S_ISDIR`); a symbolic link is not followed, so it is never one.
    public var isDirectory: Bool
    /// Whether the path is a Unix-domain socket (`S_ISSOCK`).
    public var isSocket: Bool
    /// The last modification, in seconds since the Unix epoch (`st_mtime`).
    public var modificationTime: Int

    /// Creates a status from its fields.
    /// - Parameters:
    ///   - ownerUserID: The owning user id.
    ///   - mode: The permission bits.
    ///   - isDirectory: Whether it is a directory.
    ///   - isSocket: Whether it is a socket.
    ///   - modificationTime: The last modification, in seconds since the Unix epoch.
    public init(ownerUserID: UInt32, mode: UInt32, isDirectory: Bool, isSocket: Bool, modificationTime: Int = 0) {
        self.ownerUserID = ownerUserID
        self.mode = mode
        self.isDirectory = isDirectory
        self.isSocket = isSocket
        self.modificationTime = modificationTime
    }
}

/// Paths in the file system: the directories and socket files of the event bus, and who this process is.
public enum FileSystem {
    /// Creates a directory with exactly `mode`, whatever the process's umask. Wraps `mkdir(2)`, then
    /// `chmod(2)`; when `chmod` fails the new directory is removed again.
    /// - Parameters:
    ///   - path: The directory to create; its parent must exist.
    ///   - mode: The permission bits (0o700: only this user may enter).
    /// - Throws: `SystemCallError` naming `mkdir` (`EEXIST` when the path exists) or `chmod`, and the path.
    public static func createDirectory(_ path: String, mode: UInt32) throws(SystemCallError) {
        // Safe (here and below): each `path` is passed as a NUL-terminated C string that lives for the call.
        do { try SystemCall.nothing("mkdir") { unsafe mkdir(path, mode_t(mode)) } } catch {
            throw SystemCallError("mkdir", path, error)
        }
        do { try SystemCall.nothing("chmod") { unsafe chmod(path, mode_t(mode)) } } catch {
            // The directory is empty and was made just now: removing it leaves nothing behind. Should rmdir
            // fail too, the chmod error is still the one that explains what went wrong.
            _ = unsafe rmdir(path)
            throw SystemCallError("chmod", path, error)
        }
    }

    /// Removes an empty directory. Wraps `rmdir(2)`.
    /// - Parameter path: The directory.
    /// - Throws: `SystemCallError` naming `rmdir` (`ENOENT`, `ENOTEMPTY`, …) and the path.
    public static func removeDirectory(_ path: String) throws(SystemCallError) {
        // Safe: `path` is passed as a NUL-terminated C string that lives for the call.
        do { try SystemCall.nothing("rmdir") { unsafe rmdir(path) } } catch {
            throw SystemCallError("rmdir", path, error)
        }
    }

    /// Removes a name that is not a directory (a socket file, a regular file). Wraps `unlink(2)`.
    /// - Parameter path: The name to remove.
    /// - Throws: `SystemCallError` naming `unlink` and the path; `ENOENT` is thrown too, so that the
    ///   caller decides whether a missing file matters.
    public static func removeFile(_ path: String) throws(SystemCallError) {
        // Safe: `path` is passed as a NUL-terminated C string that lives for the call.
        do { try SystemCall.nothing("unlink") { unsafe unlink(path) } } catch {
            throw SystemCallError("unlink", path, error)
        }
    }

    /// The owner, permission bits and kind of a path, without following a final symbolic link.
    /// Wraps `lstat(2)`.
    /// - Parameter path: The path.
    /// - Returns: Its status.
    /// - Throws: `SystemCallError` naming `lstat` (`ENOENT` when there is no such path) and the path.
    public static func status(of path: String) throws(SystemCallError) -> FileStatus {
        var information = stat()
        // Safe: `path` lives for the call as a C string; `information` is a whole `struct stat` to fill.
        do { try SystemCall.nothing("lstat") { unsafe lstat(path, &information) } } catch {
            throw SystemCallError("lstat", path, error)
        }
        let kind = information.st_mode & S_IFMT
        return FileStatus(
            ownerUserID: information.st_uid,
            mode: information.st_mode & 0o7777,
            isDirectory: kind == S_IFDIR,
            isSocket: kind == S_IFSOCK,
            modificationTime: Int(information.st_mtim.tv_sec)
        )
    }

    /// The directory for temporary files: `TMPDIR` when it is set and not empty, else `/tmp`; without a
    /// trailing slash (except for `/` itself).
    public static var temporaryDirectory: String {
        // Safe: getenv returns NULL or a NUL-terminated string in the environment, copied into a String at
        // once; nothing in Chronetix calls setenv, which could free it, while it runs.
        guard let value = unsafe getenv("TMPDIR"), case var path = unsafe String(cString: value), !path.isEmpty else {
            return "/tmp"
        }
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }

    /// The effective user id of this process, the one the kernel checks file permissions against and
    /// reports as a peer's credentials. Wraps `geteuid(2)`, which cannot fail.
    public static func currentUserID() -> UInt32 { geteuid() }

    /// The id of this process. Wraps `getpid(2)`, which cannot fail.
    public static func currentProcessID() -> Int32 { getpid() }
}
