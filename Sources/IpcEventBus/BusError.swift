public import ChronetixSystem

/// Why a bus operation failed: the domain error of IpcEventBus.
///
/// Every refusal, protocol violation, timeout and failed system call on the bus becomes one of these,
/// with the peer or path it concerns, never a crash.
public struct BusError: Error, CustomStringConvertible {
    /// What kind of failure this is; compare against the static members (`error.code == .timedOut`).
    ///
    /// A struct wrapping a private enum, so adding a kind never breaks a caller's `switch`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: Hashable, Sendable {
            case invalidConfiguration, invalidTopic, systemCall, protocolViolation, messageTooLarge
            case refused, timedOut, noResponders, disconnected, peerGone, slowConsumer, notAttached
            case remoteError
        }

        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The configuration asked for something the bus cannot do (a socket path that is too long).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// A topic or pattern breaks the rules of ``Topic``.
        public static let invalidTopic = Code(.invalidTopic)
        /// A system call failed; ``BusError/cause`` holds it.
        public static let systemCall = Code(.systemCall)
        /// The peer sent bytes that are not a valid bus message (bad length, bad CBOR, wrong shape,
        /// unknown kind, a message out of turn).
        public static let protocolViolation = Code(.protocolViolation)
        /// A message is larger than the negotiated maximum.
        public static let messageTooLarge = Code(.messageTooLarge)
        /// The bus refused the hello; ``BusError/message`` carries its reason.
        public static let refused = Code(.refused)
        /// A request's timeout ran out before a reply arrived.
        public static let timedOut = Code(.timedOut)
        /// No client serves the request's topic.
        public static let noResponders = Code(.noResponders)
        /// The connection is closed (by this side, the peer, or the bus).
        public static let disconnected = Code(.disconnected)
        /// The peer missed its heartbeats and is declared gone.
        public static let peerGone = Code(.peerGone)
        /// The bus disconnected this client because its outbound queue overflowed.
        public static let slowConsumer = Code(.slowConsumer)
        /// An operation that needs an attached connection was tried before the welcome.
        public static let notAttached = Code(.notAttached)
        /// The peer answered with an error reply; ``BusError/message`` carries its code and text.
        public static let remoteError = Code(.remoteError)

        /// The code's name, as written in ``BusError/description``.
        public var description: String {
            switch kind {
            case .invalidConfiguration: "invalid configuration"
            case .invalidTopic: "invalid topic"
            case .systemCall: "system call failed"
            case .protocolViolation: "protocol violation"
            case .messageTooLarge: "message too large"
            case .refused: "refused"
            case .timedOut: "timed out"
            case .noResponders: "no responders"
            case .disconnected: "disconnected"
            case .peerGone: "peer gone"
            case .slowConsumer: "slow consumer"
            case .notAttached: "not attached"
            case .remoteError: "error reply"
            }
        }
    }

    /// Where in IpcEventBus the failure was detected.
    public struct Location: Hashable, Sendable, CustomStringConvertible {
        /// The `#fileID` of the throwing code.
        public var fileID: String
        /// The `#line` of the throwing code.
        public var line: Int

        /// `Module/File.swift:line`.
        public var description: String { "\(fileID):\(line)" }
    }

    /// What kind of failure this is.
    public var code: Code
    /// The dynamic facts: the peer, the path, the value found, the limit.
    public var message: String
    /// The failed system call, when there is one.
    public var cause: SystemCallError?
    /// Where the failure was detected.
    public var location: Location

    /// Creates an error.
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: The facts.
    ///   - cause: The failed system call, if any.
    ///   - fileID: Captured automatically.
    ///   - line: Captured automatically.
    public init(
        _ code: Code,
        _ message: String,
        cause: SystemCallError? = nil,
        fileID: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.cause = cause
        self.location = Location(fileID: fileID, line: line)
    }

    /// One line: `bus: timed out: request "svc.echo" got no reply within 100 ms`.
    public var description: String {
        var text = "bus: \(code): \(message)"
        if let cause { text += " (\(cause))" }
        return text
    }

    /// The same facts as a tree, one per line, with where the error was raised.
    public func detailedDescription() -> String {
        var lines = ["BusError: \(code)", "├─ message: \(message)"]
        if let cause { lines.append("├─ cause: \(cause)") }
        lines.append("└─ at: \(location)")
        return lines.joined(separator: "\n")
    }
}
