public import ChronetixCore

/// The facts a client gives in its hello, and the credentials the kernel vouches for.
public struct BusHello: Hashable, Sendable {
    /// What the client is: `worker` (runs a node), `tool` (a command such as `chronetix status`), or
    /// any other word the host accepts.
    public var role: String
    /// The node id for a worker, the tool's name otherwise.
    public var name: String
    /// The process id the client claims; the host trusts ``peerProcessID`` instead.
    public var processID: Int32
    /// The protocol versions the client speaks.
    public var protocolVersions: [UInt64]
    /// The run's token, handed to spawned workers and printed for workers attached by hand.
    public var token: String
    /// The process id `SO_PEERCRED` reports for the connection (0 on the client side).
    public var peerProcessID: Int32 = 0
    /// The user id `SO_PEERCRED` reports for the connection (0 on the client side).
    public var peerUserID: UInt32 = 0

    /// Creates a hello.
    /// - Parameters:
    ///   - role: `worker`, `tool`, or another role the host accepts.
    ///   - name: The node id or tool name.
    ///   - processID: The client's pid.
    ///   - token: The run's token.
    ///   - protocolVersions: The versions spoken; defaults to this build's.
    public init(
        role: String,
        name: String,
        processID: Int32,
        token: String,
        protocolVersions: [UInt64] = [BusWire.protocolVersion]
    ) {
        self.role = role
        self.name = name
        self.processID = processID
        self.token = token
        self.protocolVersions = protocolVersions
    }
}

/// What the host answers a hello with when it accepts the client.
public struct BusWelcome: Hashable, Sendable {
    /// The protocol version both sides now speak.
    public var protocolVersion: UInt64
    /// The connection's id on this bus (unique for the bus's lifetime).
    public var connectionID: UInt64
    /// How often each side sends a heartbeat when it has nothing else to send, in nanoseconds.
    public var heartbeatIntervalNanoseconds: UInt64
    /// How many intervals of silence make a peer gone.
    public var heartbeatMisses: UInt64
    /// The largest message either side may send, in bytes (the CBOR message, without the 4-byte prefix).
    public var maxMessageBytes: UInt64
    /// For a worker, its manifest and routes; `nil` when the host has nothing to hand over.
    public var document: StructuredValue?

    /// Creates a welcome.
    /// - Parameters:
    ///   - protocolVersion: The negotiated version.
    ///   - connectionID: The connection's id.
    ///   - heartbeatIntervalNanoseconds: The heartbeat interval.
    ///   - heartbeatMisses: Silent intervals before a peer is gone.
    ///   - maxMessageBytes: The message size limit.
    ///   - document: The manifest and routes, or `nil`.
    public init(
        protocolVersion: UInt64,
        connectionID: UInt64,
        heartbeatIntervalNanoseconds: UInt64,
        heartbeatMisses: UInt64,
        maxMessageBytes: UInt64,
        document: StructuredValue?
    ) {
        self.protocolVersion = protocolVersion
        self.connectionID = connectionID
        self.heartbeatIntervalNanoseconds = heartbeatIntervalNanoseconds
        self.heartbeatMisses = heartbeatMisses
        self.maxMessageBytes = maxMessageBytes
        self.document = document
    }
}

/// A numbered reason on the wire, with a name for logs; the numbers are in `docs/wire-format.md`.
public protocol BusWireCode: Hashable, Sendable, CustomStringConvertible {
    /// The number sent on the wire.
    var rawValue: UInt64 { get }
    /// Wraps a number read from the wire (unknown numbers are kept and named `code N`).
    init(rawValue: UInt64)
}

/// Why the host refused a hello.
public struct BusRefusal: Hashable, Sendable, CustomStringConvertible {
    /// The reason, as a number on the wire.
    public struct Reason: BusWireCode {
        public var rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }

        /// The connecting process runs as a user that is not allowed (`SO_PEERCRED`).
        public static let userNotAllowed = Reason(rawValue: 1)
        /// The hello's token is not this run's.
        public static let badToken = Reason(rawValue: 2)
        /// No protocol version in common.
        public static let unsupportedVersion = Reason(rawValue: 3)
        /// The hello was not a valid hello (sent as a refusal before disconnecting).
        public static let malformedHello = Reason(rawValue: 4)
        /// The named node is not in the flow.
        public static let unknownNode = Reason(rawValue: 5)
        /// Another worker is already attached for the node.
        public static let duplicateNode = Reason(rawValue: 6)
        /// The host has as many connections as it allows.
        public static let tooManyConnections = Reason(rawValue: 7)
        /// The host refused for another reason, given in the text.
        public static let rejected = Reason(rawValue: 8)
        /// The role is not one the host accepts.
        public static let unknownRole = Reason(rawValue: 9)

