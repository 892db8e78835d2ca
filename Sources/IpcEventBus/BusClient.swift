internal import ChronetixCBOR
public import ChronetixCore
public import ChronetixSystem

/// A message delivered on one of the client's subscriptions.
public struct BusDelivery: Sendable {
    /// The subscription it matched.
    public var subscription: UInt64
    /// The envelope, payload included.
    public var envelope: Envelope
}

/// A request routed to this client as a responder; answer it with ``BusClient/reply(to:with:flush:)`` or
/// ``BusClient/fail(_:code:text:)``.
public struct BusIncomingRequest: Sendable {
    /// The correlation id the bus gave the request (answers quote it).
    public var correlation: UInt64
    /// How long the requester waits, in nanoseconds, as of when the bus forwarded the request.
    public var timeoutNanoseconds: UInt64
    /// The request's envelope.
    public var envelope: Envelope
}

/// Descriptors the host passed with `SCM_RIGHTS`; the receiver owns them.
public final class BusDescriptors {
    /// What the host said they are (a ring name, say).
    public let label: String
    private var descriptors: [Int32]

    init(label: String, descriptors: [Int32]) {
        self.label = label
        self.descriptors = descriptors
    }

    deinit {
        for descriptor in descriptors where descriptor >= 0 { FileDescriptor(adopting: descriptor).close() }
    }

    /// How many descriptors arrived.
    public var count: Int { descriptors.count }

    /// Takes ownership of one descriptor.
    /// - Parameter index: `0..<count`; each index may be taken once.
    /// - Returns: The descriptor, now owned by the caller.
    public func take(_ index: Int) -> FileDescriptor {
        precondition(descriptors.indices.contains(index) && descriptors[index] >= 0, "descriptor \(index) taken twice or out of range")
        let raw = descriptors[index]
        descriptors[index] = -1
        return FileDescriptor(adopting: raw)
    }
}

/// What ``BusClient/receive(timeout:)`` returns.
public enum BusEvent: Sendable {
    /// A message on a subscription.
    case message(BusDelivery)
    /// A request for this client to answer.
    case request(BusIncomingRequest)
    /// Messages of a lossy subscription were dropped because this client read too slowly; `total` is the
    /// count since the subscription began.
    case dropped(subscription: UInt64, total: UInt64)
    /// Descriptors passed by the host.
    case descriptors(BusDescriptors)
}

// BusDescriptors is handed from the client's thread to whoever receives the event; it owns raw
// descriptors (plain integers) and its mutation (`take`) is the receiver's alone.
extension BusDescriptors: @unchecked Sendable {}

/// A client of the bus: a worker, a tool, or a benchmark peer. Synchronous, for one thread at a time.
///
/// Sending inside the calls (``Sending/inCall``, the default): heartbeats go out and come in while the
/// client is inside one of its calls (``receive(timeout:)``, ``request(_:timeout:)``, ``flush()``…), so a
/// client must call into the bus at least once per heartbeat interval (the welcome's; 1 s by default) or be
/// declared gone. `publish` writes at once by default; pass `flush: false` to batch many messages into one
/// system call and ``flush()`` after the batch.
///
/// Sending on a thread (``Sending/onThread``): a writer thread sends everything, heartbeats included, and
/// batches what gathered while it was writing; reading is still done inside the calls.
public final class BusClient {
    /// How to reach the bus and who this client is.
    public struct Configuration: Sendable {
        /// The bus socket's path.
        public var socketPath: String
        /// The hello to send.
        public var hello: BusHello
        /// How long to wait for the welcome.
        public var handshakeTimeout: Duration = .seconds(5)
        /// How long each wait (for a reply, a confirmation or the next event) polls the socket before it
        /// sleeps: an answer that arrives within it is taken without a wake-up. It costs CPU only during
        /// the poll, and it yields the CPU between polls (`sched_yield`) so that the process it waits for can
        /// run on the same CPU; zero never polls. The default, 50 µs, was chosen by measurement
        /// (docs/BENCHMARKS.md, "Busy polling").
        public var busyPoll: Duration = .microseconds(50)
        /// Which thread writes to the socket; see ``Sending``.
        public var sending: Sending = .inCall

