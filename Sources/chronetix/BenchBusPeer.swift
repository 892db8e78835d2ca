import ArgumentParser
import ChronetixCore
import ChronetixSystem
import Dispatch
import Foundation
import Histogram
import IpcEventBus

/// A bus client of `chronetix bench bus`, started by it as a separate process (hidden from help).
///
/// - `publisher`: publishes messages of `--size` bytes on the row's `data` topic for `--duration` seconds, then
///   the count on its `end` topic. With a window (`--window` > 0) it never runs more than that many messages
///   ahead of the slowest subscriber's acknowledgement.
/// - `subscriber`: checks every message's sequence number until the end message, acknowledging every
///   `--ack-every` messages on the row's `ack` topic; reports the count and its first and last receipt times.
/// - `requester`: sends requests of `--size` bytes one at a time, to the host's echo (`--host`) or to the
///   responder, and reports the round trips' percentiles after a 100 ms warm-up.
/// - `responder`: answers every request with the request itself, until the requester's end request.
///
/// Each prints one `RESULT` line on standard output (the bench's pipe) and its problems on standard error.
/// The bus token comes in the environment (``BenchBusTuning/tokenVariable``).
struct BenchBusPeer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus-peer",
        abstract: "A bus client process of `chronetix bench bus` (started by it; not for direct use).",
        shouldDisplay: false
    )

    @Option(help: "publisher, subscriber, requester or responder.")
    var role: BenchBusRole

    @Option(help: "The bus socket.")
    var socket: String

    @Option(help: "The row's topic prefix.")
    var prefix: String

    @Option(help: "The payload size of every message or request.")
    var size: Int

    @Option(help: "Subscriber: its number, quoted in its acknowledgements.")
    var index = 0

    @Option(help: "Publisher: how many subscribers acknowledge.")
    var subscribers = 1

    @Option(help: "Publisher and requester: seconds of traffic (after the warm-up for the requester).")
    var duration: Double = 1

    @Flag(help: "Publisher: flush every 64 messages instead of every message.")
    var batched = false

    @Flag(help: "Publisher: send on a thread of its own (BusClient.Sending.onThread).")
    var sendingThread = false

    @Option(help: "Publisher: messages it may be ahead of the slowest subscriber; 0 for none.")
    var window = 0

    @Option(help: "Subscriber: acknowledge every N messages; 0 for never.")
    var ackEvery = 0

    @Flag(help: "Requester: ask the host's echo service instead of the responder.")
    var host = false

    @Option(help: "Microseconds a wait polls before it sleeps (BusClient's busyPoll); default: the library's.")
    var busyPoll: Int?

    @Option(help: "Pin this process's thread to this CPU.")
    var cpu: Int?

    @Option(help: "Exit with status 3 after this many seconds, whatever happens.")
    var watchdog: Double = 120

    @Option(help: "The bench's pid: the peer exits at once if its parent is already another process.")
    var parent: Int32?

    private var name: String {
        role == .subscriber ? "chronetix bench bus-peer (subscriber \(index))" : "chronetix bench bus-peer (\(role))"
    }

    func run() throws {
        try BenchPeerSetup.install(name: name, parent: parent, watchdog: watchdog)
        if let cpu {
            do {
                try CPU.pinCurrentThread(to: cpu)
            } catch {
                StandardError.print("\(name): warning: cannot pin to CPU\(cpu): \(error)")
            }
        }
        guard let token = ProcessInfo.processInfo.environment[BenchBusTuning.tokenVariable] else {
            StandardError.print("\(name): no bus token in \(BenchBusTuning.tokenVariable)")
            throw ExitCode(2)
        }
        let client: BusClient
        do {
            var configuration = BusClient.Configuration(socketPath: socket, role: "bench", name: "\(role) \(index)", token: token)
            if let busyPoll { configuration.busyPoll = .microseconds(busyPoll) }
            if sendingThread { configuration.sending = .onThread }
            client = try BusClient(configuration: configuration)
        } catch {
            StandardError.print("\(name): cannot attach to the bus: \(error)")
            throw ExitCode(1)
        }
        defer { client.close() }
        let topics = BenchBusTopics(prefix: prefix)
        let succeeded: Bool
        switch role {
        case .publisher: succeeded = publish(client, topics)
        case .subscriber: succeeded = subscribe(client, topics)
        case .requester: succeeded = request(client, topics)
        case .responder: succeeded = respond(client, topics)
        }
        if !succeeded { throw ExitCode(1) }
    }

    // MARK: - Publisher

    private func publish(_ client: BusClient, _ topics: BenchBusTopics) -> Bool {
        var publisher = BenchBusPublisher(
            size: size,
            subscribers: subscribers,
            window: window,
            batch: batched ? BenchBusTuning.batch : 1,
            limit: UInt64(duration * 1e9)
        )
        do {
            try publisher.run(client, topics)
        } catch {
            print("RESULT sent=\(publisher.sent) waits=\(publisher.waits)")
            StandardError.print("\(name): failed after \(publisher.sent) messages: \(error)")
            return false
        }
        print("RESULT sent=\(publisher.sent) waits=\(publisher.waits)")
        return true
    }

    // MARK: - Subscriber

    private func subscribe(_ client: BusClient, _ topics: BenchBusTopics) -> Bool {
        var checker = BenchSequenceChecker(size: size)
        var first: UInt64 = 0
        var last: UInt64 = 0
        var end: UInt64?
        do {
            let data = try client.subscribe(topics.data)
            _ = try client.subscribe(topics.end)  // the end message is told apart by its subscription's id
            // Subscribed: the host counts this peer as ready (its reply carries nothing).
            _ = try client.request(
                Envelope(id: 0, topic: BenchBusTopics.ready, payload: Array(topics.prefix.utf8)),
                timeout: .seconds(10)
            )
            var acknowledgement = Envelope(id: 0, topic: topics.ack, payload: [UInt8](repeating: 0, count: 16))
            acknowledgement.payload.withUnsafeMutableBytes {
                $0.storeBytes(of: UInt64(index).littleEndian, as: UInt64.self)
            }
            let ackEvery = UInt64(ackEvery)
            receiving: while true {
                // Without a timeout, receive returns an event or throws (heartbeats flow meanwhile).
                guard case .message(let delivery) = try client.receive() else { continue }
                let now = Clock.monotonicNanoseconds()
                let envelope = delivery.envelope
                guard delivery.subscription == data else {
                    end = Self.sequenceNumber(envelope.payload) ?? .max
                    break receiving
                }
                if checker.expected == 0 { first = now }
                last = now
                checker.check(
                    length: envelope.payload.count,
                    value: Self.sequenceNumber(envelope.payload) ?? ~checker.expected,
                    sequenceNumber: envelope.id
                )
                if ackEvery > 0 && checker.expected % ackEvery == 0 {
                    let count = checker.expected
                    acknowledgement.id = count
                    acknowledgement.payload.withUnsafeMutableBytes {
                        $0.storeBytes(of: count.littleEndian, toByteOffset: 8, as: UInt64.self)
                    }
                    try client.publish(acknowledgement)
                }
            }
        } catch {
            print("RESULT messages=\(checker.expected) errors=\(checker.errors) first_ns=\(first) last_ns=\(last)")
            StandardError.print("\(name): failed after \(checker.expected) messages: \(error)")
            for message in checker.messages { StandardError.print("\(name): \(message)") }
            return false
        }
        let endCount = end ?? 0
        print(
            "RESULT messages=\(checker.expected) errors=\(checker.errors) first_ns=\(first) last_ns=\(last) end=\(endCount)"
        )
        for message in checker.messages { StandardError.print("\(name): \(message)") }
        if endCount != checker.expected {
            StandardError.print("\(name): the publisher sent \(endCount) messages; \(checker.expected) arrived")
            return false
        }
        return checker.errors == 0
    }

    // MARK: - Requester and responder

    private func request(_ client: BusClient, _ topics: BenchBusTopics) -> Bool {
        var requester = BenchBusRequester(size: size, limit: UInt64(duration * 1e9))
        var succeeded = true
        do {
            try requester.run(client, topic: host ? topics.host : topics.echo)
        } catch {
            StandardError.print("\(name): failed after \(requester.sequence) requests: \(error)")
            succeeded = false
        }
        if !host {
            // The end request: the responder answers it and exits. Best effort after a failure.
            do {
                _ = try client.request(Envelope(id: .max, topic: topics.echo), timeout: .seconds(5))
            } catch {
                if succeeded { StandardError.print("\(name): the end request failed: \(error)") }
                succeeded = false
            }
        }
        let measured = requester.roundTrips
        let roundTrips = measured.histogram
        print(
            "RESULT sent=\(requester.sequence) measured=\(measured.count) errors=\(requester.checker.errors) "
                + "start_ns=\(measured.start) end_ns=\(measured.end) "
                + "p50_ns=\(roundTrips.valueAtPercentile(50)) p99_ns=\(roundTrips.valueAtPercentile(99)) "
                + "p999_ns=\(roundTrips.valueAtPercentile(99.9))"
        )
        for message in requester.checker.messages { StandardError.print("\(name): \(message)") }
        return succeeded && requester.checker.errors == 0
    }

    private func respond(_ client: BusClient, _ topics: BenchBusTopics) -> Bool {
        var checker = BenchSequenceChecker(size: size)
        do {
            _ = try client.serve(topics.echo)  // requests are told apart by their kind, not their subscription
            // Serving: the host counts this peer as ready (its reply carries nothing).
            _ = try client.request(
                Envelope(id: 0, topic: BenchBusTopics.ready, payload: Array(topics.prefix.utf8)),
                timeout: .seconds(10)
            )
            while true {
                guard case .request(let request) = try client.receive() else { continue }
                let envelope = request.envelope
                if envelope.id == .max {
                    try client.reply(to: request, with: envelope)
                    break
                }
                checker.check(
                    length: envelope.payload.count,
                    value: Self.sequenceNumber(envelope.payload) ?? ~checker.expected,
                    sequenceNumber: envelope.id
                )
                try client.reply(to: request, with: envelope)
            }
        } catch {
            print("RESULT requests=\(checker.expected) errors=\(checker.errors)")
            StandardError.print("\(name): failed after \(checker.expected) requests: \(error)")
            return false
        }
        print("RESULT requests=\(checker.expected) errors=\(checker.errors)")
        for message in checker.messages { StandardError.print("\(name): \(message)") }
        return checker.errors == 0
    }

    /// The little-endian sequence number in a payload's first 8 bytes, or `nil` for a shorter payload.
    static func sequenceNumber(_ payload: [UInt8]) -> UInt64? {
        guard payload.count >= 8 else { return nil }
        return payload.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }
}

