import CChronetix
import Glibc

/// The two ends of a pipe (``FileDescriptor/pipe()``): what is written to ``writing`` is read from ``reading``.
///
/// A struct rather than a tuple because Swift does not allow tuples of `~Copyable` values; take the ends out
/// by consuming the fields, as with ``SocketPair``.
@frozen
public struct PipeEnds: ~Copyable {
    /// The end to read from.
    public var reading: FileDescriptor
    /// The end to write to.
    public var writing: FileDescriptor

    /// Pairs two ends.
    public init(reading: consuming FileDescriptor, writing: consuming FileDescriptor) {
        self.reading = reading
        self.writing = writing
    }
}

extension FileDescriptor {
    /// Makes a pipe whose ends are close-on-exec (a child gets one only through
    /// ``ChildProcess/init(path:arguments:environment:newProcessGroup:standardInput:standardOutput:standardError:workingDirectory:searchPath:)``,
    /// so no other child holds it open). Wraps `pipe2(2)` with `O_CLOEXEC` (`cx_pipe`).
    /// - Returns: The two ends.
    /// - Throws: The `Errno` of `pipe2` (`EMFILE`, `ENFILE`).
    public static func pipe() throws(Errno) -> PipeEnds {
        var ends: (Int32, Int32) = (-1, -1)
        // Safe: pipe2 writes two ints into the tuple, which is laid out as an array of two and lives for the call.
        try SystemCall.nothing("pipe2") {
            unsafe withUnsafeMutablePointer(to: &ends) { pointer in
                unsafe pointer.withMemoryRebound(to: Int32.self, capacity: 2) { unsafe cx_pipe($0) }
            }
        }
        return PipeEnds(reading: FileDescriptor(adopting: ends.0), writing: FileDescriptor(adopting: ends.1))
    }

    /// Writes as much of the buffer as the pipe (or file) takes. Wraps `write(2)`; retries `EINTR` when asked;
    /// `EAGAIN` is ``IOResult/wouldBlock``. A pipe whose reader is gone raises `SIGPIPE`, unless the process
    /// ignores it (``Processes/ignoreBrokenPipeSignal()``), and then the write throws `EPIPE`.
    /// - Parameters:
    ///   - buffer: The bytes to write.
    ///   - retryOnInterrupt: Whether an `EINTR` repeats the call (`true`) or is thrown.
    /// - Returns: The bytes written (possibly fewer than asked) or ``IOResult/wouldBlock``.
    /// - Throws: The `Errno` of `write` (`EPIPE`).
    /// - Warning: `buffer` must stay valid for the call.
    public func writeBytes(from buffer: UnsafeRawBufferPointer, retryOnInterrupt: Bool = true) throws(Errno) -> IOResult {
        try SystemCall.transfer("write", retryOnInterrupt: retryOnInterrupt, zeroIsEndOfFile: false) {
            // Safe: the kernel reads at most `buffer.count` bytes from the caller's live buffer.
            unsafe Glibc.write(rawValue, buffer.baseAddress, buffer.count)
        }
    }

    /// What ``waitUntilReady(_:timeoutMilliseconds:)`` waits for.
    public enum Readiness: Sendable {
        /// Bytes to read, or end of file.
        case readable
        /// Room to write, or a reader that has gone (the write then fails with `EPIPE`).
        case writable
    }

    /// Waits until the descriptor is ready, or the time is up. Wraps `poll(2)` on one descriptor; an `EINTR`
    /// returns `false` (the caller's loop looks again). Errors and hang-ups count as ready: the next read or
    /// write reports them.
    /// - Parameters:
    ///   - readiness: Readable or writable.
    ///   - timeoutMilliseconds: The longest wait; 0 looks without waiting.
    /// - Returns: Whether it is ready.
    /// - Throws: The `Errno` of `poll` other than `EINTR`.
    public func waitUntilReady(_ readiness: Readiness, timeoutMilliseconds: Int32) throws(Errno) -> Bool {
        var entry = pollfd(fd: rawValue, events: Int16(readiness == .readable ? POLLIN : POLLOUT), revents: 0)
        do {
            // Safe: poll reads and writes the one pollfd, which lives for the call.
            let ready = try SystemCall.value("poll", retryOnInterrupt: false) {
                unsafe Glibc.poll(&entry, 1, timeoutMilliseconds)
            }
            return ready > 0
        } catch .interrupted {
            return false
        }
    }
}

extension Processes {
    /// Makes a `SIGTERM` to this process reach `pid` as well, then end this process as it would have.
    /// Wraps `sigaction(2)` with a handler in C (`cx_forward_termination`). For a process that must not leave
    /// its own child behind when it is told to end (a worker and its `process` node's program).
    /// - Parameter pid: The process to pass `SIGTERM` on to.
    /// - Throws: The `Errno` of `sigaction`.
    public static func forwardTermination(to pid: Int32) throws(Errno) {
        try SystemCall.nothing("sigaction") { cx_forward_termination(pid) }
    }

    /// Makes a write to a pipe with no reader fail with `EPIPE` instead of killing this process with `SIGPIPE`.
    /// Wraps `signal(2)` with `SIG_IGN`. Children started by ``ChildProcess`` get the default action back.
    public static func ignoreBrokenPipeSignal() {
        _ = signal(SIGPIPE, SIG_IGN)
    }
}

extension Processes {
    /// This process's environment as `NAME=value` strings, in the order the kernel gave them (`environ`).
    public static func environment() -> [String] {
        var result: [String] = []
        // Safe: `environ` is a NULL-terminated array of C strings that nothing in this process changes while
        // the worker reads it (no thread calls setenv).
        var entry: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = unsafe environ
        guard unsafe entry != nil else { return result }
        while let string = unsafe entry!.pointee {
            result.append(unsafe String(cString: string))
            unsafe entry! += 1
        }
        return result
    }
}