        /// Creates a configuration.
        /// - Parameters:
        ///   - socketPath: The bus socket's path.
        ///   - role: `worker`, `tool`, or another role the host accepts.
        ///   - name: The node id or tool name.
        ///   - token: The run's token.
        public init(socketPath: String, role: String, name: String, token: String) {
            self.socketPath = socketPath
            self.hello = BusHello(role: role, name: name, processID: FileSystem.currentProcessID(), token: token)
        }
    }

    /// Which thread writes to the socket.
    public enum Sending: Sendable, Hashable {
        /// The calling thread, inside each call: `publish` returns once the bus's socket took the message
        /// (or after ``BusClient/flush()`` with `flush: false`). Lowest latency for request and reply; one
        /// system call per flushed message.
        case inCall
        /// A writer thread the client owns. Calls queue their message and return; the thread writes all
        /// that gathered in one system call, so a publisher that sends message after message gets batching
        /// without asking for it, and a lone message still leaves at once. The thread also sends the
        /// heartbeats, so the bus hears from the client while the caller's thread is busy elsewhere
        /// (reading is still done inside the calls, by the calling thread). ``BusClient/flush()`` waits
        /// until the thread has written everything queued; ``BusClient/close()`` does that too (up to the
        /// heartbeat silence limit). Measured in docs/BENCHMARKS.md ("Sending on a thread").
        case onThread
    }

    private enum Inbound {
        case event(BusEvent)
        case welcome(BusWelcome)
        case refused(BusRefusal)
        case reply(correlation: UInt64, Envelope)
        case error(correlation: UInt64, code: BusErrorCode, text: String)
        case ack(correlation: UInt64)
    }

    /// The host's welcome: the connection id, the negotiated limits and, for a worker, its manifest.
    public private(set) var welcome: BusWelcome
    private let socket: FileDescriptor
    private var reader: FrameReader
    private var outbound: OutboundBuffer
    private var epoll: Epoll
    private var isWatchingWritable = false
    private var inbox: [BusEvent] = []
    private var inboxHead = 0
    private var nextCorrelation: UInt64 = 1
    private var nextSubscription: UInt64 = 1
    private var lastReceived: UInt64
    private var lastSent: UInt64
    private var heartbeatInterval: UInt64 = 1_000_000_000
    private var silenceLimit: UInt64 = 3_000_000_000
    private var limits: CBORLimits
    private var closedReason: BusError?
    private let busyPoll: UInt64
    /// The writer thread, in `.onThread` mode once the welcome has arrived.
    private var writer: BusWriter?
    /// The host's process (`SO_PEERCRED` of the connection), when it could be read: a host that is stopped
    /// (SIGSTOP, Ctrl-Z) is silent but not gone, and is waited for.
    private let host: ProcessIdentity?
    /// When the host was last seen stopped (0: never).
    private var hostSeenStopped: UInt64 = 0
    /// While the host is stopped: when to look at it again.
    private var hostCheckDue: UInt64?

