import Glibc

/// An open file descriptor, owned: closed exactly once, by `close()` or when the owner goes away.
public struct FileDescriptor: ~Copyable {
    /// The raw descriptor number.
    public let rawValue: Int32

    /// Takes ownership of an open descriptor.
    /// - Parameter rawValue: A descriptor this value now owns; nothing else may close it.
    public init(adopting rawValue: Int32) {
        precondition(rawValue >= 0, "FileDescriptor(adopting:) needs an open descriptor, got \(rawValue)")
        self.rawValue = rawValue
    }

    /// Closes the descriptor. Wraps `close(2)`; `EINTR` counts as closed (Linux always releases the
    /// descriptor), and the other errors cannot be acted on by a caller that is giving the descriptor up.
    public consuming func close() {
        let value = rawValue
        discard self
        Self.close(value)
    }

    deinit { Self.close(rawValue) }

    /// Gives up ownership without closing: the caller now owns the raw descriptor (to pass it on with
    /// `SCM_RIGHTS`, or to keep it in a collection, which cannot hold non-copyable values).
    /// - Returns: The raw descriptor number.
    public consuming func takeRawValue() -> Int32 {
        let value = rawValue
        discard self
        return value
    }

    /// A second descriptor for the same open file (or socket), owned separately: closing one leaves the
    /// other open. Wraps `fcntl(2)` `F_DUPFD_CLOEXEC`. Lets a thread of its own write a socket whose owner
    /// reads it, without sharing the owner's value.
    /// - Returns: The new descriptor.
    /// - Throws: The `Errno` of `fcntl` (`EMFILE` when the process is out of descriptors).
    public func duplicate() throws(Errno) -> FileDescriptor {
        FileDescriptor(adopting: try SystemCall.value("fcntl") { fcntl(rawValue, F_DUPFD_CLOEXEC, 0) })
    }

    private static func close(_ value: Int32) {
        // close(2) on Linux releases the descriptor even when it reports EINTR or EIO; a retry could close
        // a descriptor another thread has just been given. EBADF would be a double close: a programmer error.
        if Glibc.close(value) == -1 && errno == EBADF {
            preconditionFailure("close(\(value)): EBADF: descriptor was not open (closed twice?)")
        }
    }

    /// The size of the open file in bytes. Wraps `fstat(2)`.
    /// - Throws: The `Errno` of `fstat`.
    public func size() throws(Errno) -> Int {
        var status = stat()
        try SystemCall.nothing("fstat") { unsafe fstat(rawValue, &status) }
        return Int(status.st_size)
    }

    /// The owning user id of the open file. Wraps `fstat(2)`.
    /// - Throws: The `Errno` of `fstat`.
    public func ownerUserID() throws(Errno) -> UInt32 {
        var status = stat()
        try SystemCall.nothing("fstat") { unsafe fstat(rawValue, &status) }
        return status.st_uid
    }

    /// The time of the file's last status change (creation, for a shared-memory object that was only
    /// sized once), in seconds since the Unix epoch. Wraps `fstat(2)`.
    /// - Throws: The `Errno` of `fstat`.
    public func statusChangeTime() throws(Errno) -> Int {
        var status = stat()
        try SystemCall.nothing("fstat") { unsafe fstat(rawValue, &status) }
        return Int(status.st_ctim.tv_sec)
    }

    /// Reads up to `count` bytes at `offset` of the file, without moving its position. Wraps `pread(2)`;
    /// retries `EINTR` and short reads. Past the end of the file it returns fewer bytes (none at all beyond
    /// it): unlike a load through a mapping of a file that another process truncated, it never raises SIGBUS.
    /// - Parameters:
    ///   - offset: Where to start reading.
    ///   - count: The most bytes to read.
    /// - Returns: The bytes read; fewer than `count` only at the end of the file.
    /// - Throws: The `Errno` of `pread` (`EISDIR`, `EINVAL` for an object that cannot be read).
    public func readBytes(at offset: Int, count: Int) throws(Errno) -> [UInt8] {
        precondition(offset >= 0 && count >= 0, "readBytes(at: \(offset), count: \(count))")
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            // Safe: the kernel writes at most `count - done` bytes into the array's own storage from `done` on.
            let result = unsafe bytes.withUnsafeMutableBytes { buffer in
                unsafe pread(rawValue, buffer.baseAddress! + done, count - done, off_t(offset + done))
            }
            if result > 0 {
                done += result
            } else if result == 0 {
                break  // the end of the file
            } else {
                let error = Errno.current
                if error != .interrupted { throw error }
            }
        }
        bytes.removeLast(count - done)
        return bytes
    }

    /// What `fstat(2)` says about the open file: its type, owner, size and status-change time, in one call.
    /// - Returns: The file's status.
    /// - Throws: The `Errno` of `fstat`.
    public func status() throws(Errno) -> OpenFileStatus {
        var status = stat()
        guard unsafe fstat(rawValue, &status) == 0 else { throw Errno.current }
        let kind: OpenFileStatus.Kind =
            switch status.st_mode & S_IFMT {
            case S_IFREG: .regular
            case S_IFDIR: .directory
            case S_IFIFO: .fifo
            case S_IFLNK: .symbolicLink
            case S_IFSOCK: .socket
            case S_IFCHR: .characterDevice
            case S_IFBLK: .blockDevice
            default: .unknown
            }
        return OpenFileStatus(
            kind: kind,
            ownerUserID: status.st_uid,
            size: Int(status.st_size),
            statusChangeTime: Int(status.st_ctim.tv_sec)
        )
    }

    /// Sets the file's size. Wraps `ftruncate(2)`; retries `EINTR`.
    /// - Parameter size: The new size in bytes.
    /// - Throws: The `Errno` of `ftruncate`.
    public func truncate(to size: Int) throws(Errno) {
        try SystemCall.nothing("ftruncate") { ftruncate(rawValue, off_t(size)) }
    }
}

