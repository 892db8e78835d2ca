public import ChronetixCore
internal import ChronetixSystem
public import Logging
internal import Synchronization

/// The host side of the bus: a Unix-domain socket that workers and tools attach to, and one event loop
/// (epoll, on the thread that calls ``run()``) that serves every connection.
///
/// The host checks each client twice before it hears anything from it: the kernel's `SO_PEERCRED`
/// user id against ``Configuration/allowedUserIDs``, then the hello's token against the run's. It
/// routes publishes to matching subscriptions in each publisher's order, routes requests to one
/// responder and replies back, answers heartbeats and declares silent peers gone, and keeps a bounded
/// outbound queue per connection so that a subscriber that stops reading never slows anyone else.
///
/// Threads: ``run()`` owns all connection state. ``publish(_:)``, ``sendDescriptors(to:label:descriptors:)``,
/// ``disconnect(_:reason:)`` and ``stop()`` may be called from any thread; they are queued to the loop.
/// The closures of ``Hooks`` run on the loop's thread.
// @unchecked Sendable: the loop state (`loop`) is only touched by the thread inside `run()`; other
// threads reach the server only through `commands` (a Mutex) and `notifier` (an eventfd, thread-safe).
public final class BusServer: @unchecked Sendable {
    /// How the bus behaves; every limit has a default that suits one host's control plane.
    public struct Configuration: Sendable {
        /// The socket's path. Its directory is created with mode 0700 when missing, and must otherwise
        /// belong to this user and be closed to others; the socket gets mode 0600.
        public var socketPath: String
        /// The run's token: a client's hello must carry it.
        public var token: String
        /// The user ids allowed to attach (checked with `SO_PEERCRED`); defaults to this process's.
        public var allowedUserIDs: Set<UInt32>
        /// The largest message accepted or sent, in bytes (the CBOR message without its prefix).
        public var maxMessageBytes: Int = 1 << 20
        /// How often each side sends a heartbeat when it has nothing else to send.
        public var heartbeatInterval: Duration = .seconds(1)
        /// How many intervals of silence make a peer gone.
        public var heartbeatMisses: Int = 3
        /// How long a new connection may take to send its hello.
        public var helloTimeout: Duration = .seconds(5)
        /// How long a peer may stop in the middle of a frame.
        public var stallTimeout: Duration = .seconds(5)
        /// The bytes that may wait in one connection's outbound queue before a subscription's overflow
        /// policy applies. Replies and control messages may go past it up to twice the bound, after which
        /// the connection is closed as a slow consumer.
        public var outboundQueueLimit: Int = 4 << 20
        /// The most attached (welcomed) connections at once; a hello past it is refused.
        public var maxConnections: Int = 1024
        /// The most connections at once that have not sent their hello yet. They do not count against
        /// ``maxConnections``; a new one past this bound closes the oldest of them, so silent connections can
        /// neither exhaust the host's descriptors nor keep a worker from attaching.
        public var maxConnectionsAwaitingHello: Int = 64
        /// The most subscriptions per connection.
        public var maxSubscriptionsPerConnection: Int = 1024
        /// The most requests one connection may have waiting for replies.
        public var maxRequestsInFlight: Int = 1024
        /// The longest request timeout accepted; a longer one is shortened to this.
        public var maxRequestTimeout: Duration = .seconds(3600)
        /// How long the loop keeps polling (`epoll_wait` with a zero timeout) after it last had work,
        /// before it sleeps: a message that arrives within it is routed without waking the loop's thread,
        /// which saves the sender and the bus a wake-up each (tens of microseconds on a busy host). It
        /// costs CPU only while traffic flows; zero never polls. The default, 50 µs, was chosen by
        /// measurement (docs/BENCHMARKS.md, "Busy polling").
        public var busyPoll: Duration = .microseconds(50)
        /// Where the bus logs refusals, disconnections and protocol violations.
        public var logger: Logger

        /// Creates a configuration with the defaults.
        /// - Parameters:
        ///   - socketPath: The socket's path (at most 107 bytes).
        ///   - token: The run's token.
        ///   - logger: Where the bus logs.
        public init(socketPath: String, token: String, logger: Logger = Logger(label: "chronetix.bus")) {
            self.socketPath = socketPath
            self.token = token
            self.allowedUserIDs = [FileSystem.currentUserID()]
            self.logger = logger
        }
    }