        public var description: String {
            switch rawValue {
            case 1: "user not allowed"
            case 2: "bad token"
            case 3: "unsupported version"
            case 4: "malformed hello"
            case 5: "unknown node"
            case 6: "duplicate node"
            case 7: "too many connections"
            case 8: "rejected"
            case 9: "unknown role"
            default: "code \(rawValue)"
            }
        }
    }

    /// The reason.
    public var reason: Reason
    /// A sentence for people.
    public var text: String

    /// Creates a refusal.
    /// - Parameters:
    ///   - reason: The reason code.
    ///   - text: A sentence for people.
    public init(_ reason: Reason, _ text: String) {
        self.reason = reason
        self.text = text
    }

    /// `bad token: the hello's token is not this run's`.
    public var description: String { "\(reason): \(text)" }
}

/// The code of an `error` message, answering a request, a subscribe or an unsubscribe.
public struct BusErrorCode: BusWireCode {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The message was understood but its content is not acceptable (see the text).
    public static let badRequest = BusErrorCode(rawValue: 1)
    /// No responder serves the request's topic.
    public static let noResponders = BusErrorCode(rawValue: 2)
    /// The request's timeout ran out.
    public static let timedOut = BusErrorCode(rawValue: 3)
    /// A topic or pattern breaks the rules of ``Topic``.
    public static let invalidTopic = BusErrorCode(rawValue: 4)
    /// The subscription id is not one of this connection's.
    public static let unknownSubscription = BusErrorCode(rawValue: 5)
    /// The responder disconnected before replying.
    public static let responderGone = BusErrorCode(rawValue: 6)
    /// The connection has as many subscriptions, or requests in flight, as the host allows.
    public static let limitReached = BusErrorCode(rawValue: 7)
    /// The responder answered the request with an error of its own (see the text).
    public static let serviceFailed = BusErrorCode(rawValue: 8)

    public var description: String {
        switch rawValue {
        case 1: "bad request"
        case 2: "no responders"
        case 3: "timed out"
        case 4: "invalid topic"
        case 5: "unknown subscription"
        case 6: "responder gone"
        case 7: "limit reached"
        case 8: "service failed"
        default: "code \(rawValue)"
        }
    }
}

/// Why a side closes a connection; sent in a `goodbye` just before closing when the socket can take it.
public struct BusGoodbyeReason: BusWireCode {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// An orderly close.
    public static let normal = BusGoodbyeReason(rawValue: 0)
    /// The peer broke the protocol (see the text).
    public static let protocolViolation = BusGoodbyeReason(rawValue: 1)
    /// The peer's outbound queue overflowed on a subscription whose policy is to disconnect.
    public static let slowConsumer = BusGoodbyeReason(rawValue: 2)
    /// The peer missed its heartbeats.
    public static let heartbeatTimeout = BusGoodbyeReason(rawValue: 3)
    /// The host is shutting down.
    public static let shuttingDown = BusGoodbyeReason(rawValue: 4)
    /// The peer did not finish its hello in time.
    public static let helloTimeout = BusGoodbyeReason(rawValue: 5)
    /// The peer stopped in the middle of a frame for longer than the stall timeout.
    public static let stalledFrame = BusGoodbyeReason(rawValue: 6)
    /// The host's owner asked for the connection to close.
    public static let closedByHost = BusGoodbyeReason(rawValue: 7)

    public var description: String {
        switch rawValue {
        case 0: "normal"
        case 1: "protocol violation"
        case 2: "slow consumer"
        case 3: "heartbeat timeout"
        case 4: "shutting down"
        case 5: "hello timeout"
        case 6: "stalled frame"
        case 7: "closed by host"
        default: "code \(rawValue)"
        }
    }
}

/// What happens to a subscription's messages when its subscriber's outbound queue is full.
public enum BusOverflowPolicy: UInt64, Hashable, Sendable {
    /// Disconnect the subscriber (the default): nothing is lost silently, and the supervisor sees it.
    case disconnect = 0
    /// Drop the message and count it; the subscriber is told the total when its queue has room again.
    case drop = 1
}