/// An open file behind a reference, for owners that must stay copyable (a node value) and close the file
/// at a moment of their choosing, with the error `close(2)` may report. Closed by ``close()``, or when the
/// last reference goes away.
public final class SystemFile {
    /// The descriptor; -1 once closed.
    private var descriptor: Int32

    /// Opens a file. Wraps `open(2)` with `O_CLOEXEC` added (no child process inherits it); retries `EINTR`.
    /// - Parameters:
    ///   - path: The file.
    ///   - options: ``FileDescriptor/OpenOptions/readOnly``, or ``FileDescriptor/OpenOptions/writeOnly`` with
    ///     ``FileDescriptor/OpenOptions/create``, ``FileDescriptor/OpenOptions/truncate``,
    ///     ``FileDescriptor/OpenOptions/append``…
    ///   - mode: The permissions of a file ``FileDescriptor/OpenOptions/create`` makes, before the umask.
    /// - Throws: The `Errno` of `open` (`ENOENT`, `EACCES`, `EISDIR`…).
    public init(path: String, options: FileDescriptor.OpenOptions, mode: UInt32 = 0o666) throws(Errno) {
        let flags = options.rawValue
        // Safe: the path is converted to a C string that lives for the duration of the call.
        descriptor = try SystemCall.value("open") { unsafe Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    deinit { if descriptor >= 0 { _ = Glibc.close(descriptor) } }

    /// Whether the file is still open.
    public var isOpen: Bool { descriptor >= 0 }

    /// Reads up to the buffer's size. Wraps `read(2)`; retries `EINTR`.
    /// - Returns: The bytes read; 0 at the end of the file, or when the file is closed.
    /// - Throws: The `Errno` of `read` (`EIO`, `EISDIR`).
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        guard descriptor >= 0, unsafe !buffer.isEmpty else { return 0 }
        // Safe: the kernel writes at most `buffer.count` bytes into the caller's live buffer.
        return try SystemCall.value("read") { unsafe Glibc.read(descriptor, buffer.baseAddress, buffer.count) }
    }

    /// Writes every byte, in as many `write(2)` calls as the file takes; retries `EINTR`.
    /// - Throws: The `Errno` of `write` (`ENOSPC`, `EIO`); `EBADF` when the file is closed.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        guard descriptor >= 0 else { throw Errno(rawValue: EBADF) }
        var offset = 0
        while offset < bytes.count {
            // Safe: the kernel reads at most the remaining bytes of the caller's live buffer.
            offset += try SystemCall.value("write") {
                unsafe Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            }
        }
    }

    /// Closes the file and reports what `close(2)` says: a delayed write error (a full disk, NFS) can
    /// surface only here. The descriptor is released either way; a second call does nothing.
    /// - Throws: The `Errno` of `close` other than `EINTR`.
    public func close() throws(Errno) {
        guard descriptor >= 0 else { return }
        let value = descriptor
        descriptor = -1
        if Glibc.close(value) == -1 {
            let error = Errno.current
            if error != .interrupted { throw error }
        }
    }
}

/// An open file's status as `fstat(2)` reports it (`struct stat`, the fields Chronetix judges an object in
/// `/dev/shm` by); ``FileStatus`` is a path's, through `lstat(2)`.
public struct OpenFileStatus: Hashable, Sendable {
    /// The file's type (`st_mode & S_IFMT`).
    public enum Kind: Hashable, Sendable, CustomStringConvertible {
        case regular, directory, fifo, symbolicLink, socket, characterDevice, blockDevice, unknown

        /// The type in words, for reports ("a FIFO").
        public var description: String {
            switch self {
            case .regular: "a regular file"
            case .directory: "a directory"
            case .fifo: "a FIFO"
            case .symbolicLink: "a symbolic link"
            case .socket: "a socket"
            case .characterDevice: "a character device"
            case .blockDevice: "a block device"
            case .unknown: "a file of unknown type"
            }
        }
    }

    /// The file's type.
    public var kind: Kind
    /// The owning user id (`st_uid`).
    public var ownerUserID: UInt32
    /// The size in bytes (`st_size`).
    public var size: Int
    /// The last status change (`st_ctim`), in seconds since the Unix epoch.
    public var statusChangeTime: Int
}
