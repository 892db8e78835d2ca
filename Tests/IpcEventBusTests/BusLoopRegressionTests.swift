import ChronetixCBOR
import ChronetixCore
import ChronetixSystem
import Dispatch
import Foundation
import IpcEventBus
import Synchronization
import Testing

/// Interleavings inside one turn of the bus's loop that timing alone almost never produces.
///
/// Each test holds the loop inside a hosted service (``LoopGate``) while it arranges the sockets, so that
/// the next turn finds exactly the state under test, on any machine, however loaded.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct BusLoopRegressionTests {
    /// What the dying client publishes right before it closes.
    static let lastWords = 50

    /// A client publishes and closes while the bus waits to write to it (its queue is full): the bus's
    /// next turn sees the connection writable with an error and readable at once. The write fails first;
    /// what the client published must still be read and routed, not dropped with the connection.
    @Test func publishesOfAClientThatClosesWhileTheBusWaitsToWriteToItAreRouted() throws {
        let gate = LoopGate()
        let bus = try TestBus(configure: Self.configure, hooks: gate.hooks)
        defer { bus.stop() }
        defer { gate.open() }  // runs first: a failed expectation must not leave the loop held
        let survivor = try bus.client(name: "survivor")
        defer { survivor.close() }
        let lastWordsSubscription = try survivor.subscribe("last.words")

        var dying = try HandClient.attach(bus, name: "dying")
        _ = try dying.subscribe("flood.>", overflow: .drop)  // its deliveries are never read
        // The dying client never reads: the bus's queue for it stays non-empty, so the loop watches it
        // for writability.
        let flood = try Self.floodUntilFirstDrop(bus)

        let holder = try HandClient.attach(bus, name: "holder")
        try holder.request(LoopGate.topic, correlation: 1)
        try #require(gate.waitUntilHeld(), "the loop never entered the holding service")
        // While the loop is held: publish, then close without a goodbye, as a process that exits does.
        var frames: [UInt8] = []
        for index in 0..<Self.lastWords {
            frames += HandClient.message { BusWire.writeEnvelopeMessage(.publish, envelope: .text("last.words", "\(index)"), into: &$0) }
        }
        try dying.send(frames)
        dying.close()
        gate.open()

        // The bus closed the connection and, before that, routed all of it.
        let detached = bus.waitForEvent { event in
            if case .detached(let peer, _, _) = event { return peer.name == "dying" }
            return false
        }
        try #require(detached != nil, "the bus never closed the dying client's connection")
        let statistics = bus.statistics { $0.connections == 2 }
        try #require(statistics.connections == 2)
        try #require(
            statistics.published == UInt64(flood.published + Self.lastWords),
            "the bus routed \(statistics.published - UInt64(flood.published)) of the \(Self.lastWords) last publishes"
        )
        for index in 0..<Self.lastWords {
            let delivery = try #require(try survivor.receive(timeout: .seconds(10))?.delivery, "message \(index) lost")
            #expect(delivery.subscription == lastWordsSubscription)
            #expect(delivery.envelope.text == "\(index)")
        }
        #expect(try survivor.receive(timeout: .zero) == nil)
        holder.close()
    }

    /// A lossy subscriber whose queue drains inside the end-of-turn flush of dirty connections: the drop
    /// report queued there must not cost the connection its place in the flush, or every later message
    /// waits in its queue for good.
    @Test func lossySubscriberWhoseQueueDrainsInTheEndOfTurnFlushKeepsReceiving() throws {
        let gate = LoopGate()
        let bus = try TestBus(configure: Self.configure, hooks: gate.hooks)
        defer { bus.stop() }
        defer { gate.open() }  // runs first: a failed expectation must not leave the loop held

        var lossy = try HandClient.attach(bus, name: "lossy")
        let subscription = try lossy.subscribe("flood.>", overflow: .drop)
        let flood = try Self.floodUntilFirstDrop(bus)

        // The loop handles lossy's request in a turn in which lossy's socket is full (no writable event).
        try lossy.request(LoopGate.topic, correlation: 7)
        try #require(gate.waitUntilHeld(), "the loop never entered the holding service")
        // While the loop is held, lossy empties its socket: when the loop resumes, the reply it queues marks
        // lossy dirty and the end-of-turn flush drains the whole queue, which queues the drop report.
        var inbound = try lossy.readAvailable()
        try #require(
            !inbound.contains { if case .dropped = $0.message { true } else { false } },
            "a drop was reported before the loop was held: the flood did not fill the socket first"
        )
        gate.open()
        while !inbound.contains(where: { if case .dropped = $0.message { true } else { false } }) {
            inbound.append(try #require(try lossy.next(), "no drop report"))
        }
        try #require(inbound.contains { if case .reply(7, _) = $0.message { true } else { false } }, "no reply")

        // Every flooded message was delivered, in order, or counted as dropped.
        var delivered = 0
        var previous = -1
        var droppedTotal: UInt64 = 0
        for message in inbound {
            switch message.message {
            case .deliver(let id, _):
                #expect(id == subscription)
                let index = try #require(message.envelope.flatMap { Int($0.text.prefix { $0 != " " }) })
                #expect(index > previous, "out of order: \(index) after \(previous)")
                previous = index
                delivered += 1
            case .dropped(let id, let total):
                #expect(id == subscription)
                droppedTotal = total
            case .reply, .heartbeat:
                break
            default:
                Issue.record("unexpected \(message.message.kind)")
            }
        }
        #expect(droppedTotal > 0)
        #expect(UInt64(delivered) + droppedTotal == UInt64(flood.published))
        #expect(droppedTotal == flood.dropped)

        // After the report, the subscription goes on: the next messages arrive.
        for index in 0..<10 { bus.server.publish(.text("flood.data", "after-\(index)")) }
        var after: [String] = []
        while after.count < 10 {
            let next = try #require(try lossy.next(), "\(after.count) of 10 messages arrived after the drop report")
            guard case .deliver = next.message else { continue }  // a heartbeat, say
            after.append(next.envelope?.text ?? "")
        }
        #expect(after == (0..<10).map { "after-\($0)" })
    }

    // MARK: - Fixtures

    static func configure(_ configuration: inout BusServer.Configuration) {
        // A small queue fills fast.
        configuration.outboundQueueLimit = 16 * 1024
        // No heartbeat and no silence verdict within a test: the hand-made clients send none, and every
        // write the loop makes is one the test caused.
        configuration.heartbeatInterval = .seconds(60)
    }

    /// Publishes from the host, one message per turn of the loop, until the first message is dropped.
    ///
    /// One per turn: the queue then passes its bound only when the socket refused part of the previous
    /// turn's flush, so a drop proves that the subscriber's socket is full and its queue waits. (A batch
    /// could pass the bound within one turn while the socket is still empty.)
    static func floodUntilFirstDrop(_ bus: TestBus) throws -> (published: Int, dropped: UInt64) {
        let padding = String(repeating: ".", count: 4000)
        var published = 0
        while true {
            bus.server.publish(.text("flood.data", "\(published) \(padding)"))
            published += 1
            let statistics = bus.statistics { $0.published == UInt64(published) }
            try #require(statistics.published == UInt64(published), "the bus never routed publish \(published)")
            if statistics.dropped > 0 { return (published, statistics.dropped) }
            try #require(published < 10_000, "10000 messages and no drop: the subscriber's socket never filled")
        }
    }
}