    /// A peer the host knows, as the hooks and events see it.
    public struct Peer: Hashable, Sendable, CustomStringConvertible {
        /// The connection's id.
        public var connectionID: UInt64
        /// The process id from `SO_PEERCRED`.
        public var processID: Int32
        /// The user id from `SO_PEERCRED`.
        public var userID: UInt32
        /// The hello's role, once it arrived.
        public var role: String?
        /// The hello's name (node id or tool name), once it arrived.
        public var name: String?

        /// `worker gain (pid 4242, connection 17)`.
        public var description: String {
            let who = [role, name].compactMap { $0 }.joined(separator: " ")
            return "\(who.isEmpty ? "client" : who) (pid \(processID), connection \(connectionID))"
        }
    }

    /// What the host's owner decides about a hello that passed the user and token checks.
    public enum Admission: Sendable {
        /// Attach the client and hand it `document` (its manifest and routes) in the welcome.
        case welcome(document: StructuredValue?)
        /// Refuse the client.
        case refuse(BusRefusal)
    }

    /// What happened to a connection, for the host's owner (the supervisor) to act on.
    public enum Event: Sendable {
        /// A client passed every check and was welcomed.
        case attached(Peer)
        /// A client was refused; the connection is closed.
        case refused(Peer, BusRefusal)
        /// A connection closed; `reason` says why (a `heartbeatTimeout` means the peer is declared gone).
        case detached(Peer, reason: BusGoodbyeReason, detail: String)
    }

    /// A request handler hosted by the bus itself (answered without another process).
    public struct Service: Sendable {
        /// The topics it serves.
        public var pattern: TopicPattern
        /// Answers one request on the loop's thread: the reply, or an error text.
        public var handler: @Sendable (Envelope, Peer) -> Result<Envelope, BusServiceFailure>

        /// Creates a service.
        /// - Parameters:
        ///   - pattern: The topics it serves.
        ///   - handler: Answers one request; it must not block.
        public init(
            pattern: TopicPattern,
            handler: @escaping @Sendable (Envelope, Peer) -> Result<Envelope, BusServiceFailure>
        ) {
            self.pattern = pattern
            self.handler = handler
        }
    }

    /// An observer of what clients publish on some topics: the host's own, in-process subscription (the
    /// coordinator reads its workers' metrics with one), without a connection or a copy through a socket.
    public struct Tap: Sendable {
        /// The topics it observes.
        public var pattern: TopicPattern
        /// Sees one publication from a client, on the loop's thread, after the bus routed it to the
        /// matching subscriptions; it must not block.
        public var handler: @Sendable (Envelope, Peer) -> Void

        /// Creates a tap.
        /// - Parameters:
        ///   - pattern: The topics it observes.
        ///   - handler: Sees each matching publication and its publisher; it must not block.
        public init(pattern: TopicPattern, handler: @escaping @Sendable (Envelope, Peer) -> Void) {
            self.pattern = pattern
            self.handler = handler
        }
    }

    /// The owner's decisions and observers; each runs on the loop's thread and must not block.
    public struct Hooks: Sendable {
        /// Decides about a hello that passed the user and token checks; welcomes everyone by default.
        public var admit: @Sendable (BusHello, Peer) -> Admission = { _, _ in .welcome(document: nil) }
        /// Observes attachments, refusals and detachments.
        public var onEvent: @Sendable (Event) -> Void = { _ in }
        /// Request handlers hosted by the bus, tried before client responders.
        public var services: [Service] = []
        /// Observers of clients' publications (not the host's own ``BusServer/publish(_:)``).
        public var taps: [Tap] = []

        /// Creates hooks with the defaults.
        public init() {}
    }

    /// Counters of the bus since it started.
    public struct Statistics: Hashable, Sendable {
        /// Connections open now.
        public var connections = 0
        /// Clients welcomed.
        public var attached: UInt64 = 0
        /// Clients refused.
        public var refused: UInt64 = 0
        /// Connections closed for a protocol violation, a stall or an oversized frame.
        public var protocolViolations: UInt64 = 0
        /// Publishes routed (including the host's own).
        public var published: UInt64 = 0
        /// Messages delivered to subscriptions.
        public var delivered: UInt64 = 0
        /// Messages dropped on subscriptions whose overflow policy is `drop`.
        public var dropped: UInt64 = 0
        /// Connections closed as slow consumers.
        public var slowConsumers: UInt64 = 0
        /// Requests answered (by a responder or a hosted service).
        public var replied: UInt64 = 0
        /// Requests that timed out.
        public var timedOut: UInt64 = 0
        /// Replies that arrived after their request had timed out or its requester had gone.
        public var lateReplies: UInt64 = 0
        /// Peers declared gone after missing their heartbeats.
        public var heartbeatTimeouts: UInt64 = 0
    }

