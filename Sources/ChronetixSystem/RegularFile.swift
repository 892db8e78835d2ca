import Glibc

/// Reads a small regular file whole, never waiting on what is not one: a FIFO, a device or a socket given
/// where a file was expected is refused at once instead of blocking the reader forever.
public enum RegularFile {
    /// What a path names when it is not a regular file.
    public enum Kind: String, Sendable {
        case directory = "a directory"
        case fifo = "a named pipe (FIFO)"
        case characterDevice = "a character device"
        case blockDevice = "a block device"
        case socket = "a socket"
        case other = "not a regular file"
    }

    /// Why a file could not be read.
    public enum Failure: Error, Hashable, Sendable {
        /// `open(2)` failed: `ENOENT`, `EACCES`, `ELOOP` (a symbolic-link loop), `ENOTDIR`…
        case open(Errno)
        /// The path names something other than a regular file.
        case notRegular(Kind)
        /// The file has more than the limit's bytes.
        case tooLarge(limit: Int)
        /// `fstat(2)` or `read(2)` failed (`EIO` from `/proc/self/mem`, for one).
        case read(Errno)
    }

    /// Reads the file at `path`, up to `maxBytes` bytes. Opens it with `O_RDONLY | O_NONBLOCK | O_NOCTTY |
    /// O_CLOEXEC` (so that opening a FIFO without a writer returns at once; retries `EINTR`), checks with
    /// `fstat(2)` that it is a regular file, then reads it with `read(2)` (retries `EINTR`).
    /// - Parameters:
    ///   - path: The file.
    ///   - maxBytes: The most bytes accepted; one more is read to tell a file of exactly `maxBytes` from a
    ///     larger one.
    /// - Returns: The file's bytes.
    /// - Throws: ``Failure``.
    public static func read(_ path: String, maxBytes: Int) throws(Failure) -> [UInt8] {
        let descriptor: Int32
        do {
            // Safe: the path is converted to a NUL-terminated C string that lives for the call.
            descriptor = try SystemCall.value("open") {
                unsafe open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
            }
        } catch {
            throw .open(error)
        }
        let file = FileDescriptor(adopting: descriptor)
        var status = stat()
        do {
            // Safe: `status` is a whole `struct stat` for the kernel to fill.
            try SystemCall.nothing("fstat") { unsafe fstat(file.rawValue, &status) }
        } catch {
            throw .read(error)
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw .notRegular(.directory)
        case S_IFIFO: throw .notRegular(.fifo)
        case S_IFCHR: throw .notRegular(.characterDevice)
        case S_IFBLK: throw .notRegular(.blockDevice)
        case S_IFSOCK: throw .notRegular(.socket)
        default: throw .notRegular(.other)
        }
        var bytes = [UInt8](repeating: 0, count: maxBytes + 1)
        var count = 0
        while count < bytes.count {
            let got: Int
            do {
                got = try SystemCall.value("read") {
                    unsafe bytes.withUnsafeMutableBytes { buffer in
                        // Safe: the kernel writes at most the bytes left in the array's live buffer.
                        unsafe Glibc.read(file.rawValue, buffer.baseAddress! + count, buffer.count - count)
                    }
                }
            } catch {
                throw .read(error)
            }
            if got == 0 { break }
            count += got
        }
        guard count <= maxBytes else { throw .tooLarge(limit: maxBytes) }
        bytes.removeSubrange(count...)
        return bytes
    }
}
