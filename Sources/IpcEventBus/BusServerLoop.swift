internal import ChronetixCBOR
internal import ChronetixCore
internal import ChronetixSystem
internal import Logging
internal import Synchronization

/// One connection of the host: its socket, its two buffers, its state and its subscriptions.
final class BusConnection {
    enum State {
        /// Accepted; the hello has not arrived yet.
        case awaitingHello
        /// Welcomed.
        case attached
        /// Marked for closing at the end of the loop's turn; no more deliveries.
        case closing
    }

    let id: UInt64
    let socket: FileDescriptor
    var reader: FrameReader
    var outbound: OutboundBuffer
    var state = State.awaitingHello
    var peer: BusServer.Peer
    let acceptedAt: UInt64
    var lastReceived: UInt64
    var lastSent: UInt64
    /// When the reader first held part of a frame without the rest, for the stall timeout.
    var partialSince: UInt64?
    var subscriptions: [UInt64: BusSubscription] = [:]
    var requestsInFlight = 0
    var isWritableRegistered = false
    var isDirty = false
    var hasUnreportedDrops = false
    var closeReason: (BusGoodbyeReason, String)?
    /// Set once a write failed: nothing more is written; what the peer sent is still read.
    var hasWriteFailed = false
    /// Set while a closed connection's last bytes (its goodbye) drain, until this time at the latest.
    var lingerDeadline: UInt64?

    init(id: UInt64, socket: consuming FileDescriptor, peer: BusServer.Peer, maxFrameBytes: Int, now: UInt64) {
        self.id = id
        self.socket = socket
        // A delivered message is the published envelope plus at most 20 bytes of routing fields.
        reader = FrameReader(maxFrameBytes: maxFrameBytes)
        outbound = OutboundBuffer(maxFrameBytes: maxFrameBytes + BusServerLoop.routingOverhead)
        self.peer = peer
        acceptedAt = now
        lastReceived = now
        lastSent = now
    }
}

/// One subscription of a connection.
final class BusSubscription {
    let id: UInt64
    let pattern: TopicPattern
    unowned let connection: BusConnection
    let isResponder: Bool
    let overflow: BusOverflowPolicy
    var dropped: UInt64 = 0
    var hasUnreportedDrops = false

    init(id: UInt64, pattern: TopicPattern, connection: BusConnection, isResponder: Bool, overflow: BusOverflowPolicy) {
        self.id = id
        self.pattern = pattern
        self.connection = connection
        self.isResponder = isResponder
        self.overflow = overflow
    }
}

/// A request forwarded to a client responder and not yet answered.
struct PendingRequest {
    unowned let requester: BusConnection
    let requesterCorrelation: UInt64
    unowned let responder: BusConnection
    var deadline: UInt64
}

/// The event loop's state: everything ``BusServer/run()`` touches, on one thread.
final class BusServerLoop {
    /// The most bytes the host adds to a forwarded envelope (array head, kind, two integers).
    static let routingOverhead = 32
    private static let listenerKey: UInt64 = 0
    private static let notifierKey: UInt64 = 1

    private let configuration: BusServer.Configuration
    private let hooks: BusServer.Hooks
    private var logger: Logger
    private let listener: FileDescriptor
    private var epoll: Epoll
    private let createdDirectory: Bool
    private let limits: CBORLimits

    private var connections: [UInt64: BusConnection] = [:]
    private var nextConnectionID: UInt64 = 16
    private var subscribers: [BusSubscription] = []
    private var responders: [BusSubscription] = []
    private var nextResponder = 0
    private var pending: [UInt64: PendingRequest] = [:]
    private var nextCorrelation: UInt64 = 1
    private var dirty: [BusConnection] = []
    private var flushing: [BusConnection] = []
    private var closing: [BusConnection] = []
    /// Closed connections whose goodbye still drains (see `closeMarked`).
    private var lingering: [UInt64: BusConnection] = [:]
    private var statistics = BusServer.Statistics()
    private var scratch = CBORWriter(capacity: 4096)
    private var topicScratch: [UInt8] = []
    private var isStopping = false

    private let heartbeatInterval: UInt64
    private let silenceLimit: UInt64
    private let helloTimeout: UInt64
    private let stallTimeout: UInt64
    private let maxRequestTimeout: UInt64
    private var nextTimerCheck: UInt64 = 0

