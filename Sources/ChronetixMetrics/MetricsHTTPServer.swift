import ChronetixSystem
import Synchronization

/// The `/metrics` endpoint: a TCP listener and one thread with an epoll loop that answers each connection's
/// one request (``MetricsHTTP``) and closes it.
///
/// Hostile or slow clients cannot hold it up: every socket is non-blocking, a connection has
/// ``connectionTimeout`` from its accept to its last byte sent (then it is closed, with a 408 if it never
/// finished its request), at most ``maxConnections`` are open at once (a new one closes the oldest), and a
/// request head is at most 8 KiB. The body closure runs on the server's thread.
// @unchecked Sendable: `thread` is set once in `init` and taken once, by the one `stop()` call that wins the
// `isStopping` exchange; everything else is immutable, atomic, or used by the thread alone.
public final class MetricsHTTPServer: @unchecked Sendable {
    /// The most connections open at once.
    public static let maxConnections = 32
    /// From accept to the last byte of the response, in nanoseconds.
    public static let connectionTimeout: UInt64 = 5_000_000_000

    /// The address it listens on.
    public let address: String
    /// The port it listens on (the kernel's choice when 0 was asked for).
    public let port: UInt16
    private let notifier: EventNotifier
    private let isStopping = Atomic<Bool>(false)
    private var thread: SystemThread? = nil
    /// The listener, until the thread takes it.
    private let listener: Mutex<FileDescriptor?>
    private let body: @Sendable () -> [UInt8]

    /// `http://ADDRESS:PORT/metrics` (IPv6 addresses in brackets).
    public var url: String { "http://\(address.contains(":") ? "[\(address)]" : address):\(port)/metrics" }

    /// Binds the listener and starts the thread that serves it.
    /// - Parameters:
    ///   - address: A numeric IPv4 or IPv6 address (`127.0.0.1` for loopback only).
    ///   - port: The port; 0 for one the kernel picks (see ``port``).
    ///   - body: Makes the metrics text for each scrape; must not block.
    /// - Throws: `SystemCallError` when the address is not numeric or cannot be bound, or the thread cannot start.
    public init(address: String, port: UInt16, body: @escaping @Sendable () -> [UInt8]) throws {
        let socket = try FileDescriptor.listenTCP(address: address, port: port)
        self.port = try socket.localPort()
        self.address = address
        self.body = body
        notifier = try EventNotifier()
        listener = Mutex(socket)
        var started: SystemThread? = try SystemThread(name: "cx metrics") { [self] in serve() }
        thread = started.take()
    }

    /// Stops serving: closes the listener and every connection, and waits for the thread. Safe to call twice.
    public func stop() {
        guard !isStopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        notifier.notify()
        let running = thread.take()
        running?.join()
    }

    deinit { stop() }

    // MARK: - The loop

    private final class Connection {
        let socket: FileDescriptor
        let deadline: UInt64
        var received: [UInt8] = []
        var response: [UInt8]?
        var sent = 0
        init(_ socket: consuming FileDescriptor, deadline: UInt64) {
            self.socket = socket
            self.deadline = deadline
        }
    }

    private static let listenerKey: UInt64 = 0
    private static let notifierKey: UInt64 = 1