/// Holds the bus's loop inside a hosted service until the test opens the gate; the test arranges sockets
/// meanwhile, knowing that the loop cannot see any of it before its next turn.
// @unchecked Sendable: the semaphores are thread-safe; `isOpen` is atomic.
final class LoopGate: @unchecked Sendable {
    static let topic = "test.hold"

    private let held = DispatchSemaphore(value: 0)
    private let opened = DispatchSemaphore(value: 0)
    private let isOpen = Atomic<Bool>(false)

    /// Hooks with the holding service on ``topic``.
    var hooks: BusServer.Hooks {
        var hooks = BusServer.Hooks()
        // Safe: a constant, valid pattern.
        hooks.services = [BusServer.Service(pattern: try! TopicPattern(Self.topic)) { [self] envelope, _ in
            held.signal()
            // The timeout is a hang guard only: the test opens the gate, in a `defer` when it fails.
            _ = opened.wait(timeout: .now() + 60)
            return .success(.text(envelope.topic, "released"))
        }]
        return hooks
    }

    /// Whether the loop entered the service (within a generous hang guard).
    func waitUntilHeld() -> Bool {
        held.wait(timeout: .now() + 30) == .success
    }

    /// Lets the loop go on; later calls do nothing.
    func open() {
        if !isOpen.exchange(true, ordering: .relaxed) { opened.signal() }
    }
}

