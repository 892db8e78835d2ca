import Glibc

/// A signal number (`signal(7)`), typed so that a pid and a signal cannot be swapped and a message can name it.
///
/// The members are the signals Chronetix sends or handles; any other number can be wrapped with
/// ``init(rawValue:)``. `description` is the bare number, as `kill -l` takes it and as run summaries print it
/// (`signal 9`); ``name`` is the symbolic name for messages (`SIGKILL`).
public struct Signal: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The signal number.
    public var rawValue: Int32

    /// Wraps a signal number.
    /// - Parameter rawValue: A signal number (`SIGTERM`, …).
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `SIGINT`: an interrupt from the terminal (Ctrl-C).
    public static let interrupt = Signal(rawValue: SIGINT)
    /// `SIGTERM`: a request to end, which a process may handle.
    public static let terminate = Signal(rawValue: SIGTERM)
    /// `SIGHUP`: the controlling terminal (or ssh session) went away.
    public static let hangup = Signal(rawValue: SIGHUP)
    /// `SIGKILL`: ends the process at once; cannot be handled, blocked or ignored.
    public static let kill = Signal(rawValue: SIGKILL)
    /// `SIGPIPE`: a write to a pipe or socket without a reader.
    public static let pipe = Signal(rawValue: SIGPIPE)
    /// `SIGSTOP`: stops the process until `SIGCONT`; cannot be handled.
    public static let stop = Signal(rawValue: SIGSTOP)
    /// `SIGCONT`: lets a stopped process go on.
    public static let `continue` = Signal(rawValue: SIGCONT)

    /// The symbolic name (`SIGKILL`), or `nil` for a number without one here.
    public var name: String? {
        switch rawValue {
        case SIGKILL: "SIGKILL"
        case SIGTERM: "SIGTERM"
        case SIGSEGV: "SIGSEGV"
        case SIGABRT: "SIGABRT"
        case SIGINT: "SIGINT"
        case SIGBUS: "SIGBUS"
        case SIGILL: "SIGILL"
        case SIGTRAP: "SIGTRAP"
        case SIGHUP: "SIGHUP"
        case SIGPIPE: "SIGPIPE"
        case SIGSTOP: "SIGSTOP"
        case SIGCONT: "SIGCONT"
        case SIGQUIT: "SIGQUIT"
        case SIGUSR1: "SIGUSR1"
        case SIGUSR2: "SIGUSR2"
        default: nil
        }
    }

    /// The number, as `kill -l` takes it: `9`.
    public var description: String { "\(rawValue)" }
}