    private func serve() {
        let taken = listener.withLock { $0.take() }
        guard let socket = consume taken else { return }
        // Cannot fail short of running out of descriptors; the endpoint then answers nothing.
        guard var epoll = try? Epoll(capacity: 64) else { return }
        do {
            try epoll.add(socket.rawValue, events: .readable, data: Self.listenerKey)
            try epoll.add(notifier.descriptor, events: .readable, data: Self.notifierKey)
        } catch {
            return  // cannot happen short of running out of descriptors; the endpoint then answers nothing
        }
        var connections: [UInt64: Connection] = [:]
        var nextKey: UInt64 = 2
        var listenerPausedUntil: UInt64 = 0
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !isStopping.load(ordering: .acquiring) {
            let now = Clock.monotonicNanoseconds()
            let soonest = connections.values.map(\.deadline).min() ?? .max
            let wake = min(soonest, listenerPausedUntil == 0 ? .max : listenerPausedUntil)
            let count: Int
            do {
                count = try epoll.wait(timeoutMilliseconds: min(Clock.epollMilliseconds(from: now, until: wake), 1000))
            } catch {
                continue  // EINTR only: epoll_wait fails otherwise only for a bad descriptor or buffer
            }
            for index in 0..<count {
                let (events, key) = epoll.event(at: index)
                switch key {
                case Self.listenerKey:
                    while true {
                        let accepted: FileDescriptor?
                        do {
                            accepted = try socket.accept()
                        } catch {
                            // Out of descriptors (EMFILE) or the like: stop polling the listener for 100 ms, so
                            // that the level-triggered loop does not spin on a connection it cannot take.
                            try? epoll.remove(socket.rawValue)  // it is registered; nothing to do if not
                            listenerPausedUntil = Clock.monotonicNanoseconds() + 100_000_000
                            break
                        }
                        guard let accepted else { break }
                        if connections.count >= Self.maxConnections, let oldest = connections.min(by: { $0.value.deadline < $1.value.deadline }) {
                            connections.removeValue(forKey: oldest.key)  // closed as it goes
                        }
                        let connection = Connection(accepted, deadline: Clock.monotonicNanoseconds() + Self.connectionTimeout)
                        let key = nextKey
                        nextKey += 1
                        do {
                            try epoll.add(connection.socket.rawValue, events: [.readable, .peerClosedWriting], data: key)
                            connections[key] = connection
                        } catch {
                            continue  // dropped (closed) at once: the client sees its connection end
                        }
                    }
                case Self.notifierKey:
                    _ = notifier.drain()  // the count does not matter: the loop checks `isStopping`
                default:
                    guard let connection = connections[key] else { continue }
                    if connection.response == nil && events.contains(.readable) {
                        readRequest(connection, chunk: &chunk)
                        if connection.response != nil {
                            // Now wait for room to send instead of for more bytes.
                            try? epoll.modify(connection.socket.rawValue, events: .writable, data: key)  // registered above
                        } else if events.contains(.peerClosedWriting) || events.contains(.hangup) {
                            // The client closed without finishing a request: nothing to answer.
                            connections.removeValue(forKey: key)
                            continue
                        }
                    }
                    if connection.response != nil {
                        if writeResponse(connection) { connections.removeValue(forKey: key) }
                    } else if events.contains(.error) || events.contains(.hangup) {
                        connections.removeValue(forKey: key)
                    }
                }
            }
            let after = Clock.monotonicNanoseconds()
            if listenerPausedUntil != 0 && after >= listenerPausedUntil {
                listenerPausedUntil = 0
                try? epoll.add(socket.rawValue, events: .readable, data: Self.listenerKey)  // removed while paused
            }
            for (key, connection) in connections where connection.deadline <= after {
                if connection.response == nil {
                    // A last word to a client that never finished its request; it is closed either way.
                    connection.response = MetricsHTTP.response(to: .incomplete, body: { [] })
                    _ = writeResponse(connection)
                }
                connections.removeValue(forKey: key)
            }
        }
        connections.removeAll()
    }

    /// Reads what the client sent; sets the response once the head is complete or bad.
    private func readRequest(_ connection: Connection, chunk: inout [UInt8]) {
        while connection.response == nil {
            let result: IOResult
            do {
                result = try chunk.withUnsafeMutableBytes { try connection.socket.read(into: $0) }
            } catch {
                connection.response = []  // ECONNRESET and the like: nothing to answer, close
                return
            }
            switch result {
            case .done(let count):
                connection.received += chunk[..<count]
                let parse = MetricsHTTP.parse(connection.received)
                if parse != .incomplete { connection.response = MetricsHTTP.response(to: parse, body: body) }
            case .wouldBlock, .endOfFile:
                return
            }
        }
    }

    /// Sends what the socket takes; whether the connection is done (all sent, or the client gone).
    private func writeResponse(_ connection: Connection) -> Bool {
        guard let response = connection.response else { return false }
        while connection.sent < response.count {
            let result: IOResult
            do {
                result = try response.withUnsafeBytes { bytes in
                    try connection.socket.write(from: UnsafeRawBufferPointer(rebasing: bytes[connection.sent...]))
                }
            } catch {
                return true  // EPIPE, ECONNRESET: the client left
            }
            switch result {
            case .done(let count): connection.sent += count
            case .wouldBlock: return false
            case .endOfFile: return true
            }
        }
        // The whole response went out: end our side, so that the client reads to the end of the stream.
        try? connection.socket.shutdown(reading: false, writing: true)  // closing next anyway
        return true
    }
}