/// A client that speaks the bus protocol by hand, so that the test alone decides when it writes, reads
/// and closes (a `BusClient` reads and answers heartbeats on its own).
struct HandClient: ~Copyable {
    struct Inbound {
        var message: BusWire.Message
        /// The envelope of a delivery, request or reply.
        var envelope: Envelope?
    }

    private let socket: FileDescriptor
    private var reader = FrameReader(maxFrameBytes: (1 << 20) + 64)
    private var nextCorrelation: UInt64 = 1_000

    /// Connects, says hello and waits for the welcome.
    static func attach(_ bus: TestBus, name: String) throws -> HandClient {
        var client = HandClient(socket: try FileDescriptor.connectUnixStream(path: bus.socketPath))
        try client.socket.setNonBlocking(true)
        try client.send(message { BusWire.writeHello(BusHello(role: "tool", name: name, processID: getpid(), token: bus.token), into: &$0) })
        let welcome = try #require(try client.next(), "no welcome")
        guard case .welcome = welcome.message else { throw HandClientError("expected a welcome, got \(welcome.message.kind)") }
        return client
    }

    private init(socket: consuming FileDescriptor) {
        self.socket = socket
    }

    /// Subscribes and waits for the ack; the subscription's id.
    mutating func subscribe(_ pattern: String, overflow: BusOverflowPolicy) throws -> UInt64 {
        nextCorrelation += 1
        let correlation = nextCorrelation
        try send(Self.message {
            BusWire.writeSubscribe(
                correlation: correlation,
                subscription: correlation,
                pattern: pattern,
                flags: overflow == .drop ? BusWire.SubscribeFlag.dropOnOverflow : 0,
                into: &$0
            )
        })
        while true {
            let answer = try #require(try next(), "no answer to the subscribe")
            switch answer.message {
            case .ack(correlation): return correlation
            case .heartbeat: continue
            default: throw HandClientError("expected an ack, got \(answer.message.kind)")
            }
        }
    }

    /// Sends a request (without waiting for the reply).
    func request(_ topic: String, correlation: UInt64) throws {
        try send(Self.message { BusWire.writeEnvelopeMessage(.request, correlation, 60_000_000_000, envelope: .text(topic, "?"), into: &$0) })
    }

    /// Writes every byte.
    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let result = try bytes.withUnsafeBytes { try socket.write(from: UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            switch result {
            case .done(let count): offset += count
            case .wouldBlock: try wait(for: .writable)
            case .endOfFile: throw HandClientError("the bus closed the connection")
            }
        }
    }

    /// The next message; `nil` when the bus closes the connection or nothing arrives within `timeout`
    /// (a hang guard).
    mutating func next(within timeout: Duration = .seconds(10)) throws -> Inbound? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let inbound = try frame() { return inbound }
            switch try reader.fill(from: socket) {
            case .done: continue
            case .endOfFile: return nil
            case .wouldBlock:
                guard ContinuousClock.now < deadline else { return nil }
                try wait(for: .readable)
            }
        }
    }

    /// Every message the socket holds now, without waiting.
    mutating func readAvailable() throws -> [Inbound] {
        var messages: [Inbound] = []
        while true {
            while let inbound = try frame() { messages.append(inbound) }
            guard case .done = try reader.fill(from: socket) else { return messages }
        }
    }

    /// Closes the socket at once, without a goodbye, as the exit of a process does.
    consuming func close() {
        socket.close()
    }

    private mutating func frame() throws -> Inbound? {
        guard let range = try reader.nextFrame() else { return nil }
        return try reader.withFrame(range) { frame throws -> Inbound in
            let message = try BusWire.decode(frame, limits: .default)
            switch message {
            case .deliver(_, let span), .request(_, _, let span), .reply(_, let span):
                let bytes = UnsafeRawBufferPointer(rebasing: frame[span.range])
                return Inbound(message: message, envelope: try Envelope(unsafeCBOR: bytes, limits: .default))
            default:
                return Inbound(message: message, envelope: nil)
            }
        }
    }

    private func wait(for events: Epoll.Events) throws {
        var epoll = try Epoll(capacity: 1)
        try epoll.add(socket.rawValue, events: events, data: 0)
        _ = try epoll.wait(timeoutMilliseconds: 100)  // ready or not, the caller tries again and keeps its deadline
    }

    static func message(_ body: (inout CBORWriter) -> Void) -> [UInt8] {
        var writer = CBORWriter()
        body(&writer)
        let length = UInt32(writer.bytes.count)
        return [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24)] + writer.bytes
    }
}

struct HandClientError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
