import CChronetix
import Glibc

/// A child process this process started and must reap: spawned with `posix_spawn(3)`, waited for with
/// `waitpid(2)`.
public struct ChildProcess: Sendable {
    /// How a child ended.
    public enum Termination: Hashable, Sendable, CustomStringConvertible {
        /// It exited with this status.
        case exited(Int32)
        /// A signal killed it.
        case signaled(Signal)

        /// `exit status 3`, `killed by signal 9 (SIGKILL)`.
        public var description: String {
            switch self {
            case .exited(let status): "exit status \(status)"
            case .signaled(let signal): "killed by signal \(signal.rawValue)\(signal.name.map { " (\($0))" } ?? "")"
            }
        }
    }

    /// The child's pid.
    public let pid: Int32

    /// Starts a program.
    /// - Parameters:
    ///   - path: The executable's path; with `searchPath`, a name without a slash is looked up in `PATH`.
    ///     A relative path is found from `workingDirectory` when one is given.
    ///   - arguments: `argv[1...]`; `argv[0]` is `path`.
    ///   - environment: The child's whole environment, as `NAME=value` strings.
    ///   - newProcessGroup: Whether the child leads a process group of its own, so that a terminal's
    ///     Ctrl-C reaches only this process, which then stops its children in order.
    ///   - standardInput: A descriptor that becomes the child's descriptor 0; `nil` inherits this process's.
    ///   - standardOutput: A descriptor that becomes the child's descriptor 1; `nil` inherits.
    ///   - standardError: A descriptor that becomes the child's descriptor 2; `nil` inherits.
    ///   - workingDirectory: The child's working directory; `nil` keeps this process's.
    ///   - searchPath: Whether to look a bare command name up in `PATH` (as a shell does).
    /// - Throws: The `Errno` of `posix_spawn` or of the child's `chdir`/`exec` (`ENOENT`, `EACCES`, `ENOEXEC`…).
    public init(
        path: String,
        arguments: [String],
        environment: [String],
        newProcessGroup: Bool,
        standardInput: Int32? = nil,
        standardOutput: Int32? = nil,
        standardError: Int32? = nil,
        workingDirectory: String? = nil,
        searchPath: Bool = false
    ) throws(Errno) {
        var pid: Int32 = 0
        try SystemCall.returningError("posix_spawn") {
            unsafe Self.withCStrings([path] + arguments) { argv in
                unsafe Self.withCStrings(environment) { envp in
                    // Safe: both arrays are NULL-terminated and outlive the call; posix_spawn copies them, and the
                    // working directory's C string lives for the call.
                    unsafe cx_spawn(
                        path, argv, envp, newProcessGroup ? 1 : 0,
                        standardInput ?? -1, standardOutput ?? -1, standardError ?? -1,
                        workingDirectory, searchPath ? 1 : 0, &pid
                    )
                }
            }
        }
        self.pid = pid
    }

    /// Whether the child has ended, without waiting; reaps it if so.
    /// - Returns: How it ended, or `nil` while it runs.
    /// - Throws: The `Errno` of `waitpid` (`ECHILD` when it was reaped already).
    public func poll() throws(Errno) -> Termination? {
        try wait(noHang: true)
    }

    /// Whether the child has ended, without reaping it: until it is reaped its pid, and so its process
    /// group's id, cannot be reused, and ``sendToGroup(signal:)`` reaches only what the child left behind.
    /// Wraps `waitid(2)` with `WNOWAIT`.
    /// - Throws: The `Errno` of `waitid` (`ECHILD` once reaped).
    public func hasEnded() throws(Errno) -> Bool {
        try SystemCall.value("waitid") { cx_child_ended(pid) } == 1
    }

    /// Waits for the child to end and reaps it.
    /// - Returns: How it ended.
    /// - Throws: The `Errno` of `waitpid`.
    public func wait() throws(Errno) -> Termination {
        // Cannot be nil: without WNOHANG, waitpid returns only when the child ended.
        try wait(noHang: false)!
    }

    /// A descriptor that becomes readable the moment the child ends, for an `Epoll` (or `poll(2)`) to wait on
    /// together with everything else. Wraps `pidfd_open(2)`; the descriptor is close-on-exec.
    ///
    /// Only while the child is not yet reaped: until then its pid cannot be reused, so the descriptor
    /// refers to this child and no other. It stays readable once the child ended (reaped or not).
    /// - Throws: The `Errno` of `pidfd_open` (`ENOSYS` on kernels before 5.3, `ESRCH` once reaped).
    public func exitDescriptor() throws(Errno) -> FileDescriptor {
        FileDescriptor(adopting: try SystemCall.value("pidfd_open") { cx_pidfd_open(pid) })
    }

    /// Sends a signal to the child. Wraps `kill(2)`; a child already gone is not an error.
    /// - Parameter signal: The signal.
    public func send(signal: Signal) {
        // ESRCH (the child is gone) is the only error a signal to one's own child can meet.
        _ = kill(pid, signal.rawValue)
    }

    /// Sends a signal to the child's whole process group: the child (started with `newProcessGroup`) and
    /// whatever it started, even those its own end left behind. Wraps `kill(2)` with `-pid`.
    ///
    /// Only while the child is not yet reaped: until then its pid (and so its group id) cannot be reused.
    /// - Parameter signal: The signal.
    public func sendToGroup(signal: Signal) {
        // ESRCH (the whole group is gone) is the only error a signal to one's own child's group can meet.
        _ = kill(-pid, signal.rawValue)
    }

    /// ``sendToGroup(signal:)`` with a raw signal number, for the coordinator's code that still passes one.
    /// - Parameter signal: The signal number.
    public func sendToGroup(signal: Int32) {
        sendToGroup(signal: Signal(rawValue: signal))
    }

    private func wait(noHang: Bool) throws(Errno) -> Termination? {
        var exited: Int32 = 0
        var value: Int32 = 0
        // Safe: the two out-parameters live across the call.
        let result = try SystemCall.value("waitpid") { unsafe cx_wait_child(pid, noHang ? 1 : 0, &exited, &value) }
        if result == 0 { return nil }
        return exited == 1 ? .exited(value) : .signaled(Signal(rawValue: value))
    }

    /// Calls `body` with a NULL-terminated array of C strings that live for the call.
    private static func withCStrings<Result>(
        _ strings: [String],
        _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Result
    ) -> Result {
        // Safe: strdup'd copies, freed after `body` returns; the array ends with NULL.
        var pointers: [UnsafeMutablePointer<CChar>?] = unsafe strings.map { unsafe strdup($0) }
        unsafe pointers.append(nil)
        defer { for unsafe pointer in unsafe pointers { unsafe free(pointer) } }
        return unsafe pointers.withUnsafeBufferPointer { unsafe body($0.baseAddress!) }
    }
}