    enum Command {
        case publish(Envelope)
        case sendDescriptors(connectionID: UInt64, label: String, descriptors: [Int32])
        case disconnect(connectionID: UInt64, reason: String)
        case stop
    }

    /// The configuration the server runs with.
    public let configuration: Configuration
    let hooks: Hooks
    let commands = Mutex<[Command]>([])
    let notifier: EventNotifier
    let statisticsSnapshot = Mutex(Statistics())
    /// The loop state; created in `init` (so the socket exists when it returns), used only by `run()`.
    private let loop: BusServerLoop

    /// Creates the socket (and its directory when missing) and starts listening; ``run()`` serves it.
    /// - Parameters:
    ///   - configuration: The socket path, token and limits.
    ///   - hooks: The owner's admission decision, event observer and hosted services.
    /// - Throws: `BusError` `.invalidConfiguration` (a path too long, a directory open to others, a
    ///   socket path another live bus is listening on) or `.systemCall`.
    public init(configuration: Configuration, hooks: Hooks = Hooks()) throws(BusError) {
        self.configuration = configuration
        self.hooks = hooks
        do {
            notifier = try EventNotifier()
        } catch {
            throw BusError(.systemCall, "cannot create the bus's wake-up eventfd", cause: SystemCallError("eventfd", nil, error))
        }
        loop = try BusServerLoop(configuration: configuration, hooks: hooks, notifierDescriptor: notifier.descriptor)
    }

    /// Serves connections on the calling thread until ``stop()``; then says goodbye to every client,
    /// closes their connections and removes the socket (and the directory when the server created it).
    /// - Throws: `BusError` `.systemCall` when the event loop itself fails (`epoll_wait`).
    public func run() throws(BusError) {
        try loop.run(server: self)
    }

    /// Asks ``run()`` to finish; returns at once. Safe from any thread (and from a hook).
    public func stop() {
        enqueue(.stop)
    }

    /// Publishes an envelope from the host to every matching subscription. Safe from any thread; the
    /// envelope is routed on the loop's thread, in the order of calls.
    /// - Parameter envelope: The envelope; its topic must follow the rules of ``Topic``.
    public func publish(_ envelope: Envelope) {
        enqueue(.publish(envelope))
    }

    /// Passes descriptors to one connection with `SCM_RIGHTS`, announced by a `descriptors` message with
    /// `label`. Safe from any thread.
    /// - Parameters:
    ///   - connectionID: The receiving connection.
    ///   - label: What the descriptors are, for the receiver (a ring name, say).
    ///   - descriptors: Raw descriptors; the server owns them from now on and closes its copies once sent
    ///     (or when the connection is gone).
    public func sendDescriptors(to connectionID: UInt64, label: String, descriptors: [Int32]) {
        enqueue(.sendDescriptors(connectionID: connectionID, label: label, descriptors: descriptors))
    }

    /// Closes a connection with a goodbye naming `reason`. Safe from any thread.
    /// - Parameters:
    ///   - connectionID: The connection.
    ///   - reason: A sentence for the peer and the log.
    public func disconnect(_ connectionID: UInt64, reason: String) {
        enqueue(.disconnect(connectionID: connectionID, reason: reason))
    }

    /// The counters as of the loop's last turn. Safe from any thread.
    public var statistics: Statistics {
        statisticsSnapshot.withLock { $0 }
    }

    private func enqueue(_ command: Command) {
        commands.withLock { $0.append(command) }
        notifier.notify()
    }
}

/// A hosted service's or a responder's failure to answer a request.
public struct BusServiceFailure: Error, Hashable, Sendable {
    /// The code sent to the requester.
    public var code: BusErrorCode
    /// A sentence for the requester.
    public var text: String

    /// Creates a failure.
    /// - Parameters:
    ///   - code: Usually `.serviceFailed` or `.badRequest`.
    ///   - text: A sentence for the requester.
    public init(_ code: BusErrorCode = .serviceFailed, _ text: String) {
        self.code = code
        self.text = text
    }
}