    /// Connects, sends the hello and waits for the welcome.
    /// - Parameter configuration: The socket path and the hello.
    /// - Throws: `BusError` `.refused` (the reason in the message), `.timedOut`, `.protocolViolation`,
    ///   `.disconnected`, or `.systemCall` when the socket cannot be reached.
    public init(configuration: Configuration) throws(BusError) {
        do {
            socket = try FileDescriptor.connectUnixStream(path: configuration.socketPath)
            try socket.setNonBlocking(true)
            epoll = try Epoll(capacity: 4)
            try epoll.add(socket.rawValue, events: [.readable, .peerClosedWriting], data: 0)
            host = (try? socket.peerCredentials()).flatMap { ProcessIdentity.of(pid: $0.processID) }
        } catch let error as SystemCallError {
            throw BusError(.systemCall, "cannot connect to the bus at \(configuration.socketPath)", cause: error)
        } catch {
            throw BusError(.systemCall, "cannot connect to the bus at \(configuration.socketPath): \(error)")
        }
        busyPoll = Clock.nanoseconds(configuration.busyPoll)
        let provisionalLimit = 1 << 20
        reader = FrameReader(maxFrameBytes: provisionalLimit + BusServerLoop.routingOverhead)
        outbound = OutboundBuffer(maxFrameBytes: provisionalLimit)
        limits = CBORLimits(maxBytes: provisionalLimit + BusServerLoop.routingOverhead)
        let now = Clock.monotonicNanoseconds()
        lastReceived = now
        lastSent = now
        welcome = BusWelcome(
            protocolVersion: 0,
            connectionID: 0,
            heartbeatIntervalNanoseconds: 0,
            heartbeatMisses: 0,
            maxMessageBytes: 0,
            document: nil
        )
        let hello = configuration.hello
        try outbound.appendFrame { writer in BusWire.writeHello(hello, into: &writer) }
        // The hello may fail to write when the host refused at once (a stranger's user id): read on.
        try? flushBlocking(deadline: now + Clock.nanoseconds(configuration.handshakeTimeout))
        let deadline = now + Clock.nanoseconds(configuration.handshakeTimeout)
        while true {
            guard let inbound = try nextInbound(deadline: deadline, duringHandshake: true) else {
                throw BusError(.timedOut, "no welcome from the bus at \(configuration.socketPath) within the handshake timeout")
            }
            switch inbound {
            case .welcome(let welcome):
                self.welcome = welcome
                heartbeatInterval = max(welcome.heartbeatIntervalNanoseconds, 1_000_000)
                silenceLimit = heartbeatInterval * max(welcome.heartbeatMisses, 1)
                let maxBytes = Int(min(welcome.maxMessageBytes, 1 << 30))
                reader = FrameReader(maxFrameBytes: maxBytes + BusServerLoop.routingOverhead)
                outbound.maxFrameBytes = maxBytes
                limits = CBORLimits(maxBytes: maxBytes + BusServerLoop.routingOverhead)
                if configuration.sending == .onThread {
                    try flushBlocking(deadline: deadline)
                    writer = try BusWriter(
                        socket: socket,
                        maxFrameBytes: maxBytes,
                        heartbeatInterval: heartbeatInterval,
                        silenceLimit: silenceLimit,
                        busyPoll: busyPoll,
                        hostIsStopped: { [host] in host?.isStopped ?? false }
                    )
                }
                return
            case .refused(let refusal):
                closedReason = BusError(.refused, "\(refusal)")
                throw BusError(.refused, "\(refusal)")
            default:
                throw BusError(.protocolViolation, "the bus sent something other than a welcome first")
            }
        }
    }

    deinit {
        if closedReason == nil { close() }
        writer?.stop(drainingUntil: 0)
    }

    // MARK: - Publish and subscribe

    /// Publishes an envelope to every matching subscription.
    /// - Parameters:
    ///   - envelope: The envelope; its topic must follow the rules of ``Topic``.
    ///   - flush: Whether to write it now (the default), or leave it for a later ``flush()``.
    /// - Throws: `.invalidTopic`, `.messageTooLarge`, `.disconnected`, `.timedOut` (the bus does not take
    ///   the bytes), `.systemCall`.
    public func publish(_ envelope: Envelope, flush: Bool = true) throws(BusError) {
        try checkOpen()
        if let problem = Topic.problem(inTopic: envelope.topic) {
            throw BusError(.invalidTopic, "topic \"\(envelope.topic)\" \(problem)")
        }
        try enqueue { writer in
            BusWire.writeEnvelopeMessage(.publish, envelope: envelope, into: &writer)
        }
        if writer == nil && (flush || outbound.pendingByteCount >= 256 * 1024) { try self.flush() }
    }

    /// Writes everything queued, waiting while the socket is full (or, sending on a thread, until the
    /// thread has written it).
    /// - Throws: `.disconnected`, `.timedOut` when the bus takes nothing for the heartbeat silence limit.
    public func flush() throws(BusError) {
        try checkOpen()
        let deadline = Clock.monotonicNanoseconds() + silenceLimit
        if let writer {
            do {
                try writer.drain(until: deadline)
            } catch {
                throw writer.failure.map { fail($0) } ?? error
            }
        } else {
            try flushBlocking(deadline: deadline)
        }
    }

