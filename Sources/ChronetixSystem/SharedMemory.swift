import Glibc

/// POSIX shared-memory objects (`shm_open(3)`), the kernel objects behind the data plane's rings.
///
/// Names follow POSIX: one leading `/`, no other `/`, at most `NAME_MAX` (255) bytes. On Linux they
/// appear as files in `/dev/shm` without the leading slash.
public enum SharedMemory {
    /// The directory where Linux shows shared-memory objects.
    public static let directory = "/dev/shm"

    /// Creates a new object of `size` bytes, failing if the name exists. Wraps `shm_open(3)` with
    /// `O_CREAT | O_EXCL | O_RDWR`, then `ftruncate(2)`; on a failed `ftruncate` the name is unlinked again.
    /// - Parameters:
    ///   - name: The object's name (`/chronetix.…`).
    ///   - size: Its size in bytes (zero-filled by the kernel).
    ///   - mode: The permission bits, 0600 by default: only the creating user may open it.
    /// - Returns: The open descriptor.
    /// - Throws: `SystemCallError` naming `shm_open` or `ftruncate` and the object.
    public static func create(name: String, size: Int, mode: UInt32 = 0o600) throws(SystemCallError) -> FileDescriptor {
        let raw = unsafe shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, mode_t(mode))
        guard raw >= 0 else { throw SystemCallError("shm_open", name, .current) }
        let descriptor = FileDescriptor(adopting: raw)
        do {
            try descriptor.truncate(to: size)
        } catch {
            // The object is half made: remove the name so nothing is left behind; the ftruncate error is the news.
            _ = unsafe Glibc.shm_unlink(name)
            throw SystemCallError("ftruncate", name, error)
        }
        return descriptor
    }

    /// Opens an existing object. Wraps `shm_open(3)` with `O_RDWR` (or `O_RDONLY`).
    /// - Parameters:
    ///   - name: The object's name.
    ///   - writable: Whether the object is opened for writing.
    /// - Returns: The open descriptor.
    /// - Throws: `SystemCallError` naming `shm_open` (`ENOENT` when there is no such object).
    public static func open(name: String, writable: Bool = true) throws(SystemCallError) -> FileDescriptor {
        let raw = unsafe shm_open(name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0)
        guard raw >= 0 else { throw SystemCallError("shm_open", name, .current) }
        return FileDescriptor(adopting: raw)
    }

    /// Opens an object found in `/dev/shm` to inspect it, read-only, without trusting what it is: anyone may
    /// put anything there. Wraps `shm_open(3)` with `O_RDONLY | O_NONBLOCK | O_NOFOLLOW`: a FIFO opens at
    /// once instead of blocking until a writer comes, and a symbolic link is refused (`ELOOP`) instead of
    /// followed. The caller checks with ``FileDescriptor/status()`` that it is a regular file of this user.
    /// - Parameter name: The object's name.
    /// - Returns: The open descriptor.
    /// - Throws: `SystemCallError` naming `shm_open` (`ELOOP` for a symbolic link).
    public static func openForInspection(name: String) throws(SystemCallError) -> FileDescriptor {
        let raw = unsafe shm_open(name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, 0)
        guard raw >= 0 else { throw SystemCallError("shm_open", name, .current) }
        return FileDescriptor(adopting: raw)
    }

    /// Removes the name; mappings and descriptors stay valid until closed. Wraps `shm_unlink(3)`.
    /// - Parameter name: The object's name.
    /// - Throws: `SystemCallError` naming `shm_unlink` (`ENOENT` when it is already gone).
    public static func unlink(name: String) throws(SystemCallError) {
        guard unsafe Glibc.shm_unlink(name) == 0 else { throw SystemCallError("shm_unlink", name, .current) }
    }

    /// The names (with their leading `/`) of the objects in `/dev/shm` that start with `prefix`.
    /// - Parameter prefix: A name prefix with its leading slash (`/chronetix.`).
    /// - Returns: The matching names, sorted.
    /// - Throws: `SystemCallError` naming `opendir` when `/dev/shm` cannot be listed.
    public static func names(withPrefix prefix: String) throws(SystemCallError) -> [String] {
        let bare = prefix.hasPrefix("/") ? String(prefix.dropFirst()) : prefix
        return try Directory.entries(of: directory).filter { $0.hasPrefix(bare) }.map { "/" + $0 }.sorted()
    }
}

/// Directory listings through `opendir(3)`/`readdir(3)`.
public enum Directory {
    /// The names in a directory, without `.` and `..`.
    /// - Parameter path: The directory.
    /// - Returns: The entry names in directory order.
    /// - Throws: `SystemCallError` naming `opendir`.
    public static func entries(of path: String) throws(SystemCallError) -> [String] {
        guard let stream = unsafe opendir(path) else { throw SystemCallError("opendir", path, .current) }
        defer { _ = unsafe closedir(stream) }  // a read-only directory stream: nothing to lose on close
        var names: [String] = []
        while let entry = unsafe readdir(stream) {
            let name = unsafe withUnsafePointer(to: &entry.pointee.d_name) { tuple in
                unsafe tuple.withMemoryRebound(to: CChar.self, capacity: 256) { unsafe String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

/// A shared memory mapping (`mmap(2)` with `MAP_SHARED`), unmapped exactly once.
///
/// The owner of the memory every ring lives in. The base address is stored because the ring's hot path
/// needs it on every frame; it never outlives this value, which is `~Copyable` and unmaps in `deinit`.
// @safe: the stored base address is only handed out as `unsafeBase`, whose use is marked at every call site.
@safe
public struct MappedRegion: ~Copyable {
    /// The mapping's length in bytes.
    public let length: Int
    /// The first byte of the mapping.
    ///
    /// - Warning: Valid only while this value lives; never store it beyond the owner's lifetime.
    public let unsafeBase: UnsafeMutableRawPointer

    /// Maps `length` bytes of an open file, shared with every other process that maps it.
    /// Wraps `mmap(2)` with `PROT_READ | PROT_WRITE` (or `PROT_READ`) and `MAP_SHARED`.
    /// - Parameters:
    ///   - descriptor: The file (a shared-memory object); it may be closed afterwards.
    ///   - length: Bytes to map.
    ///   - offset: Where in the file the mapping starts; a multiple of the page size.
    ///   - writable: Whether the mapping may be written.
    ///   - populate: Pre-fault the pages (`MAP_POPULATE`) so the first frames do not pay page faults.
    /// - Throws: `SystemCallError` naming `mmap`.
    public init(
        mapping descriptor: borrowing FileDescriptor,
        length: Int,
        offset: Int = 0,
        writable: Bool = true,
        populate: Bool = false
    ) throws(SystemCallError) {
        precondition(length > 0, "MappedRegion needs a positive length")
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        let flags = MAP_SHARED | (populate ? MAP_POPULATE : 0)
        let address = unsafe mmap(nil, length, protection, flags, descriptor.rawValue, off_t(offset))
        guard let address = unsafe address, unsafe address != MAP_FAILED else { throw SystemCallError("mmap", nil, .current) }
        self.length = length
        unsafe self.unsafeBase = address
    }

    /// Unmaps now rather than at the end of the owner's lifetime.
    public consuming func unmap() {}

    deinit {
        // munmap fails only for an address range that is not a mapping: a broken invariant, not an outcome.
        let result = unsafe munmap(unsafeBase, length)
        precondition(result == 0, "munmap(\(length) bytes) failed: \(Errno.current)")
    }
}
