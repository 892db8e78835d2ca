import ChronetixCBOR
import ChronetixCore
import ChronetixSystem
import ChronetixTestSupport
import Foundation
@testable import IpcEventBus
import Testing

/// Clients that break the protocol, against a bus that is busy with real traffic between two processes.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct HostileClientTests {
    /// A raw connection to the bus, speaking bytes rather than the protocol.
    struct RawClient: ~Copyable {
        let socket: FileDescriptor

        init(_ bus: TestBus) throws {
            socket = try FileDescriptor.connectUnixStream(path: bus.socketPath)
        }

        func send(_ bytes: [UInt8]) {
            // EPIPE is fine: the bus may already have closed this hostile connection.
            _ = try? bytes.withUnsafeBytes { try socket.write(from: $0) }
        }

        /// Reads until the bus closes the connection; whether it did within `timeout`.
        func isClosedByBus(within timeout: Duration = .seconds(10)) throws -> Bool {
            try socket.setNonBlocking(true)
            var epoll = try Epoll(capacity: 1)
            try epoll.add(socket.rawValue, events: [.readable], data: 0)
            let deadline = ContinuousClock.now + timeout
            var buffer = [UInt8](repeating: 0, count: 65536)
            while ContinuousClock.now < deadline {
                _ = try epoll.wait(timeoutMilliseconds: 100)
                let result: IOResult
                do {
                    result = try buffer.withUnsafeMutableBytes { try socket.read(into: $0) }
                } catch {
                    return true  // ECONNRESET: closed
                }
                if case .endOfFile = result { return true }
            }
            return false
        }
    }

    /// Reads from a raw client until a whole message arrives; `nil` when none does within `timeout`.
    static func nextMessage(_ client: borrowing RawClient, within timeout: Duration = .seconds(10)) throws -> BusWire.Message? {
        try client.socket.setNonBlocking(true)
        var epoll = try Epoll(capacity: 1)
        try epoll.add(client.socket.rawValue, events: [.readable], data: 0)
        var reader = FrameReader(maxFrameBytes: 1 << 20)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let range = try reader.nextFrame() {
                return try reader.withFrame(range) { try BusWire.decode($0, limits: .default) }
            }
            _ = try epoll.wait(timeoutMilliseconds: 100)
            if case .endOfFile = try reader.fill(from: client.socket) { return nil }
        }
        return nil
    }

    static func frame(_ body: [UInt8]) -> [UInt8] {
        let length = UInt32(body.count)
        return [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24)] + body
    }

    static func message(_ body: (inout CBORWriter) -> Void) -> [UInt8] {
        var writer = CBORWriter()
        body(&writer)
        return frame(writer.bytes)
    }

    static func hello(_ bus: TestBus) -> [UInt8] {
        message { BusWire.writeHello(BusHello(role: "tool", name: "hostile", processID: getpid(), token: bus.token), into: &$0) }
    }

    /// Each case: the bytes a hostile client sends (after a valid hello when `attaches`).
    static let cases: [(name: String, attaches: Bool, bytes: @Sendable (TestBus) -> [UInt8])] = [
        ("text instead of frames", false, { _ in Array("GET / HTTP/1.1\r\nHost: bus\r\n\r\n".utf8) }),
        ("length of 4 GiB", false, { _ in [0xFF, 0xFF, 0xFF, 0xFF, 0x00] }),
        ("length just over the limit", false, { _ in [0x01, 0x00, 0x10, 0x00] }),
        ("zero length", false, { _ in [0, 0, 0, 0] }),
        ("bytes that are not CBOR", false, { _ in frame([0xFF, 0xFE, 0xFD, 0x1C]) }),
        ("a map instead of an array", false, { _ in frame([0xA1, 0x00, 0x00]) }),
        ("an unknown kind", true, { _ in frame([0x81, 0x18, 0x63]) }),
        ("a publish before the hello", false, { _ in
            message { BusWire.writeEnvelopeMessage(.publish, envelope: .text("a.b", "x"), into: &$0) }
        }),
        ("a hello with the wrong field types", false, { _ in frame([0x86, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05]) }),
        ("a second hello", true, { bus in hello(bus) }),
        ("a welcome from a client", true, { _ in
            message {
                BusWire.writeWelcome(
                    BusWelcome(protocolVersion: 1, connectionID: 1, heartbeatIntervalNanoseconds: 1, heartbeatMisses: 1, maxMessageBytes: 1, document: nil),
                    into: &$0
                )
            }
        }),
        ("a publish with a wildcard topic", true, { _ in
            message { BusWire.writeEnvelopeMessage(.publish, envelope: .text("a.*", "x"), into: &$0) }
        }),
        ("a publish whose envelope lacks its payload", true, { _ in
            frame([0x82, 0x03, 0xA2, 0x00, 0x00, 0x01, 0x63, 0x61, 0x2E, 0x62])
        }),
        ("a frame cut short, then the close", true, { _ in Array(frame([0x82, 0x0A, 0x00, 0x00]).prefix(5)) }),
    ]

    @Test func hostileClientsAreDisconnectedWhileTheBusServesOthers() throws {
        // Default timeouts here: a busy peer slowed by a loaded machine must not be taken for a staller.
        let bus = try TestBus()
        defer { bus.stop() }
        let subscriber = try BusPeer(bus, name: "subscriber", "subscribe", "busy.>", "5000")
        defer { subscriber.stop() }
        try #require(subscriber.next(["READY"])?.kind == "READY")
        let publisher = try BusPeer(bus, name: "publisher", "publish", "busy.traffic", "5000")
        defer { publisher.stop() }

        var violations = 0
        for hostile in Self.cases {
            let client = try RawClient(bus)
            if hostile.attaches { client.send(Self.hello(bus)) }
            let bytes = hostile.bytes(bus)
            client.send(bytes)
            if hostile.name.hasSuffix("then the close") {
                _ = try? client.socket.shutdown(reading: false, writing: true)  // the close, mid-frame
            }
            #expect(try client.isClosedByBus(), "not disconnected: \(hostile.name)")
            violations += 1
        }
        // The busy pair went on undisturbed.
        let (published, publisherStatus) = publisher.finish(["DONE"])
        #expect(publisherStatus == 0, "\(String(describing: published))")
        for index in 0..<5000 {
            let line = try #require(subscriber.next(["MSG"]))
            try #require(line.words[2] == "\(index)", "\(line)")
        }
        #expect(subscriber.finish(["DONE"]).line?.text == "DONE received=5000 dropped=0")
        #expect(bus.statistics { $0.protocolViolations >= violations }.protocolViolations == UInt64(violations))
        // Each disconnection was logged with its reason.
        #expect(bus.logs.contains("bus client detached", "reason=protocol violation", "frame declares 4294967295 bytes"))
        #expect(bus.logs.contains("bus client detached", "reason=protocol violation", "unknown message kind 99"))

        // A well-behaved client is still welcome.
        let client = try bus.client()
        client.close()
    }

    @Test func silentConnectionsNeverKeepAClientFromAttaching() throws {
        // Room for 4 attached clients; at most 8 connections waiting for their hello.
        let bus = try TestBus {
            $0.maxConnections = 4
            $0.maxConnectionsAwaitingHello = 8
        }
        defer { bus.stop() }
        final class Silent {
            let client: RawClient
            init(_ bus: TestBus) throws { client = try RawClient(bus) }
        }
        var silent: [Silent] = []
        for _ in 0..<20 { silent.append(try Silent(bus)) }
        // Every client that says hello gets in, up to the limit of attached ones, past 20 silent connections.
        var clients: [BusClient] = []
        for index in 0..<4 { clients.append(try bus.client(name: "client-\(index)")) }
        defer { for client in clients { client.close() } }
        // The oldest silent ones were closed to make room: at most 8 are still open.
        var closed = 0
        for connection in silent where try connection.client.isClosedByBus(within: .milliseconds(200)) { closed += 1 }
        #expect(closed >= 12, "only \(closed) of 20 silent connections were closed")
        #expect(bus.logs.contains("bus client refused", "closed without a hello to make room"))
        // A fifth attached client is past the limit: refused, with the reason.
        #expect(throws: BusError.self) { _ = try bus.client(name: "client-4") }
        #expect(bus.logs.contains("bus client refused", "attached connections, its limit"))
    }

    @Test func stallersAndSilentClientsAreDisconnected() throws {
        let bus = try TestBus(configure: { $0.stallTimeout = .milliseconds(300); $0.helloTimeout = .milliseconds(300) })
        defer { bus.stop() }
        // A client that stops in the middle of a frame, and one that never says hello.
        let staller = try RawClient(bus)
        staller.send(Self.hello(bus) + [0x10, 0x00])
        #expect(try staller.isClosedByBus(), "a client stalled mid-frame stays connected")
        let silent = try RawClient(bus)
        #expect(try silent.isClosedByBus(), "a client without hello stays connected")
        #expect(bus.statistics { $0.protocolViolations >= 2 }.protocolViolations == 2)
        #expect(bus.logs.contains("bus client detached", "reason=stalled frame"))
        #expect(bus.logs.contains("bus client detached", "reason=hello timeout"))
    }

    @Test func hostAnswersTimedOutWhenTheResponderIsSilent() throws {
        let bus = try TestBus()
        defer { bus.stop() }
        let responder = try bus.client(name: "silent-responder")
        _ = try responder.serve("svc.silent")
        // A raw requester has no deadline of its own: the `timed out` it gets can only be the host's.
        let requester = try RawClient(bus)
        requester.send(Self.hello(bus))
        guard case .welcome? = try Self.nextMessage(requester) else {
            Issue.record("no welcome")
            return
        }
        requester.send(Self.message {
            BusWire.writeEnvelopeMessage(.request, 5, 100_000_000, envelope: .text("svc.silent", "?"), into: &$0)
        })
        let request = try #require(try responder.receive(timeout: .seconds(5))?.incomingRequest)
        var answer = try Self.nextMessage(requester)
        while case .heartbeat? = answer { answer = try Self.nextMessage(requester) }
        guard case .error(let correlation, let code, _)? = answer else {
            Issue.record("expected an error, got \(String(describing: answer))")
            return
        }
        #expect(correlation == 5)
        #expect(code == .timedOut)
        #expect(bus.statistics { $0.timedOut >= 1 }.timedOut == 1)
        try responder.reply(to: request, with: .text("svc.silent", "too late"))
        #expect(bus.statistics { $0.lateReplies >= 1 }.lateReplies == 1)
        responder.close()
    }

    @Test func clientMayNotPassDescriptors() throws {
        let bus = try TestBus()
        defer { bus.stop() }
        let client = try RawClient(bus)
        client.send(Self.hello(bus))
        let pair = try FileDescriptor.unixStreamPair()
        let ping = Self.message { BusWire.writeIntegers(.heartbeat, 1, into: &$0) }
        _ = try ping.withUnsafeBytes { try client.socket.send($0, descriptors: [pair.first.rawValue]) }
        #expect(try client.isClosedByBus())
        _ = pair
    }

    @Test func randomMutationsNeverUpsetTheBus() throws {
        let bus = try TestBus(configure: { $0.stallTimeout = .milliseconds(200) })
        defer { bus.stop() }
        var generator = SplitMix64(seed: 0xC0FFEE)
        let samples = BusWireFuzzTests.validMessages()
        for _ in 0..<150 {
            let client = try RawClient(bus)
            client.send(Self.hello(bus))
            var body = samples[Int(generator.next() % UInt64(samples.count))]
            BusWireFuzzTests.mutate(&body, with: &generator)
            client.send(Self.frame(body))
            client.send(Self.message { BusWire.writeGoodbye(.normal, "bye", into: &$0) })
            #expect(try client.isClosedByBus())
        }
        let survivor = try bus.client()
        _ = try survivor.subscribe("still.>")
        survivor.close()
    }
}

