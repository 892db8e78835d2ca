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
