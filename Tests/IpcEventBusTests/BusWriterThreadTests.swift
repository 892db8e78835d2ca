import ChronetixCBOR
import ChronetixCore
import ChronetixSystem
import Foundation
import Synchronization
@testable import IpcEventBus
import Testing

/// A client that sends on a thread of its own (`BusClient.Sending.onThread`): nothing queued is lost at
/// close, the thread keeps the bus hearing from an idle caller, a full bus makes publishers wait and then
/// fail, and a broken connection reaches the caller as an error.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct BusWriterThreadTests {
    @Test func closeWritesEverythingQueuedFirst() throws {
        let bus = try TestBus()
        defer { bus.stop() }
        let subscriber = try bus.client(name: "sub")
        defer { subscriber.close() }
        _ = try subscriber.subscribe("burst")
        let publisher = try bus.client(name: "pub", sending: .onThread)
        let count = 3_000
        for index in 0..<count {
            try publisher.publish(.text("burst", "\(index)"))
        }
        // `publish` returned for every message before the thread wrote them all; `close` writes the rest.
        publisher.close()
        for index in 0..<count {
            let delivery = try #require(try subscriber.receive(timeout: .seconds(10))?.delivery, "message \(index) lost")
            #expect(delivery.envelope.text == "\(index)")
        }
        #expect(try subscriber.receive(timeout: .milliseconds(20)) == nil)
        let detached = bus.waitForEvent { event in
            if case .detached(let peer, let reason, _) = event { return peer.name == "pub" && reason == .normal }
            return false
        }
        #expect(detached != nil, "the publisher's goodbye did not arrive")
    }

    @Test func flushReturnsOnceTheThreadWroteEverything() throws {
        let bus = try TestBus()
        defer { bus.stop() }
        let publisher = try bus.client(name: "pub", sending: .onThread)
        defer { publisher.close() }
        for index in 0..<500 {
            try publisher.publish(.text("counted", "\(index)"), flush: false)
        }
        try publisher.flush()
        // Everything left the client, so the bus routes all of it (to nobody) without another call.
        let statistics = bus.statistics { $0.published >= 500 }
        #expect(statistics.published == 500)
    }

    /// The bus declares silent clients gone after `heartbeatMisses` intervals. A caller that does not call
    /// into the bus for longer than that stays attached when a thread sends for it, and is declared gone
    /// when it sends inside its calls (the contrast shows that the silence was long enough).
    @Test func theThreadKeepsAnIdleCallerAttached() throws {
        let bus = try TestBus { configuration in
            configuration.heartbeatInterval = .milliseconds(20)
            configuration.heartbeatMisses = 3
        }
        defer { bus.stop() }
        let threaded = try bus.client(name: "threaded", sending: .onThread)
        defer { threaded.close() }
        let inCall = try bus.client(name: "in-call", sending: .inCall)
        defer { inCall.close() }
        let gone = bus.waitForEvent { event in
            if case .detached(let peer, .heartbeatTimeout, _) = event { return peer.name == "in-call" }
            return false
        }
        try #require(gone != nil, "the silent in-call client was never declared gone")
        // Well past the silence limit again, the threaded client is still attached and usable.
        Thread.sleep(forTimeInterval: 0.2)
        let stillAttached = bus.events.withLock { events in
            !events.contains { event in
                if case .detached(let peer, _, _) = event { return peer.name == "threaded" }
                return false
            }
        }
        #expect(stillAttached)
        #expect(try threaded.receive(timeout: .milliseconds(10)) == nil)
        _ = try threaded.subscribe("still.here")
    }

    /// While the bus's loop is held it reads nothing: the socket fills, then the staging buffer, and then
    /// `publish` waits and, after the heartbeat silence limit, fails with `.timedOut`; nothing is dropped
    /// silently.
    @Test func publishWaitsForRoomAndFailsWhenTheBusTakesNothing() throws {
        let gate = LoopGate()
        let bus = try TestBus(
            configure: { configuration in
                configuration.heartbeatInterval = .milliseconds(50)
                configuration.heartbeatMisses = 3
                configuration.stallTimeout = .seconds(30)
            },
            hooks: gate.hooks
        )
        defer { bus.stop() }
        defer { gate.open() }  // runs first: a failed expectation must not leave the loop held
        let publisher = try bus.client(name: "pub", sending: .onThread)
        defer { publisher.close() }
        let holder = try HandClient.attach(bus, name: "holder")
        try holder.request(LoopGate.topic, correlation: 1)
        try #require(gate.waitUntilHeld(), "the loop never entered the holding service")
        let payload = String(repeating: "x", count: 16 * 1024)
        var published = 0
        var failure: (any Error)?
        // 4 MiB of staging plus the socket's buffers: 16 KiB messages run out of room within ~1000.
        while failure == nil && published < 10_000 {
            do {
                try publisher.publish(.text("stuck", payload))
                published += 1
            } catch {
                failure = error
            }
        }
        let error = try #require(failure as? BusError, "\(published) messages of 16 KiB all fit while the bus read nothing")
        #expect(error.code == .timedOut)
        #expect(published > 0)
        gate.open()
        holder.close()
    }

    @Test func aBrokenConnectionReachesTheCaller() throws {
        let bus = try TestBus()
        let publisher = try bus.client(name: "pub", sending: .onThread)
        defer { publisher.close() }
        bus.stop()
        var failure: (any Error)?
        for _ in 0..<1_000 where failure == nil {
            do {
                try publisher.publish(.text("after.stop", "?"))
                Thread.sleep(forTimeInterval: 0.005)
            } catch {
                failure = error
            }
        }
        let error = try #require(failure as? BusError, "publishing to a stopped bus never failed")
        #expect(error.code == .disconnected)
    }
}