/// The decoder against random mutations of every kind of valid message.
@Suite struct BusWireFuzzTests {
    static func validMessages() -> [[UInt8]] {
        func encode(_ body: (inout CBORWriter) -> Void) -> [UInt8] {
            var writer = CBORWriter()
            body(&writer)
            return writer.bytes
        }
        let envelope = Envelope(
            id: 7,
            topic: "flow.demo.gain.events",
            deadlineNanoseconds: 99,
            traceParent: TraceParent(traceIDHigh: 1, traceIDLow: 2, parentID: 3, flags: 1),
            traceState: "k=v",
            headers: [.init("a", "b")],
            payload: Array(repeating: 0x5A, count: 40)
        )
        return [
            encode { BusWire.writeHello(BusHello(role: "worker", name: "gain", processID: 42, token: "t"), into: &$0) },
            encode {
                BusWire.writeWelcome(
                    BusWelcome(protocolVersion: 1, connectionID: 3, heartbeatIntervalNanoseconds: 5, heartbeatMisses: 3, maxMessageBytes: 1024, document: .map([.init("k", [1, 2.5, "x"])])),
                    into: &$0
                )
            },
            encode { BusWire.writeRefused(BusRefusal(.badToken, "no"), into: &$0) },
            encode { BusWire.writeEnvelopeMessage(.publish, envelope: envelope, into: &$0) },
            encode { BusWire.writeEnvelopeMessage(.deliver, 4, envelope: envelope, into: &$0) },
            encode { BusWire.writeEnvelopeMessage(.request, 5, 1_000_000, envelope: envelope, into: &$0) },
            encode { BusWire.writeEnvelopeMessage(.reply, 5, envelope: envelope, into: &$0) },
            encode { BusWire.writeSubscribe(correlation: 1, subscription: 2, pattern: "metrics.>", flags: 2, into: &$0) },
            encode { BusWire.writeIntegers(.unsubscribe, 1, 2, into: &$0) },
            encode { BusWire.writeError(correlation: 9, code: .timedOut, text: "late", into: &$0) },
            encode { BusWire.writeIntegers(.heartbeat, 123_456, into: &$0) },
            encode { BusWire.writeIntegers(.dropped, 2, 17, into: &$0) },
            encode { BusWire.writeDescriptors(count: 2, label: "rings", into: &$0) },
            encode { BusWire.writeGoodbye(.slowConsumer, "bye", into: &$0) },
            encode { BusWire.writeIntegers(.ack, 3, into: &$0) },
        ]
    }