    /// Subscribes to a topic pattern and waits for the bus to confirm.
    /// - Parameters:
    ///   - pattern: A pattern such as `metrics.>` (see ``TopicPattern``).
    ///   - overflow: What happens when this client reads too slowly: disconnect (the default) or drop
    ///     and count.
    ///   - timeout: How long to wait for the confirmation.
    /// - Returns: The subscription id (``BusDelivery/subscription`` of its messages).
    /// - Throws: `.invalidTopic`, `.remoteError` (limits), `.timedOut`, `.disconnected`.
    public func subscribe(
        _ pattern: String,
        overflow: BusOverflowPolicy = .disconnect,
        timeout: Duration = .seconds(5)
    ) throws(BusError) -> UInt64 {
        try subscribe(pattern, flags: overflow == .drop ? BusWire.SubscribeFlag.dropOnOverflow : 0, timeout: timeout)
    }

    /// Offers to answer requests on a topic pattern; each request goes to one responder.
    /// - Parameters:
    ///   - pattern: The topics served.
    ///   - timeout: How long to wait for the confirmation.
    /// - Returns: The subscription id.
    /// - Throws: As ``subscribe(_:overflow:timeout:)``.
    public func serve(_ pattern: String, timeout: Duration = .seconds(5)) throws(BusError) -> UInt64 {
        try subscribe(pattern, flags: BusWire.SubscribeFlag.responder, timeout: timeout)
    }

    /// Ends a subscription and waits for the bus to confirm; nothing matches it afterwards.
    /// - Parameters:
    ///   - subscription: A subscription id.
    ///   - timeout: How long to wait for the confirmation.
    /// - Throws: `.remoteError` (unknown subscription), `.timedOut`, `.disconnected`.
    public func unsubscribe(_ subscription: UInt64, timeout: Duration = .seconds(5)) throws(BusError) {
        try checkOpen()
        let correlation = takeCorrelation()
        try enqueue { writer in
            BusWire.writeIntegers(.unsubscribe, correlation, subscription, into: &writer)
        }
        try awaitAck(correlation, timeout: timeout)
    }

    private func subscribe(_ pattern: String, flags: UInt64, timeout: Duration) throws(BusError) -> UInt64 {
        try checkOpen()
        _ = try TopicPattern(pattern)
        let correlation = takeCorrelation()
        let subscription = nextSubscription
        nextSubscription += 1
        try enqueue { writer in
            BusWire.writeSubscribe(
                correlation: correlation,
                subscription: subscription,
                pattern: pattern,
                flags: flags,
                into: &writer
            )
        }
        try awaitAck(correlation, timeout: timeout)
        return subscription
    }

    private func awaitAck(_ correlation: UInt64, timeout: Duration) throws(BusError) {
        let deadline = Clock.monotonicNanoseconds() + Clock.nanoseconds(timeout)
        try flushBlocking(deadline: deadline)
        while let inbound = try nextInbound(deadline: deadline) {
            switch inbound {
            case .ack(correlation): return
            case .error(correlation, let code, let text): throw BusError(.remoteError, "\(code): \(text)")
            case .event(let event): inbox.append(event)
            default: continue  // answers to requests this client gave up on
            }
        }
        throw BusError(.timedOut, "the bus did not confirm within \(timeout)")
    }

    // MARK: - Request and reply