/// The publisher's loop: publish, flush every `batch` messages, and keep within the window.
struct BenchBusPublisher {
    let size: Int
    let subscribers: Int
    /// Messages the publisher may be ahead of the slowest subscriber's acknowledgement; 0: no limit.
    let window: Int
    let batch: Int
    let limit: UInt64
    /// Data messages published.
    private(set) var sent: UInt64 = 0
    /// How often the window was full and the publisher waited for an acknowledgement.
    private(set) var waits: UInt64 = 0
    /// The highest count each subscriber acknowledged.
    private var acknowledged: [UInt64]
    private var slowest: UInt64 = 0

    /// How long the publisher waits for the slowest subscriber's acknowledgement before it gives up.
    private static let stallNanoseconds: UInt64 = 10_000_000_000
    /// With a window, the publisher reads its acknowledgements at least this often even when the window has
    /// room, so that the client's silence check always has something recent (see `docs/BENCHMARKS.md`).
    private static let readIntervalNanoseconds: UInt64 = 250_000_000

    init(size: Int, subscribers: Int, window: Int, batch: Int, limit: UInt64) {
        self.size = size
        self.subscribers = subscribers
        self.window = window
        self.batch = batch
        self.limit = limit
        acknowledged = [UInt64](repeating: 0, count: subscribers)
    }