    init(configuration: BusServer.Configuration, hooks: BusServer.Hooks, notifierDescriptor: Int32) throws(BusError) {
        self.configuration = configuration
        self.hooks = hooks
        logger = configuration.logger
        logger[metadataKey: "bus"] = "\(configuration.socketPath)"
        limits = CBORLimits(maxBytes: configuration.maxMessageBytes + Self.routingOverhead)
        heartbeatInterval = Clock.nanoseconds(configuration.heartbeatInterval)
        silenceLimit = heartbeatInterval * UInt64(max(configuration.heartbeatMisses, 1))
        helloTimeout = Clock.nanoseconds(configuration.helloTimeout)
        stallTimeout = Clock.nanoseconds(configuration.stallTimeout)
        maxRequestTimeout = Clock.nanoseconds(configuration.maxRequestTimeout)
        topicScratch.reserveCapacity(Topic.maxLength)
        guard configuration.maxMessageBytes > 0, configuration.maxMessageBytes <= 1 << 30 else {
            throw BusError(.invalidConfiguration, "maxMessageBytes must be in 1...1 GiB")
        }
        guard heartbeatInterval > 0 else {
            throw BusError(.invalidConfiguration, "the heartbeat interval must be positive")
        }

        let path = configuration.socketPath
        let directory = Self.directory(of: path)
        createdDirectory = try Self.prepareDirectory(directory)
        try Self.removeStaleSocket(at: path)
        do {
            listener = try FileDescriptor.listenUnixStream(path: path, mode: 0o600)
        } catch {
            if createdDirectory { try? FileSystem.removeDirectory(directory) }  // best effort: we made it
            if error.errno.rawValue == BusServerLoop.nameTooLong {
                throw BusError(.invalidConfiguration, "socket path \(path) is longer than 107 bytes", cause: error)
            }
            throw BusError(.systemCall, "cannot listen on \(path)", cause: error)
        }
        do {
            epoll = try Epoll()
            try epoll.add(listener.rawValue, events: [.readable], data: Self.listenerKey)
            try epoll.add(notifierDescriptor, events: [.readable], data: Self.notifierKey)
        } catch {
            try? FileSystem.removeFile(path)  // best effort: the socket is ours and the bus never ran
            if createdDirectory { try? FileSystem.removeDirectory(directory) }
            throw BusError(.systemCall, "cannot set up the bus's epoll", cause: SystemCallError("epoll_ctl", nil, error))
        }
    }

    // MARK: - Running

    func run(server: BusServer) throws(BusError) {
        logger.debug("bus listening", metadata: ["token-bytes": "\(configuration.token.utf8.count)"])
        defer { shutDown(server: server) }
        let busyPoll = Clock.nanoseconds(configuration.busyPoll)
        var lastActive: UInt64 = 0
        // The loop looks at the clock at three points of each turn (its start, after its sleep, before its
        // timers). A stretch between two of them far longer than the sleep it held means this process did not
        // run: stopped (SIGSTOP, Ctrl-Z) or starved. Its peers were not silent meanwhile (their bytes wait
        // unread), so their timers move on by as much, before any timer is judged.
        var lastLook = Clock.monotonicNanoseconds()
        func look(at time: UInt64, allowing allowed: UInt64 = 0) {
            if time - lastLook > allowed + Self.pauseThreshold { forgivePause(time - lastLook - allowed) }
            lastLook = time
        }
        while !isStopping {
            let now = Clock.monotonicNanoseconds()
            look(at: now)
            var timeout = nextTimerCheck > now ? Int32(min((nextTimerCheck - now + 999_999) / 1_000_000, 1000)) : 0
            if now - lastActive < busyPoll { timeout = 0 }
            let count: Int
            do {
                count = try epoll.wait(timeoutMilliseconds: timeout)
            } catch {
                throw BusError(.systemCall, "the bus's event loop failed", cause: SystemCallError("epoll_wait", nil, error))
            }
            look(at: Clock.monotonicNanoseconds(), allowing: UInt64(timeout) * 1_000_000)
            if count > 0 {
                lastActive = now
            } else if timeout == 0 {
                CPU.yield()  // polling: let a client that shares this CPU run
            }
            for index in 0..<count {
                let (events, key) = epoll.event(at: index)
                switch key {
                case Self.listenerKey: acceptAll()
                case Self.notifierKey: runCommands(server: server)
                default:
                    guard let connection = connections[key] else { continue }
                    if connection.lingerDeadline != nil {
                        drainLingering(connection, events: events)
                        continue
                    }
                    if events.contains(.writable) { writeReady(connection) }
                    if !events.isDisjoint(with: [.readable, .hangup, .error, .peerClosedWriting]) {
                        readReady(connection)
                    }
                }
            }
            flushDirty()
            let later = Clock.monotonicNanoseconds()
            look(at: later)
            if later >= nextTimerCheck { checkTimers(now: later) }
            closeMarked()
            server.statisticsSnapshot.withLock { $0 = statistics }
        }
    }

    private func shutDown(server: BusServer) {
        for connection in Array(connections.values) {
            markClosed(connection, .shuttingDown, "the bus is shutting down")
        }
        closeMarked()
        for connection in Array(lingering.values) { finalize(connection) }  // their goodbye went out, or never will
        // Commands that never ran may hold descriptors: close them.
        let leftovers = server.commands.withLock { commands in
            defer { commands.removeAll() }
            return commands
        }
        for case .sendDescriptors(_, _, let descriptors) in leftovers {
            for descriptor in descriptors { FileDescriptor(adopting: descriptor).close() }
        }
        try? FileSystem.removeFile(configuration.socketPath)  // best effort: nothing else to do if gone
        if createdDirectory { try? FileSystem.removeDirectory(Self.directory(of: configuration.socketPath)) }
        server.statisticsSnapshot.withLock { $0 = statistics }
        logger.debug("bus stopped")
    }