    /// Sends a request and waits for its reply.
    /// - Parameters:
    ///   - envelope: The request; its topic selects the responder.
    ///   - timeout: How long the bus waits for the responder before answering `timed out`; this client
    ///     gives up on its own a tenth later (at least 20 ms), in case the bus cannot answer.
    /// - Returns: The reply's envelope.
    /// - Throws: `.timedOut`, `.noResponders`, `.remoteError` (the responder failed, or went away),
    ///   `.invalidTopic`, `.messageTooLarge`, `.disconnected`.
    public func request(_ envelope: Envelope, timeout: Duration) throws(BusError) -> Envelope {
        try checkOpen()
        if let problem = Topic.problem(inTopic: envelope.topic) {
            throw BusError(.invalidTopic, "topic \"\(envelope.topic)\" \(problem)")
        }
        let correlation = takeCorrelation()
        let timeoutNanoseconds = Clock.nanoseconds(timeout)
        try enqueue { writer in
            BusWire.writeEnvelopeMessage(.request, correlation, timeoutNanoseconds, envelope: envelope, into: &writer)
        }
        // The host times the request out and says so; this side waits a little longer (a tenth of the
        // timeout, at least 20 ms) so that the host's answer normally comes first, and stops on its own
        // only when the host cannot answer.
        let grace = max(timeoutNanoseconds / 10, 20_000_000)
        let deadline = Clock.monotonicNanoseconds() + timeoutNanoseconds + grace
        try flushBlocking(deadline: deadline)
        while let inbound = try nextInbound(deadline: deadline) {
            switch inbound {
            case .reply(correlation, let reply): return reply
            case .error(correlation, let code, let text):
                switch code {
                case .noResponders: throw BusError(.noResponders, "\(envelope.topic): \(text)")
                case .timedOut: throw BusError(.timedOut, "\(envelope.topic): \(text)")
                case .invalidTopic: throw BusError(.invalidTopic, "\(envelope.topic): \(text)")
                default: throw BusError(.remoteError, "\(envelope.topic): \(code): \(text)")
                }
            case .event(let event): inbox.append(event)
            default: continue
            }
        }
        throw BusError(.timedOut, "\(envelope.topic): no reply within \(timeout)")
    }

    /// Answers a request.
    /// - Parameters:
    ///   - request: The request received.
    ///   - envelope: The reply.
    ///   - flush: Whether to write it now.
    /// - Throws: `.messageTooLarge`, `.disconnected`, `.timedOut`.
    public func reply(to request: BusIncomingRequest, with envelope: Envelope, flush: Bool = true) throws(BusError) {
        try checkOpen()
        try enqueue { writer in
            BusWire.writeEnvelopeMessage(.reply, request.correlation, envelope: envelope, into: &writer)
        }
        if flush { try flushBlocking(deadline: Clock.monotonicNanoseconds() + silenceLimit) }
    }

    /// Answers a request with an error.
    /// - Parameters:
    ///   - request: The request received.
    ///   - code: The error's code (`.serviceFailed` unless another fits).
    ///   - text: A sentence for the requester.
    /// - Throws: `.disconnected`, `.timedOut`.
    public func fail(_ request: BusIncomingRequest, code: BusErrorCode = .serviceFailed, text: String) throws(BusError) {
        try checkOpen()
        try enqueue { writer in
            BusWire.writeError(correlation: request.correlation, code: code, text: text, into: &writer)
        }
        try flushBlocking(deadline: Clock.monotonicNanoseconds() + silenceLimit)
    }

    // MARK: - Receiving

    /// Waits for the next message, request, drop report or descriptors.
    /// - Parameter timeout: How long to wait; `nil` waits without limit (heartbeats still flow).
    /// - Returns: The event, or `nil` when the timeout ran out.
    /// - Throws: `.disconnected` (the bus closed the connection; the message says why), `.slowConsumer`,
    ///   `.peerGone` (the bus fell silent), `.protocolViolation`.
    public func receive(timeout: Duration? = nil) throws(BusError) -> BusEvent? {
        if inboxHead < inbox.count {
            let event = inbox[inboxHead]
            inboxHead += 1
            if inboxHead == inbox.count {
                inbox.removeAll(keepingCapacity: true)
                inboxHead = 0
            }
            return event
        }
        try checkOpen()
        let deadline = timeout.map { Clock.monotonicNanoseconds() + Clock.nanoseconds($0) }
        if !outbound.isEmpty { try flushBlocking(deadline: deadline ?? Clock.monotonicNanoseconds() + silenceLimit) }
        while let inbound = try nextInbound(deadline: deadline) {
            if case .event(let event) = inbound { return event }
        }
        return nil
    }

