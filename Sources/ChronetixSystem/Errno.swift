import Glibc

/// An error number from a failed system call, with the call's name kept beside it by callers.
///
/// ChronetixSystem's wrappers throw this (`throws(Errno)`) and read `errno` immediately after the call.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    /// The raw `errno` value.
    public var rawValue: Int32

    /// Wraps a raw value.
    /// - Parameter rawValue: An `errno` value.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    package static var current: Errno { Errno(rawValue: errno) }

    /// `ENOENT`: no such file or shared-memory object.
    public static let noSuchFile = Errno(rawValue: ENOENT)
    /// `EEXIST`: the object already exists.
    public static let fileExists = Errno(rawValue: EEXIST)
    /// `EINTR`: interrupted by a signal.
    public static let interrupted = Errno(rawValue: EINTR)
    /// `EAGAIN`: try again.
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    /// `ETIMEDOUT`: a timed wait ran out.
    public static let timedOut = Errno(rawValue: ETIMEDOUT)
    /// `ESRCH`: no such process.
    public static let noSuchProcess = Errno(rawValue: ESRCH)
    /// `EACCES`: permission denied.
    public static let permissionDenied = Errno(rawValue: EACCES)
    /// `EINVAL`: invalid argument.
    public static let invalidArgument = Errno(rawValue: EINVAL)
    /// `ENAMETOOLONG`: a path does not fit (a Unix-domain socket path longer than 107 bytes).
    public static let nameTooLong = Errno(rawValue: ENAMETOOLONG)
    /// `ELOOP`: a symbolic-link loop (or more links in a row than the kernel follows) in a path.
    public static let symbolicLinkLoop = Errno(rawValue: ELOOP)
    /// `EPIPE`: the peer closed its end; nothing more can be written.
    public static let brokenPipe = Errno(rawValue: EPIPE)
    /// `ECONNRESET`: the peer closed the connection with data unread.
    public static let connectionReset = Errno(rawValue: ECONNRESET)
    /// `ECONNREFUSED`: nothing listens on the address.
    public static let connectionRefused = Errno(rawValue: ECONNREFUSED)
    /// `EMSGSIZE`: a message (or its control data) did not fit.
    public static let messageTooLong = Errno(rawValue: EMSGSIZE)
    /// `ENOTCONN`: the socket is not connected.
    public static let notConnected = Errno(rawValue: ENOTCONN)
    /// `EADDRINUSE`: the address (a socket path) is taken.
    public static let addressInUse = Errno(rawValue: EADDRINUSE)

    /// The symbolic name when known (`ENOENT`), then the text from `strerror_r`.
    public var description: String {
        // glibc's strerror returns a pointer to a constant message for every known number (thread-safe
        // since glibc 2.32) and formats unknown ones into a thread-local buffer.
        let text = unsafe String(cString: strerror(rawValue))
        if let name = Self.names[rawValue] { return "\(name): \(text)" }
        return "errno \(rawValue): \(text)"
    }

    private static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO", EBADF: "EBADF",
        EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY",
        EEXIST: "EEXIST", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL", EMFILE: "EMFILE",
        ENFILE: "ENFILE", ENOSPC: "ENOSPC", ENAMETOOLONG: "ENAMETOOLONG", ETIMEDOUT: "ETIMEDOUT",
        EPIPE: "EPIPE", ECHILD: "ECHILD", E2BIG: "E2BIG", EOVERFLOW: "EOVERFLOW", ENOTEMPTY: "ENOTEMPTY", ELOOP: "ELOOP",
        ENOTSOCK: "ENOTSOCK", EMSGSIZE: "EMSGSIZE", EADDRINUSE: "EADDRINUSE", ECONNABORTED: "ECONNABORTED",
        ECONNRESET: "ECONNRESET", ENOTCONN: "ENOTCONN", ECONNREFUSED: "ECONNREFUSED",
    ]
}

/// A failed system call: which call, on what, and the `Errno` it left.
///
/// The cause that domain errors (`RingError`, `BusError`) carry.
public struct SystemCallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call's name as in its manual page (`shm_open`, `mmap`).
    public var call: String
    /// The object it was called on (a path, a segment name), when there is one.
    public var subject: String?
    /// The error number.
    public var errno: Errno

    /// Creates an error.
    /// - Parameters:
    ///   - call: The system call's name.
    ///   - subject: The path or name it acted on.
    ///   - errno: The error number it left.
    public init(_ call: String, _ subject: String? = nil, _ errno: Errno) {
        self.call = call
        self.subject = subject
        self.errno = errno
    }

    /// `shm_open("/chronetix.x"): ENOENT: No such file or directory`.
    public var description: String {
        if let subject { return "\(call)(\"\(subject)\"): \(errno)" }
        return "\(call): \(errno)"
    }
}