    mutating func run(_ client: BusClient, _ topics: BenchBusTopics) throws(BenchFailure) {
        do {
            try stream(client, topics)
        } catch let error as BenchFailure {
            throw error
        } catch {
            throw BenchFailure("\(error)")
        }
    }

    private mutating func stream(_ client: BusClient, _ topics: BenchBusTopics) throws {
        let acknowledgementSubscription = window > 0 ? try client.subscribe(topics.ack) : nil
        var envelope = Envelope(id: 0, topic: topics.data, payload: [UInt8](repeating: 0xA5, count: size))
        let window = UInt64(window)
        let batch = UInt64(batch)
        let start = Clock.monotonicNanoseconds()
        var lastRead = start
        while true {
            if let acknowledgementSubscription {
                if sent &- slowest >= window {
                    waits &+= 1
                    try awaitRoom(client, subscription: acknowledgementSubscription, window: window)
                    lastRead = Clock.monotonicNanoseconds()
                }
            }
            envelope.id = sent
            let sequence = sent
            envelope.payload.withUnsafeMutableBytes { $0.storeBytes(of: sequence.littleEndian, as: UInt64.self) }
            try client.publish(envelope, flush: batch == 1)
            sent &+= 1
            if batch > 1 && sent % batch == 0 { try client.flush() }
            if sent & 15 == 0 {
                let now = Clock.monotonicNanoseconds()
                if now &- start >= limit { break }
                if let acknowledgementSubscription, now &- lastRead >= Self.readIntervalNanoseconds {
                    try client.flush()
                    try read(client, subscription: acknowledgementSubscription, timeout: .milliseconds(1))
                    lastRead = now
                }
            }
        }
        var end = Envelope(id: sent, topic: topics.end, payload: [UInt8](repeating: 0, count: 8))
        let count = sent
        end.payload.withUnsafeMutableBytes { $0.storeBytes(of: count.littleEndian, as: UInt64.self) }
        try client.publish(end, flush: true)
        // The bus reads a connection's messages in order, so its answer to this request means it has routed every
        // message above. Closing earlier can lose them: when the bus's next write to this client (an
        // acknowledgement, a heartbeat) fails because the client is gone, the bus closes the connection without
        // reading what is still in its socket.
        _ = try client.request(Envelope(id: 0, topic: BenchBusTopics.sync), timeout: .seconds(10))
    }

