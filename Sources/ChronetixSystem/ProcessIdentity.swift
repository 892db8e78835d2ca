import CChronetix
import Glibc

/// A process as the kernel knows it: its pid and its start time, which together never name two processes.
///
/// A pid alone can be reused after its process exits; the start time (field 22 of `/proc/PID/stat`, in
/// clock ticks since boot) tells the original from a newcomer. Rings record both for their owner and their
/// peers, so a dead peer is detected even when its pid has been given to someone else.
public struct ProcessIdentity: Hashable, Sendable, CustomStringConvertible {
    /// The process id.
    public var pid: Int32
    /// The process's start time in clock ticks since boot.
    public var startTime: UInt64

    /// Creates an identity from recorded values.
    /// - Parameters:
    ///   - pid: The process id.
    ///   - startTime: Its start time in clock ticks since boot.
    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }

    /// The calling process.
    public static let current: ProcessIdentity = {
        let pid = getpid()
        // /proc/self/stat of a running process is always readable; without procfs nothing here can work.
        guard let status = ProcessStatus.read(pid: pid) else {
            preconditionFailure("cannot read /proc/\(pid)/stat: ChronetixSystem needs procfs")
        }
        return ProcessIdentity(pid: pid, startTime: status.startTime)
    }()

    /// The identity of a running process, or `nil` if there is no such process.
    /// - Parameter pid: The process id.
    /// - Returns: Its identity, read from `/proc/PID/stat`.
    public static func of(pid: Int32) -> ProcessIdentity? {
        guard pid > 0, let status = ProcessStatus.read(pid: pid) else { return nil }
        return ProcessIdentity(pid: pid, startTime: status.startTime)
    }

    /// Whether this very process still runs: it exists, has the same start time, and is not a zombie
    /// (a process that has exited but not yet been reaped by its parent counts as gone).
    public var isAlive: Bool {
        guard pid > 0, let status = ProcessStatus.read(pid: pid) else { return false }
        return status.startTime == startTime && status.state != UInt8(ascii: "Z") && status.state != UInt8(ascii: "X")
    }

    /// Whether this very process is stopped (state `T`, by SIGSTOP or Ctrl-Z, or `t`, by a tracer): paused,
    /// not dead, and it goes on at SIGCONT. False when it runs, or is gone.
    public var isStopped: Bool {
        guard pid > 0, let status = ProcessStatus.read(pid: pid), status.startTime == startTime else { return false }
        return status.state == UInt8(ascii: "T") || status.state == UInt8(ascii: "t")
    }

    /// What the process has used so far (`/proc/PID/stat`), if it still runs as this very process.
    public var usage: ProcessUsage? {
        guard pid > 0, let status = ProcessStatus.read(pid: pid), status.startTime == startTime else { return nil }
        return ProcessUsage(
            cpuNanoseconds: status.cpuTicks &* (1_000_000_000 / ProcessUsage.ticksPerSecond),
            residentBytes: status.residentPages &* ProcessUsage.pageSize
        )
    }

    /// `pid 1234 (started at tick 5678)`.
    public var description: String { "pid \(pid) (started at tick \(startTime))" }
}

/// A process's CPU time and memory, from `/proc/PID/stat`.
public struct ProcessUsage: Hashable, Sendable {
    /// User plus system CPU time so far, in nanoseconds (clock-tick resolution, usually 10 ms).
    public var cpuNanoseconds: UInt64
    /// Resident set size, in bytes.
    public var residentBytes: UInt64

    /// `sysconf(_SC_CLK_TCK)`: the unit of `/proc` CPU times (100 on Linux).
    static let ticksPerSecond: UInt64 = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
    /// `sysconf(_SC_PAGESIZE)`.
    static let pageSize: UInt64 = UInt64(max(1, sysconf(Int32(_SC_PAGESIZE))))
}

/// The fields of `/proc/PID/stat` Chronetix needs.
struct ProcessStatus {
    var state: UInt8
    var startTime: UInt64
    /// User plus system CPU time, in clock ticks (fields 14 and 15).
    var cpuTicks: UInt64 = 0
    /// Resident set size in pages (field 24).
    var residentPages: UInt64 = 0