    private func runCommands(server: BusServer) {
        server.notifier.drain()
        let batch = server.commands.withLock { commands in
            defer { commands.removeAll(keepingCapacity: true) }
            return commands
        }
        for command in batch {
            switch command {
            case .stop:
                isStopping = true
            case .publish(let envelope):
                publishFromHost(envelope)
            case .sendDescriptors(let connectionID, let label, let descriptors):
                guard let connection = connections[connectionID], connection.state == .attached else {
                    for descriptor in descriptors { FileDescriptor(adopting: descriptor).close() }
                    logger.warning("descriptors for an unknown connection closed", metadata: ["connection": "\(connectionID)"])
                    continue
                }
                do {
                    try connection.outbound.appendFrame(passing: descriptors) { writer in
                        BusWire.writeDescriptors(count: descriptors.count, label: label, into: &writer)
                    }
                    markDirty(connection)
                } catch {
                    logger.warning("cannot send descriptors", metadata: ["error": "\(error)"])
                }
            case .disconnect(let connectionID, let reason):
                if let connection = connections[connectionID] { markClosed(connection, .closedByHost, reason) }
            }
        }
    }

    // MARK: - Accepting

    private func acceptAll() {
        while true {
            let accepted: FileDescriptor?
            do {
                accepted = try listener.accept()
            } catch {
                // EMFILE/ENFILE/ENOMEM: the connection stays in the backlog; retry on the next turn.
                logger.error("accept failed", metadata: ["error": "\(error)"])
                return
            }
            guard let socket = accepted else { return }
            accept(socket)
        }
    }

    private func accept(_ socket: consuming FileDescriptor) {
        let now = Clock.monotonicNanoseconds()
        let credentials: PeerCredentials
        do {
            credentials = try socket.peerCredentials()
        } catch {
            logger.warning("connection without credentials closed", metadata: ["error": "\(error)"])
            return
        }
        let id = nextConnectionID
        nextConnectionID += 1
        let peer = BusServer.Peer(connectionID: id, processID: credentials.processID, userID: credentials.userID)
        let connection = BusConnection(
            id: id,
            socket: socket,
            peer: peer,
            maxFrameBytes: configuration.maxMessageBytes,
            now: now
        )
        // The user check comes before a single byte is read from the stranger.
        if !configuration.allowedUserIDs.contains(credentials.userID) {
            refuseAtOnce(connection, BusRefusal(.userNotAllowed, "user id \(credentials.userID) may not attach to this bus"))
            return
        }
        // Connections that have not said hello are held apart from the attached ones: however many a peer
        // opens and leaves silent, they never take the place of a worker that attaches (or re-attaches after
        // a restart). Past their own bound the oldest of them is closed.
        let (attached, waiting) = connectionCounts()
        if attached >= configuration.maxConnections {
            refuseAtOnce(connection, BusRefusal(.tooManyConnections, "the bus has \(attached) attached connections, its limit"))
            return
        }
        if waiting.count >= max(1, configuration.maxConnectionsAwaitingHello), let oldest = waiting.min(by: { $0.acceptedAt < $1.acceptedAt }) {
            refuse(
                oldest,
                BusRefusal(.tooManyConnections, "closed without a hello to make room: \(waiting.count) connections were waiting for theirs")
            )
        }
        do {
            try epoll.add(connection.socket.rawValue, events: [.readable, .peerClosedWriting], data: id)
        } catch {
            logger.error("cannot watch a new connection", metadata: ["error": "\(error)", "peer": "\(peer)"])
            return
        }
        connections[id] = connection
        statistics.connections = connections.count
        scheduleTimerCheck(now + helloTimeout)
    }

    /// The connections attached (welcomed), and those still waiting for their hello; closing ones are neither.
    private func connectionCounts() -> (attached: Int, waiting: [BusConnection]) {
        var attached = 0
        var waiting: [BusConnection] = []
        for connection in connections.values {
            switch connection.state {
            case .attached: attached += 1
            case .awaitingHello: waiting.append(connection)
            case .closing: break
            }
        }
        return (attached, waiting)
    }

    /// Refuses a connection that was never registered: the refusal is written once, without waiting.
    private func refuseAtOnce(_ connection: BusConnection, _ refusal: BusRefusal) {
        statistics.refused += 1
        logger.warning("bus client refused", metadata: ["peer": "\(connection.peer)", "reason": "\(refusal)"])
        hooks.onEvent(.refused(connection.peer, refusal))
        // Best effort: a refusal that does not fit is still a closed connection.
        _ = try? connection.outbound.appendFrame { writer in BusWire.writeRefused(refusal, into: &writer) }
        _ = try? connection.outbound.flush(to: connection.socket)  // best effort: the peer may be gone
    }

    // MARK: - Reading

    /// Reads once and handles every complete frame; whether bytes arrived (and the connection is open).
    @discardableResult
    private func readReady(_ connection: BusConnection) -> Bool {
        guard connection.state != .closing else { return false }
        let result: IOResult
        do {
            result = try connection.reader.fill(from: connection.socket)
        } catch {
            markClosed(connection, .normal, "read failed: \(error)", quietly: true)
            return false
        }
        switch result {
        case .wouldBlock:
            return false
        case .endOfFile:
            if connection.reader.hasPartialFrame {
                violation(connection, "closed in the middle of a frame")
            } else {
                markClosed(connection, .normal, "closed by the peer")
            }
            return false
        case .done:
            break
        }
        let now = Clock.monotonicNanoseconds()
        connection.lastReceived = now
        if connection.reader.pendingDescriptorCount > 0 {
            violation(connection, "a client may not pass descriptors to the bus")
            return false
        }
        do {
            while connection.state != .closing, let range = try connection.reader.nextFrame() {
                // Safe: the frame view lives only inside this closure; `handle` copies what it keeps.
                try unsafe connection.reader.withFrame(range) { (frame) throws(BusError) in
                    let message = try unsafe BusWire.decode(frame, limits: limits)
                    try unsafe handle(message, frame: frame, from: connection, now: now)
                }
            }
        } catch {
            violation(connection, error.message)
            return false
        }
        if connection.reader.hasPartialFrame {
            if connection.partialSince == nil {
                connection.partialSince = now
                scheduleTimerCheck(now + stallTimeout)
            }
        } else {
            connection.partialSince = nil
        }
        return true
    }