    /// Flips bits, overwrites, truncates, duplicates or inserts bytes.
    static func mutate(_ bytes: inout [UInt8], with generator: inout SplitMix64) {
        let rounds = 1 + Int(generator.next() % 4)
        for _ in 0..<rounds where !bytes.isEmpty {
            let position = Int(generator.next() % UInt64(bytes.count))
            switch generator.next() % 6 {
            case 0: bytes[position] ^= UInt8(1 << (generator.next() % 8))
            case 1: bytes[position] = UInt8(truncatingIfNeeded: generator.next())
            case 2: bytes.removeLast(Int(generator.next() % UInt64(bytes.count)))
            case 3: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: position)
            case 4: bytes.append(contentsOf: bytes[position...].prefix(8))
            default: bytes[position] = [0x1B, 0x5B, 0x7B, 0x9B, 0xBB, 0xFF][Int(generator.next() % 6)]
            }
        }
    }

    @Test func everyValidMessageDecodes() throws {
        let kinds = try Self.validMessages().map { bytes in
            try bytes.withUnsafeBytes { try BusWire.decode($0, limits: .default).kind }
        }
        #expect(Set(kinds) == Set(BusWire.Kind.allCases))
    }

    @Test func mutatedMessagesDecodeOrFailCleanly() {
        var generator = SplitMix64(seed: 2026_11_21)
        let samples = Self.validMessages()
        var failures = 0
        for _ in 0..<20_000 {
            var bytes = samples[Int(generator.next() % UInt64(samples.count))]
            Self.mutate(&bytes, with: &generator)
            do {
                _ = try bytes.withUnsafeBytes { try BusWire.decode($0, limits: .default) }
            } catch {
                failures += 1
            }
        }
        // Most mutations break something, and each was reported as a BusError (the typed throw).
        #expect(failures > 10_000)
    }

    @Test func everyTruncationFailsCleanly() {
        for sample in Self.validMessages() {
            for length in 0..<sample.count {
                let cut = Array(sample.prefix(length))
                #expect(throws: BusError.self) {
                    _ = try cut.withUnsafeBytes { try BusWire.decode($0, limits: .default) }
                }
            }
        }
    }
}
