/// What the coordinator library reports, typed: the message of each is for people, one line.
public enum CoordinatorError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The runtime directory cannot be made or trusted.
    case runtimeDirectory(String)
    /// A run's record cannot be written, read or removed.
    case record(String)
    /// No run, or more than one, answers to what was asked (the text lists the candidates).
    case noSuchRun(String)
    /// A running coordinator could not be reached, or did not answer.
    case unreachable(String)
    /// The run refused what was asked (the coordinator's text).
    case refused(String)

    public var description: String {
        switch self {
        case .runtimeDirectory(let text), .record(let text), .noSuchRun(let text), .unreachable(let text), .refused(let text):
            text
        }
    }
}