    private func violation(_ connection: BusConnection, _ detail: String, reason: BusGoodbyeReason = .protocolViolation) {
        statistics.protocolViolations += 1
        markClosed(connection, reason, detail)
    }

    // MARK: - Handling messages

    private func handle(
        _ message: BusWire.Message,
        frame: UnsafeRawBufferPointer,
        from connection: BusConnection,
        now: UInt64
    ) throws(BusError) {
        if connection.state == .awaitingHello {
            guard case .hello(let hello) = message else {
                throw BusError(.protocolViolation, "the first message must be a hello, not a \(message.kind)")
            }
            admit(hello, connection)
            return
        }
        switch message {
        case .publish(let span):
            statistics.published += 1
            topicScratch.removeAll(keepingCapacity: true)
            unsafe topicScratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: frame[span.topicRange]))
            unsafe route(UnsafeRawBufferPointer(rebasing: frame[span.range]), topic: topicScratch[...])
            if !hooks.taps.isEmpty {
                unsafe tap(UnsafeRawBufferPointer(rebasing: frame[span.range]), topic: topicScratch[...], from: connection)
            }
        case .subscribe(let correlation, let subscription, let pattern, let flags):
            subscribe(connection, correlation: correlation, id: subscription, pattern: pattern, flags: flags)
        case .unsubscribe(let correlation, let subscription):
            unsubscribe(connection, correlation: correlation, id: subscription)
        case .request(let correlation, let timeout, let span):
            try unsafe request(connection, correlation: correlation, timeout: timeout, frame: frame, span: span, now: now)
        case .reply(let correlation, let span):
            unsafe reply(from: connection, correlation: correlation, envelope: UnsafeRawBufferPointer(rebasing: frame[span.range]))
        case .error(let correlation, let code, let text):
            replyError(from: connection, correlation: correlation, code: code, text: text)
        case .heartbeat:
            break  // `lastReceived` was updated for the whole read
        case .goodbye(let reason, let text):
            markClosed(connection, .normal, "goodbye from the peer (\(reason)): \(text)")
        case .hello:
            throw BusError(.protocolViolation, "a second hello")
        case .welcome, .refused, .deliver, .dropped, .descriptors, .ack:
            throw BusError(.protocolViolation, "a client may not send a \(message.kind) message")
        }
    }

    private func admit(_ hello: BusHello, _ connection: BusConnection) {
        var hello = hello
        hello.peerProcessID = connection.peer.processID
        hello.peerUserID = connection.peer.userID
        connection.peer.role = hello.role
        connection.peer.name = hello.name
        guard hello.protocolVersions.contains(BusWire.protocolVersion) else {
            refuse(connection, BusRefusal(.unsupportedVersion, "the bus speaks protocol version \(BusWire.protocolVersion); the hello offers \(hello.protocolVersions)"))
            return
        }
        guard Self.constantTimeEquals(hello.token, configuration.token) else {
            refuse(connection, BusRefusal(.badToken, "the hello's token is not this run's"))
            return
        }
        if connectionCounts().attached >= configuration.maxConnections {
            refuse(connection, BusRefusal(.tooManyConnections, "the bus has \(configuration.maxConnections) attached connections, its limit"))
            return
        }
        switch hooks.admit(hello, connection.peer) {
        case .refuse(let refusal):
            refuse(connection, refusal)
        case .welcome(let document):
            let welcome = BusWelcome(
                protocolVersion: BusWire.protocolVersion,
                connectionID: connection.id,
                heartbeatIntervalNanoseconds: heartbeatInterval,
                heartbeatMisses: UInt64(max(configuration.heartbeatMisses, 1)),
                maxMessageBytes: UInt64(configuration.maxMessageBytes),
                document: document
            )
            do {
                try connection.outbound.appendFrame { writer in BusWire.writeWelcome(welcome, into: &writer) }
            } catch {
                refuse(connection, BusRefusal(.rejected, "the welcome does not fit in a message: \(error.message)"))
                return
            }
            connection.state = .attached
            connection.lastSent = Clock.monotonicNanoseconds()
            markDirty(connection)
            statistics.attached += 1
            logger.info("bus client attached", metadata: ["peer": "\(connection.peer)"])
            hooks.onEvent(.attached(connection.peer))
            scheduleTimerCheck(connection.lastSent + heartbeatInterval)
        }
    }

    private func refuse(_ connection: BusConnection, _ refusal: BusRefusal) {
        statistics.refused += 1
        logger.warning("bus client refused", metadata: ["peer": "\(connection.peer)", "reason": "\(refusal)"])
        hooks.onEvent(.refused(connection.peer, refusal))
        // Best effort: a refusal that does not fit is still a closed connection.
        _ = try? connection.outbound.appendFrame { writer in BusWire.writeRefused(refusal, into: &writer) }
        connection.state = .closing
        connection.closeReason = nil  // refused: no goodbye and no `detached` event
        closing.append(connection)
    }

    // MARK: - Publish and subscribe

    private func publishFromHost(_ envelope: Envelope) {
        if let problem = Topic.problem(inTopic: envelope.topic) {
            logger.warning("host publish dropped: topic \(problem)", metadata: ["topic": "\(envelope.topic)"])
            return
        }
        statistics.published += 1
        scratch.reset()
        envelope.encode(into: &scratch)
        guard scratch.count <= configuration.maxMessageBytes else {
            logger.warning("host publish dropped: \(scratch.count) bytes exceed the message limit")
            return
        }
        topicScratch.removeAll(keepingCapacity: true)
        topicScratch.append(contentsOf: envelope.topic.utf8)
        let topic = topicScratch[...]
        unsafe scratch.withUnsafeBytes { bytes in
            unsafe route(bytes, topic: topic)
        }
    }

    /// Hands a client's publication to the host's taps on its topic. An envelope that does not decode (the
    /// bus routes envelopes as bytes, so it may reach here unchecked) is logged and skipped: the publisher's
    /// subscribers got its bytes as they were, and a tap never sees a half-read value.
    private func tap(_ envelope: UnsafeRawBufferPointer, topic: ArraySlice<UInt8>, from connection: BusConnection) {
        let taps = hooks.taps.filter { $0.pattern.matches(topic) }
        guard !taps.isEmpty else { return }
        let decoded: Envelope
        do {
            decoded = try unsafe Envelope(unsafeCBOR: envelope, limits: limits)
        } catch {
            logger.warning("a publication for the host's taps does not decode: \(error)", metadata: ["peer": "\(connection.peer)"])
            return
        }
        for tap in taps { tap.handler(decoded, connection.peer) }
    }

    /// Delivers an envelope's bytes to every matching subscription, in subscription order.
    private func route(_ envelope: UnsafeRawBufferPointer, topic: ArraySlice<UInt8>) {
        for subscription in subscribers where subscription.pattern.matches(topic) {
            unsafe deliver(envelope, to: subscription)
        }
    }

    private func deliver(_ envelope: UnsafeRawBufferPointer, to subscription: BusSubscription) {
        let connection = subscription.connection
        guard connection.state == .attached else { return }
        if connection.outbound.pendingByteCount + envelope.count + Self.routingOverhead > configuration.outboundQueueLimit {
            switch subscription.overflow {
            case .drop:
                subscription.dropped += 1
                subscription.hasUnreportedDrops = true
                connection.hasUnreportedDrops = true
                statistics.dropped += 1
            case .disconnect:
                statistics.slowConsumers += 1
                markClosed(
                    connection,
                    .slowConsumer,
                    "outbound queue passed \(configuration.outboundQueueLimit) bytes on subscription \(subscription.id) (\(subscription.pattern))"
                )
            }
            return
        }
        do {
            try connection.outbound.appendFrame { writer in
                unsafe BusWire.writeForwarded(.deliver, subscription.id, nil, envelopeBytes: envelope, into: &writer)
            }
        } catch {
            return  // cannot happen: the envelope came in a frame within the limit, plus the routing overhead
        }
        statistics.delivered += 1
        markDirty(connection)
    }

    private func subscribe(_ connection: BusConnection, correlation: UInt64, id: UInt64, pattern text: String, flags: UInt64) {
        guard flags & ~BusWire.SubscribeFlag.known == 0 else {
            sendError(connection, correlation, .badRequest, "unknown subscribe flags \(flags)")
            return
        }
        guard connection.subscriptions[id] == nil else {
            sendError(connection, correlation, .badRequest, "subscription id \(id) is already in use")
            return
        }
        guard connection.subscriptions.count < configuration.maxSubscriptionsPerConnection else {
            sendError(connection, correlation, .limitReached, "at most \(configuration.maxSubscriptionsPerConnection) subscriptions")
            return
        }
        let pattern: TopicPattern
        do {
            pattern = try TopicPattern(text)
        } catch {
            sendError(connection, correlation, .invalidTopic, error.message)
            return
        }
        let subscription = BusSubscription(
            id: id,
            pattern: pattern,
            connection: connection,
            isResponder: flags & BusWire.SubscribeFlag.responder != 0,
            overflow: flags & BusWire.SubscribeFlag.dropOnOverflow != 0 ? .drop : .disconnect
        )
        connection.subscriptions[id] = subscription
        if subscription.isResponder { responders.append(subscription) } else { subscribers.append(subscription) }
        sendControl(connection) { writer in BusWire.writeIntegers(.ack, correlation, into: &writer) }
    }

    private func unsubscribe(_ connection: BusConnection, correlation: UInt64, id: UInt64) {
        guard let subscription = connection.subscriptions.removeValue(forKey: id) else {
            sendError(connection, correlation, .unknownSubscription, "no subscription \(id)")
            return
        }
        subscribers.removeAll { $0 === subscription }
        responders.removeAll { $0 === subscription }
        sendControl(connection) { writer in BusWire.writeIntegers(.ack, correlation, into: &writer) }
    }

    // MARK: - Request and reply

    private func request(
        _ connection: BusConnection,
        correlation: UInt64,
        timeout: UInt64,
        frame: UnsafeRawBufferPointer,
        span: BusWire.EnvelopeSpan,
        now: UInt64
    ) throws(BusError) {
        guard connection.requestsInFlight < configuration.maxRequestsInFlight else {
            sendError(connection, correlation, .limitReached, "at most \(configuration.maxRequestsInFlight) requests in flight")
            return
        }
        let timeout = timeout == 0 ? maxRequestTimeout : min(timeout, maxRequestTimeout)
        topicScratch.removeAll(keepingCapacity: true)
        unsafe topicScratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: frame[span.topicRange]))
        let topic = topicScratch[...]
        if let service = hooks.services.first(where: { $0.pattern.matches(topic) }) {
            let envelope: Envelope
            do {
                envelope = try unsafe Envelope(unsafeCBOR: UnsafeRawBufferPointer(rebasing: frame[span.range]), limits: limits)
            } catch {
                throw BusError(.protocolViolation, "request envelope: \(error)")
            }
            switch service.handler(envelope, connection.peer) {
            case .success(let reply):
                statistics.replied += 1
                do {
                    try connection.outbound.appendFrame { writer in
                        BusWire.writeEnvelopeMessage(.reply, correlation, envelope: reply, into: &writer)
                    }
                    markDirty(connection)
                } catch {
                    sendError(connection, correlation, .serviceFailed, "the reply does not fit in a message")
                }
            case .failure(let failure):
                sendError(connection, correlation, failure.code, failure.text)
            }
            return
        }
        // One responder per request, taken in turn among those that match.
        var chosen: BusSubscription?
        if !responders.isEmpty {
            for step in 0..<responders.count {
                let candidate = responders[(nextResponder + step) % responders.count]
                if candidate.connection.state == .attached && candidate.pattern.matches(topic) {
                    chosen = candidate
                    nextResponder = (nextResponder + step + 1) % responders.count
                    break
                }
            }
        }
        guard let responder = chosen?.connection else {
            sendError(connection, correlation, .noResponders, "no responder serves this topic")
            return
        }
        let serverCorrelation = nextCorrelation
        nextCorrelation += 1
        do {
            try responder.outbound.appendFrame { writer in
                unsafe BusWire.writeForwarded(
                    .request,
                    serverCorrelation,
                    timeout,
                    envelopeBytes: UnsafeRawBufferPointer(rebasing: frame[span.range]),
                    into: &writer
                )
            }
        } catch {
            sendError(connection, correlation, .badRequest, "the request does not fit in a message")
            return
        }
        markDirty(responder)
        let deadline = now + timeout
        pending[serverCorrelation] = PendingRequest(
            requester: connection,
            requesterCorrelation: correlation,
            responder: responder,
            deadline: deadline
        )
        connection.requestsInFlight += 1
        scheduleTimerCheck(deadline)
    }

    private func reply(from connection: BusConnection, correlation: UInt64, envelope: UnsafeRawBufferPointer) {
        guard let request = pending[correlation], request.responder === connection else {
            statistics.lateReplies += 1
            return
        }
        pending[correlation] = nil
        let requester = request.requester
        requester.requestsInFlight -= 1
        guard requester.state == .attached else {
            statistics.lateReplies += 1
            return
        }
        statistics.replied += 1
        do {
            try requester.outbound.appendFrame { writer in
                unsafe BusWire.writeForwarded(.reply, request.requesterCorrelation, nil, envelopeBytes: envelope, into: &writer)
            }
            markDirty(requester)
        } catch {
            sendError(requester, request.requesterCorrelation, .serviceFailed, "the reply does not fit in a message")
        }
    }

    private func replyError(from connection: BusConnection, correlation: UInt64, code: BusErrorCode, text: String) {
        guard let request = pending[correlation], request.responder === connection else {
            statistics.lateReplies += 1
            return
        }
        pending[correlation] = nil
        request.requester.requestsInFlight -= 1
        guard request.requester.state == .attached else { return }
        sendError(request.requester, request.requesterCorrelation, code, text)
    }

    // MARK: - Writing

    private func sendError(_ connection: BusConnection, _ correlation: UInt64, _ code: BusErrorCode, _ text: String) {
        sendControl(connection) { writer in
            BusWire.writeError(correlation: correlation, code: code, text: text, into: &writer)
        }
    }

    /// Queues a control message (ack, error, heartbeat, dropped); past twice the queue bound the
    /// connection is closed as a slow consumer instead.
    private func sendControl(_ connection: BusConnection, _ body: (inout CBORWriter) -> Void) {
        guard connection.state == .attached else { return }
        guard connection.outbound.pendingByteCount < 2 * configuration.outboundQueueLimit else {
            statistics.slowConsumers += 1
            markClosed(connection, .slowConsumer, "outbound queue passed twice its bound of \(configuration.outboundQueueLimit) bytes")
            return
        }
        do {
            try connection.outbound.appendFrame(body)
        } catch {
            logger.error("control message too large", metadata: ["error": "\(error)"])
            return
        }
        markDirty(connection)
    }

    private func markDirty(_ connection: BusConnection) {
        connection.lastSent = Clock.monotonicNanoseconds()
        guard !connection.isDirty else { return }
        connection.isDirty = true
        dirty.append(connection)
    }

    private func flushDirty() {
        // A flush may queue more (a drop report) and mark its connection dirty again: swap the lists so
        // that such a connection lands in a fresh list and is flushed in the next pass, not forgotten.
        while !dirty.isEmpty {
            swap(&dirty, &flushing)
            for connection in flushing {
                connection.isDirty = false
                guard connection.state != .closing else { continue }
                flush(connection)
            }
            flushing.removeAll(keepingCapacity: true)
        }
    }

    private func writeReady(_ connection: BusConnection) {
        guard connection.state != .closing else { return }
        flush(connection)
    }

    private func flush(_ connection: BusConnection) {
        guard !connection.hasWriteFailed else { return }
        let isDrained: Bool
        do {
            isDrained = try connection.outbound.flush(to: connection.socket)
        } catch {
            // The peer is gone or stopped reading, but what it sent before that is still in our receive
            // queue (a publisher that exits right after publishing): route it all before closing.
            connection.hasWriteFailed = true
            while connection.state != .closing && readReady(connection) {}
            markClosed(connection, .normal, "write failed: \(error)", quietly: true)
            return
        }
        if isDrained && connection.hasUnreportedDrops {
            reportDrops(connection)
        }
        if isDrained != !connection.isWritableRegistered {
            let events: Epoll.Events = isDrained ? [.readable, .peerClosedWriting] : [.readable, .peerClosedWriting, .writable]
            do {
                try epoll.modify(connection.socket.rawValue, events: events, data: connection.id)
                connection.isWritableRegistered = !isDrained
            } catch {
                markClosed(connection, .normal, "epoll_ctl failed: \(error)", quietly: true)
            }
        }
    }

    /// Tells a subscriber, once its queue has drained, how many messages each lossy subscription lost.
    private func reportDrops(_ connection: BusConnection) {
        connection.hasUnreportedDrops = false
        for subscription in connection.subscriptions.values where subscription.hasUnreportedDrops {
            subscription.hasUnreportedDrops = false
            sendControl(connection) { writer in
                BusWire.writeIntegers(.dropped, subscription.id, subscription.dropped, into: &writer)
            }
        }
        _ = try? connection.outbound.flush(to: connection.socket)  // the rest goes on the next writable turn
        markDirty(connection)
    }

    // MARK: - Timers

    /// How much longer than its sleep a turn of the loop may take before the loop counts itself paused.
    static let pauseThreshold: UInt64 = 500_000_000

    /// The loop did not run for `duration` (its process was stopped, or starved of CPU): every peer's
    /// timers are moved on by as much, so that a pause of the host is not taken for its peers' silence
    /// (their heartbeats are in the socket, unread) and requests in flight keep the time they had left.
    private func forgivePause(_ duration: UInt64) {
        let now = Clock.monotonicNanoseconds()
        for connection in connections.values {
            connection.lastReceived = min(now, connection.lastReceived &+ duration)
            if let since = connection.partialSince { connection.partialSince = min(now, since &+ duration) }
        }
        for key in pending.keys { pending[key]?.deadline &+= duration }
        logger.info("the bus did not run for \(duration / 1_000_000) ms (its process stopped or starved): peers' timers moved on")
    }

    private func scheduleTimerCheck(_ time: UInt64) {
        if nextTimerCheck == 0 || time < nextTimerCheck { nextTimerCheck = time }
    }

    private func checkTimers(now: UInt64) {
        // Connection timers are checked at least four times per heartbeat interval.
        var next = now + max(heartbeatInterval / 4, 1_000_000)
        for connection in connections.values where connection.state != .closing {
            switch connection.state {
            case .awaitingHello:
                if now - connection.acceptedAt >= helloTimeout {
                    violation(connection, "no hello within the hello timeout", reason: .helloTimeout)
                    continue
                }
                next = min(next, connection.acceptedAt + helloTimeout)
            case .attached:
                if now - connection.lastReceived >= silenceLimit {
                    statistics.heartbeatTimeouts += 1
                    markClosed(connection, .heartbeatTimeout, "silent for \(configuration.heartbeatMisses) heartbeat intervals; declared gone")
                    continue
                }
                if now - connection.lastSent >= heartbeatInterval {
                    sendControl(connection) { writer in BusWire.writeIntegers(.heartbeat, now, into: &writer) }
                }
            case .closing:
                continue
            }
            if let since = connection.partialSince {
                if now - since >= stallTimeout {
                    violation(connection, "stalled in the middle of a frame", reason: .stalledFrame)
                    continue
                }
                next = min(next, since + stallTimeout)
            }
        }
        for connection in Array(lingering.values) {
            if let deadline = connection.lingerDeadline, deadline <= now { finalize(connection) }
        }
        var expired: [UInt64] = []
        for (correlation, request) in pending {
            if request.deadline <= now { expired.append(correlation) } else { next = min(next, request.deadline) }
        }
        for correlation in expired {
            guard let request = pending.removeValue(forKey: correlation) else { continue }
            statistics.timedOut += 1
            request.requester.requestsInFlight -= 1
            sendError(request.requester, request.requesterCorrelation, .timedOut, "no reply within the request's timeout")
        }
        flushDirty()
        nextTimerCheck = next
    }

    // MARK: - Closing

    private func markClosed(_ connection: BusConnection, _ reason: BusGoodbyeReason, _ detail: String, quietly: Bool = false) {
        guard connection.state != .closing else { return }
        if reason == .slowConsumer {
            // The queue is the problem: what the socket has not started to take is dropped, so that the
            // goodbye reaches the subscriber right after what it already has.
            connection.outbound.discardUnsentFrames()
        }
        if connection.state == .attached && !quietly {
            // Best effort: the goodbye explains the close; the close happens either way.
            _ = try? connection.outbound.appendFrame { writer in BusWire.writeGoodbye(reason, detail, into: &writer) }
        }
        connection.closeReason = (reason, detail)
        connection.state = .closing
        closing.append(connection)
    }

    private func closeMarked() {
        guard !closing.isEmpty else { return }
        let batch = closing
        closing.removeAll()
        let now = Clock.monotonicNanoseconds()
        for connection in batch {
            let isDrained = (try? connection.outbound.flush(to: connection.socket)) ?? true  // a write error: nothing more can go
            if isDrained || isStopping {
                finalize(connection)
            } else {
                // The goodbye (or refusal) waits behind bytes the peer has not read yet: keep writing, and
                // only writing, until it is out or the stall timeout runs out.
                connection.lingerDeadline = now + stallTimeout
                lingering[connection.id] = connection
                scheduleTimerCheck(now + stallTimeout)
                do {
                    try epoll.modify(connection.socket.rawValue, events: [.writable], data: connection.id)
                } catch {
                    finalize(connection)
                }
            }
            for subscription in connection.subscriptions.values {
                subscribers.removeAll { $0 === subscription }
                responders.removeAll { $0 === subscription }
            }
            connection.subscriptions.removeAll()
            var orphaned: [UInt64] = []
            for (correlation, request) in pending where request.requester === connection || request.responder === connection {
                orphaned.append(correlation)
            }
            for correlation in orphaned {
                guard let request = pending.removeValue(forKey: correlation) else { continue }
                request.requester.requestsInFlight -= 1
                if request.requester !== connection {
                    sendError(request.requester, request.requesterCorrelation, .responderGone, "the responder disconnected")
                }
            }
            if let (reason, detail) = connection.closeReason {
                let level: Logger.Level = reason == .normal || reason == .shuttingDown ? .info : .warning
                logger.log(level: level, "bus client detached", metadata: ["peer": "\(connection.peer)", "reason": "\(reason)", "detail": "\(detail)"])
                hooks.onEvent(.detached(connection.peer, reason: reason, detail: detail))
            }
        }
        statistics.connections = connections.count
        flushDirty()
    }

    /// Writes more of a closed connection's last bytes; closes it once they are out or the peer is gone.
    private func drainLingering(_ connection: BusConnection, events: Epoll.Events) {
        let isDrained = (try? connection.outbound.flush(to: connection.socket)) ?? true  // error: give up
        if isDrained || !events.isDisjoint(with: [.hangup, .error]) { finalize(connection) }
    }

    /// Forgets a closed connection; its descriptor closes when the last reference goes.
    private func finalize(_ connection: BusConnection) {
        try? epoll.remove(connection.socket.rawValue)  // closing the descriptor removes it anyway
        connections[connection.id] = nil
        lingering[connection.id] = nil
        statistics.connections = connections.count
    }

    // MARK: - Helpers

    private static let nameTooLong: Int32 = 36  // ENAMETOOLONG on Linux

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Creates the socket's directory (0700) or checks that an existing one is ours and closed to others.
    private static func prepareDirectory(_ directory: String) throws(BusError) -> Bool {
        do {
            let status = try FileSystem.status(of: directory)
            guard status.isDirectory else {
                throw BusError(.invalidConfiguration, "\(directory) is not a directory")
            }
            guard status.ownerUserID == FileSystem.currentUserID() else {
                throw BusError(.invalidConfiguration, "\(directory) belongs to user \(status.ownerUserID), not to this user")
            }
            guard status.mode & 0o077 == 0 else {
                throw BusError(.invalidConfiguration, "\(directory) is open to other users (mode \(String(status.mode, radix: 8))); it must be 0700")
            }
            return false
        } catch let error as BusError {
            throw error
        } catch {
            // Missing: create it.
        }
        do {
            try FileSystem.createDirectory(directory, mode: 0o700)
        } catch {
            throw BusError(.systemCall, "cannot create the bus directory \(directory)", cause: error)
        }
        return true
    }

    /// Removes a socket left by a bus that died; refuses to take over one that a live bus listens on.
    private static func removeStaleSocket(at path: String) throws(BusError) {
        guard let status = try? FileSystem.status(of: path) else { return }  // nothing there
        guard status.isSocket else {
            throw BusError(.invalidConfiguration, "\(path) exists and is not a socket")
        }
        if (try? FileDescriptor.connectUnixStream(path: path)) != nil {
            throw BusError(.invalidConfiguration, "another bus is listening on \(path)")
        }
        try? FileSystem.removeFile(path)  // stale: no listener; bind reports anything left in the way
    }

    private static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let left = Array(a.utf8)
        let right = Array(b.utf8)
        var difference = UInt8(left.count == right.count ? 0 : 1)
        for index in 0..<max(left.count, right.count) {
            let x = index < left.count ? left[index] : 0
            let y = index < right.count ? right[index] : 0
            difference |= x ^ y
        }
        return difference == 0
    }
}