    /// Reads and parses `/proc/PID/stat`; `nil` when the process does not exist (or the file is malformed).
    static func read(pid: Int32) -> ProcessStatus? {
        let path = "/proc/\(pid)/stat"
        let descriptor = unsafe Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { _ = Glibc.close(descriptor) }  // read-only procfs file: nothing to lose on close
        var buffer = [UInt8](repeating: 0, count: 1024)
        let count = unsafe buffer.withUnsafeMutableBytes { unsafe Glibc.read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return parse(buffer[0..<count])
    }

    /// Parses the text of `/proc/PID/stat`: `pid (comm) state ppid … starttime …`. The command name may
    /// contain spaces and parentheses, so fields are counted after the last `)`.
    static func parse(_ text: ArraySlice<UInt8>) -> ProcessStatus? {
        guard let close = text.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = text[(close + 1)...].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        // After the command: field 3 (state) is fields[0], so field N is fields[N - 3]; starttime is field 22.
        guard fields.count > 19, let state = fields[0].first else { return nil }
        guard let startTime = number(fields[19]) else { return nil }
        var status = ProcessStatus(state: state, startTime: startTime)
        // Optional extras: a field the kernel wrote in a form not understood here reads as 0.
        if fields.count > 21 {
            status.cpuTicks = (number(fields[11]) ?? 0) &+ (number(fields[12]) ?? 0)
            status.residentPages = number(fields[21]) ?? 0
        }
        return status
    }

    /// A decimal field; nil when it is not one, or overflows.
    private static func number(_ digits: ArraySlice<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        for byte in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return value
    }
}

/// Signals and identities of processes.
public enum Processes {
    /// Sends a signal. Wraps `kill(2)`.
    /// - Parameters:
    ///   - signal: The signal (``Signal/kill``, …).
    ///   - pid: The target.
    /// - Throws: The `Errno` of `kill` (`ESRCH` when the process is gone).
    public static func send(signal: Signal, to pid: Int32) throws(Errno) {
        try SystemCall.nothing("kill") { kill(pid, signal.rawValue) }
    }

    /// ``send(signal:to:)`` with a raw signal number, for the coordinator's code that still passes one.
    /// - Parameters:
    ///   - signal: The signal number.
    ///   - pid: The target.
    /// - Throws: The `Errno` of `kill`.
    public static func send(signal: Int32, to pid: Int32) throws(Errno) {
        try send(signal: Signal(rawValue: signal), to: pid)
    }

    /// The id of this process's parent (`getppid(2)`, which cannot fail): 1, or a subreaper's, once the
    /// parent has died.
    public static var parentID: Int32 { getppid() }

    /// The value of an environment variable (`getenv(3)`), or `nil` when it is not set.
    /// - Parameter name: The variable's name.
    /// - Returns: Its value, copied.
    public static func environmentValue(named name: String) -> String? {
        // Safe: getenv's result, when not NULL, is a C string that lives while nothing changes the environment
        // (nothing in Chronetix calls setenv); it is copied into a String at once.
        unsafe getenv(name).map { unsafe String(cString: $0) }
    }

    /// Ends this process with `status` (`exit(3)`: `atexit` handlers run and standard I/O is flushed).
    /// - Parameter status: The exit status.
    public static func exit(_ status: Int32) -> Never { Glibc.exit(status) }

    /// The real user id of this process.
    public static var userID: UInt32 { getuid() }

    /// Asks the kernel to send `signal` to this process when its parent dies. Wraps `prctl(PR_SET_PDEATHSIG)`.
    /// - Parameter signal: The signal (``Signal/kill`` for helpers that must never outlive their parent).
    /// - Throws: The `Errno` of `prctl`.
    public static func setParentDeathSignal(_ signal: Signal) throws(Errno) {
        try SystemCall.nothing("prctl") { cx_set_parent_death_signal(signal.rawValue) }
    }

    /// The same with a raw signal number, for the coordinator's code that still passes one.
    /// - Parameter signal: The signal number.
    /// - Throws: The `Errno` of `prctl`.
    public static func setParentDeathSignal(_ signal: Int32) throws(Errno) {
        try setParentDeathSignal(Signal(rawValue: signal))
    }
}