    /// Says goodbye and closes the connection. Later calls throw `.disconnected`.
    public func close() {
        guard closedReason == nil else { return }
        closedReason = BusError(.disconnected, "the client closed the connection")
        // Best effort: the host treats a close without goodbye the same way.
        if let writer {
            _ = try? writer.enqueue { writer in BusWire.writeGoodbye(.normal, "closing", into: &writer) }
            writer.stop(drainingUntil: Clock.monotonicNanoseconds() + silenceLimit)
        } else {
            _ = try? outbound.appendFrame { writer in BusWire.writeGoodbye(.normal, "closing", into: &writer) }
            _ = try? outbound.flush(to: socket)  // best effort: the host sees the close either way
        }
        try? socket.shutdown(reading: false, writing: true)  // best effort; the descriptor closes in deinit
    }

    // MARK: - Internals

    private func checkOpen() throws(BusError) {
        if let closedReason { throw closedReason }
    }

    private func takeCorrelation() -> UInt64 {
        defer { nextCorrelation += 1 }
        return nextCorrelation
    }

    /// Queues one message: in the outbound buffer, or for the writer thread.
    private func enqueue(_ body: (inout CBORWriter) -> Void) throws(BusError) {
        guard let writer else {
            try outbound.appendFrame(body)
            return
        }
        do {
            try writer.enqueue(body)
        } catch {
            throw writer.failure.map { fail($0) } ?? error
        }
    }

    /// Writes what is queued, waiting for room until `deadline`; sending on a thread, only reports the
    /// thread's failure (the thread writes on its own).
    private func flushBlocking(deadline: UInt64) throws(BusError) {
        if let writer {
            if let failure = writer.failure { throw fail(failure) }
            return
        }
        while true {
            let isDrained: Bool
            do {
                isDrained = try outbound.flush(to: socket)
            } catch {
                throw fail(BusError(.disconnected, "cannot write to the bus", cause: SystemCallError("send", nil, error)))
            }
            if isDrained {
                lastSent = Clock.monotonicNanoseconds()
                return
            }
            let now = Clock.monotonicNanoseconds()
            guard now < deadline else { throw BusError(.timedOut, "the bus took no bytes before the deadline") }
            try watchWritable(true)
            _ = try waitForEvents(milliseconds: Clock.epollMilliseconds(from: now, until: deadline))
        }
    }

    private func watchWritable(_ on: Bool) throws(BusError) {
        guard on != isWatchingWritable else { return }
        do {
            try epoll.modify(socket.rawValue, events: on ? [.readable, .peerClosedWriting, .writable] : [.readable, .peerClosedWriting], data: 0)
        } catch {
            throw fail(BusError(.systemCall, "epoll_ctl", cause: SystemCallError("epoll_ctl", nil, error)))
        }
        isWatchingWritable = on
    }

    private func waitForEvents(milliseconds: Int32) throws(BusError) -> Int {
        do {
            return try epoll.wait(timeoutMilliseconds: milliseconds)
        } catch {
            throw fail(BusError(.systemCall, "epoll_wait", cause: SystemCallError("epoll_wait", nil, error)))
        }
    }

    /// The next message from the bus, or `nil` at `deadline`. Handles heartbeats both ways.
    private func nextInbound(deadline: UInt64?, duringHandshake: Bool = false) throws(BusError) -> Inbound? {
        var pollUntil: UInt64 = 0
        while true {
            if let range = try frame() {
                lastReceived = Clock.monotonicNanoseconds()
                if let inbound = try decode(range, duringHandshake: duringHandshake) { return inbound }
                continue
            }
            // Read what already waits before judging the bus silent: a client that only published for a
            // while has the bus's heartbeats queued, unread.
            if try readAvailable() { continue }
            let now = Clock.monotonicNanoseconds()
            if !duringHandshake {
                // A stopped host is not a dead one. While it is stopped it is looked at every heartbeat
                // interval; once it goes on, its silence counts from the last time it was seen stopped.
                let quietSince = max(lastReceived, hostSeenStopped)
                if now - quietSince >= silenceLimit || hostCheckDue.map({ now >= $0 }) == true {
                    if host?.isStopped == true {
                        hostSeenStopped = now
                        hostCheckDue = now + heartbeatInterval
                    } else if now - quietSince >= silenceLimit {
                        throw fail(BusError(.peerGone, "the bus was silent for \(silenceLimit / 1_000_000) ms"))
                    } else {
                        hostCheckDue = nil
                    }
                }
                if writer == nil && now - lastSent >= heartbeatInterval {
                    try enqueue { writer in BusWire.writeIntegers(.heartbeat, now, into: &writer) }
                    try flushBlocking(deadline: now + silenceLimit)
                }
            }
            if let deadline, now >= deadline { return nil }
            if busyPoll > 0 {
                if pollUntil == 0 { pollUntil = now + busyPoll }
                if now < pollUntil {
                    CPU.yield()
                    continue
                }
            }
            var wait =
                duringHandshake
                ? UInt64.max
                : min(
                    writer == nil ? lastSent + heartbeatInterval : UInt64.max,
                    max(lastReceived, hostSeenStopped) + silenceLimit, hostCheckDue ?? .max
                )
            if let deadline { wait = min(wait, deadline) }
            try watchWritable(false)
            _ = try waitForEvents(milliseconds: Clock.epollMilliseconds(from: now, until: wait))
        }
    }