    /// Waits until the slowest subscriber is less than `window` messages behind.
    private mutating func awaitRoom(_ client: BusClient, subscription: UInt64, window: UInt64) throws {
        try client.flush()
        let deadline = Clock.monotonicNanoseconds() &+ Self.stallNanoseconds
        while sent &- slowest >= window {
            try read(client, subscription: subscription, timeout: .seconds(1))
            if sent &- slowest >= window && Clock.monotonicNanoseconds() >= deadline {
                throw BenchFailure(
                    "the slowest subscriber acknowledged \(slowest) of \(sent) messages and nothing more for "
                        + "\(Self.stallNanoseconds / 1_000_000_000) s"
                )
            }
        }
    }

    /// Receives what the bus has (waiting up to `timeout` for the first event), then every event already read.
    private mutating func read(_ client: BusClient, subscription: UInt64, timeout: Duration) throws {
        var event = try client.receive(timeout: timeout)
        while let current = event {
            if case .message(let delivery) = current, delivery.subscription == subscription {
                take(delivery.envelope.payload)
            }
            // A zero timeout returns only what the client has read already: it never waits.
            event = try client.receive(timeout: .zero)
        }
    }

    /// Records one acknowledgement: the subscriber's number and the count it received.
    private mutating func take(_ payload: [UInt8]) {
        guard payload.count >= 16 else { return }
        let (index, count) = payload.withUnsafeBytes {
            (
                UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)),
                UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            )
        }
        guard index < UInt64(acknowledged.count), count > acknowledged[Int(index)] else { return }
        acknowledged[Int(index)] = count
        slowest = acknowledged.min() ?? 0
    }
}

/// The requester's loop: one request at a time, each reply checked, round trips recorded after the warm-up.
struct BenchBusRequester {
    let size: Int
    let limit: UInt64
    /// Requests sent (warm-up included): the next sequence number.
    private(set) var sequence: UInt64 = 0
    /// The round trips measured after the warm-up.
    private(set) var roundTrips: BenchRoundTrips
    /// Checks every reply as the responder checks every request.
    private(set) var checker: BenchSequenceChecker

    init(size: Int, limit: UInt64) {
        self.size = size
        self.limit = limit
        checker = BenchSequenceChecker(size: size)
        roundTrips = BenchRoundTrips(limit: limit)
    }

    mutating func run(_ client: BusClient, topic: String) throws(BusError) {
        var envelope = Envelope(id: 0, topic: topic, payload: [UInt8](repeating: 0xA5, count: size))
        roundTrips = BenchRoundTrips(limit: limit)
        while true {
            envelope.id = sequence
            let current = sequence
            envelope.payload.withUnsafeMutableBytes { $0.storeBytes(of: current.littleEndian, as: UInt64.self) }
            let sent = Clock.monotonicNanoseconds()
            let reply = try client.request(envelope, timeout: .seconds(5))
            let received = Clock.monotonicNanoseconds()
            checker.check(
                length: reply.payload.count,
                value: BenchBusPeer.sequenceNumber(reply.payload) ?? ~current,
                sequenceNumber: reply.id
            )
            sequence &+= 1
            if roundTrips.record(sent: sent, received: received) { return }
        }
    }
}
