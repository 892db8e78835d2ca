import ChronetixCore
import IpcEventBus
import Synchronization
import Testing

@Suite(.serialized, .timeLimit(.minutes(1)))
struct BusTapTests {
    /// What a tap saw: the publications and their publishers' names, in order.
    final class Seen: Sendable {
        let entries = Mutex<[(String, String)]>([])
        var texts: [String] { entries.withLock { $0.map(\.0) } }
        var names: [String] { entries.withLock { $0.map(\.1) } }
    }

    @Test func tapSeesClientPublicationsOnItsTopicsInOrder() throws {
        let seen = Seen()
        var hooks = BusServer.Hooks()
        hooks.taps = [BusServer.Tap(pattern: try TopicPattern("flow.demo.*.metrics")) { envelope, peer in
            seen.entries.withLock { $0.append((envelope.text, peer.name ?? "")) }
        }]
        let bus = try TestBus(hooks: hooks)
        defer { bus.stop() }
        let subscriber = try bus.client(name: "sub")
        _ = try subscriber.subscribe("flow.demo.>")
        let publisher = try bus.client(name: "gain", sending: .onThread)
        for index in 0..<50 { try publisher.publish(.text("flow.demo.gain.metrics", "m\(index)"), flush: false) }
        try publisher.publish(.text("flow.demo.gain.events", "not tapped"))
        // The host's own publications are not a client's: the tap does not see them.
        bus.server.publish(.text("flow.demo.host.metrics", "from the host"))
        // The subscriber still gets every publication, tapped or not (routing comes first).
        var delivered: [String] = []
        while delivered.count < 52, let event = try subscriber.receive(timeout: .seconds(5)) {
            if let delivery = event.delivery { delivered.append(delivery.envelope.text) }
        }
        #expect(delivered.count == 52)
        #expect(delivered.contains("not tapped"))
        #expect(seen.texts == (0..<50).map { "m\($0)" })
        #expect(Set(seen.names) == ["gain"])
    }

    @Test func tapSeesNothingWithoutMatchingPublications() throws {
        let seen = Seen()
        var hooks = BusServer.Hooks()
        hooks.taps = [BusServer.Tap(pattern: try TopicPattern("flow.demo.*.metrics")) { envelope, peer in
            seen.entries.withLock { $0.append((envelope.text, peer.name ?? "")) }
        }]
        let bus = try TestBus(hooks: hooks)
        defer { bus.stop() }
        let publisher = try bus.client(name: "gain")
        try publisher.publish(.text("flow.other.gain.metrics", "other flow"))
        try publisher.publish(.text("flow.demo.gain.events", "other kind"))
        // A request after the publications: its reply means the bus has handled them (one connection, in order).
        #expect(throws: BusError.self) { try publisher.request(.text("svc.none", "?"), timeout: .seconds(5)) }
        #expect(seen.texts.isEmpty)
    }
}