    /// Reads what the socket holds without waiting; whether bytes arrived.
    private func readAvailable() throws(BusError) -> Bool {
        let result: IOResult
        do {
            result = try reader.fill(from: socket)
        } catch {
            throw fail(BusError(.disconnected, "the connection to the bus broke", cause: SystemCallError("recvmsg", nil, error)))
        }
        switch result {
        case .done: return true
        case .wouldBlock: return false
        case .endOfFile: throw fail(BusError(.disconnected, "the bus closed the connection"))
        }
    }

    private func frame() throws(BusError) -> Range<Int>? {
        do {
            return try reader.nextFrame()
        } catch {
            throw fail(error)
        }
    }

    private func decode(_ range: Range<Int>, duringHandshake: Bool) throws(BusError) -> Inbound? {
        let limits = limits
        let decoded: Result<(BusWire.Message, Envelope?), BusError> = unsafe reader.withFrame(range) { frame in
            do {
                var envelope: Envelope?
                let message = try unsafe BusWire.decode(frame, limits: limits, envelope: &envelope)
                return .success((message, envelope))
            } catch let error as BusError {
                return .failure(error)
            } catch {
                return .failure(BusError(.protocolViolation, "\(error)"))
            }
        }
        let (message, envelope) = try decoded.mapError { fail($0) }.get()
        switch message {
        case .welcome(let welcome): return .welcome(welcome)
        case .refused(let refusal): return .refused(refusal)
        case .deliver(let subscription, _):
            return .event(.message(BusDelivery(subscription: subscription, envelope: envelope!)))
        case .request(let correlation, let timeout, _):
            return .event(.request(BusIncomingRequest(correlation: correlation, timeoutNanoseconds: timeout, envelope: envelope!)))
        case .reply(let correlation, _): return .reply(correlation: correlation, envelope!)
        case .error(let correlation, let code, let text): return .error(correlation: correlation, code: code, text: text)
        case .ack(let correlation): return .ack(correlation: correlation)
        case .dropped(let subscription, let total): return .event(.dropped(subscription: subscription, total: total))
        case .heartbeat: return nil
        case .descriptors(let count, let label):
            guard reader.pendingDescriptorCount >= Int(count) else {
                throw fail(BusError(.protocolViolation, "a descriptors message announces \(count) but \(reader.pendingDescriptorCount) arrived"))
            }
            return .event(.descriptors(BusDescriptors(label: label, descriptors: reader.takeDescriptors(Int(count)))))
        case .goodbye(let reason, let text):
            let code: BusError.Code = reason == .slowConsumer ? .slowConsumer : reason == .heartbeatTimeout ? .peerGone : .disconnected
            throw fail(BusError(code, "the bus said goodbye (\(reason)): \(text)"))
        case .hello, .publish, .subscribe, .unsubscribe:
            throw fail(BusError(.protocolViolation, "the bus sent a \(message.kind) message"))
        }
    }

    /// Records why the connection is unusable and returns the error to throw.
    private func fail(_ error: BusError) -> BusError {
        if closedReason == nil { closedReason = error }
        return error
    }

}
