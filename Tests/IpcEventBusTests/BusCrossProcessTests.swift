import ChronetixCore
import ChronetixSystem
import ChronetixTestSupport
import Foundation
import IpcEventBus
import Synchronization
import Testing

/// The bus between real processes: each client is a `chronetix-bus-peer` process.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct BusCrossProcessTests {
    @Test func publishReachesEverySubscriberInOrder() throws {
        let bus = try TestBus()
        defer { bus.stop() }
        let narrow = try BusPeer(bus, name: "narrow", "subscribe", "flow.demo.*.events", "1000")
        let wide = try BusPeer(bus, name: "wide", "subscribe", "flow.>", "1000")
        let other = try BusPeer(bus, name: "other", "subscribe", "metrics.>", "1")
        defer { [narrow, wide, other].forEach { $0.stop() } }
        for peer in [narrow, wide, other] {
            let ready = try #require(peer.next(["READY"]))
            try #require(ready.kind == "READY", "\(ready)")
        }
        let publisher = try BusPeer(bus, name: "publisher", "publish", "flow.demo.gain.events", "1000")
        defer { publisher.stop() }
        #expect(publisher.finish(["DONE"]).status == 0)
        for peer in [narrow, wide] {
            for index in 0..<1000 {
                let line = try #require(peer.next(["MSG"]))
                try #require(line.kind == "MSG", "\(line)")
                #expect(line.words[1] == "flow.demo.gain.events")
                try #require(line.words[2] == "\(index)", "out of order: \(line)")
            }
            let (done, status) = peer.finish(["DONE"])
            #expect(done?.text == "DONE received=1000 dropped=0")
            #expect(status == 0)
        }
        // `metrics.>` matched nothing: that peer is still waiting.
        other.stop()
    }

    @Test func requestAndReplyBetweenProcesses() throws {
        let bus = try TestBus()
        defer { bus.stop() }
        let nobody = try BusPeer(bus, name: "early", "request", "svc.echo", "hi", "2000")
        #expect(nobody.finish(["REPLY"]).line?.text.hasPrefix("ERROR no responders") == true)
        let responder = try BusPeer(bus, name: "echo", "serve", "svc.*")
        defer { responder.stop() }
        try #require(responder.next(["READY"])?.kind == "READY")
        for index in 0..<3 {
            let requester = try BusPeer(bus, name: "asker\(index)", "request", "svc.echo", "q\(index)", "5000")
            let (line, status) = requester.finish(["REPLY"])
            #expect(line?.text == "REPLY echo:q\(index)")
            #expect(status == 0)
        }
    }

    @Test func refusesWrongTokenAndForeignUsers() throws {
        let bus = try TestBus()
        defer { bus.stop() }
        let wrong = try BusPeer(bus, name: "intruder", token: "not-the-token", "attach")
        #expect(wrong.finish(["ATTACHED"]).line?.text.hasPrefix("ERROR refused bad token") == true)

        // A bus that admits no user id refuses on SO_PEERCRED, before reading a byte.
        let closed = try TestBus(configure: { $0.allowedUserIDs = [] })
        defer { closed.stop() }
        let stranger = try BusPeer(closed, name: "stranger", "attach")
        #expect(stranger.finish(["ATTACHED"]).line?.text.hasPrefix("ERROR refused user not allowed") == true)
        let refusal = closed.waitForEvent { event in
            if case .refused(_, let refusal) = event { return refusal.reason == .userNotAllowed }
            return false
        }
        #expect(refusal != nil)
        #expect(closed.logs.contains("bus client refused", "user not allowed"))
        #expect(bus.logs.contains("bus client refused", "bad token"))
    }

    @Test func ownerRefusesUnknownAndDuplicateNodes() throws {
        var hooks = BusServer.Hooks()
        let attached = NodeRegistry()
        hooks.admit = { hello, peer in
            guard ["gain", "sink"].contains(hello.name) else {
                return .refuse(BusRefusal(.unknownNode, "node \(hello.name) is not in the flow"))
            }
            guard attached.claim(hello.name) else {
                return .refuse(BusRefusal(.duplicateNode, "node \(hello.name) is already attached"))
            }
            return .welcome(document: .map([.init("node", .string(hello.name))]))
        }
        let bus = try TestBus(hooks: hooks)
        defer { bus.stop() }
        let gain = try BusPeer(bus, name: "gain", "attach", "worker", keepsInputOpen: true)
        defer { gain.stop() }
        #expect(gain.next(["ATTACHED"])?.kind == "ATTACHED")
        let twice = try BusPeer(bus, name: "gain", "attach", "worker")
        #expect(twice.finish(["ATTACHED"]).line?.text.hasPrefix("ERROR refused duplicate node") == true)
        let unknown = try BusPeer(bus, name: "mixer", "attach", "worker")
        #expect(unknown.finish(["ATTACHED"]).line?.text.hasPrefix("ERROR refused unknown node") == true)
        gain.closeInput()
        #expect(gain.exitStatus(within: .seconds(10)) == 0)
    }

    @Test func silentPeerIsDeclaredGone() throws {
        let bus = try TestBus(configure: {
            $0.heartbeatInterval = .milliseconds(100)
            $0.heartbeatMisses = 3
        })
        defer { bus.stop() }
        let mute = try BusPeer(bus, name: "mute", "mute", keepsInputOpen: true)
        defer { mute.stop() }
        let attached = try #require(mute.next(["ATTACHED"]))
        let connection = try #require(UInt64(attached.words.first ?? ""))
        let gone = bus.waitForEvent { event in
            if case .detached(let peer, let reason, _) = event {
                return peer.connectionID == connection && reason == .heartbeatTimeout
            }
            return false
        }
        #expect(gone != nil)
        #expect(bus.statistics { $0.heartbeatTimeouts >= 1 }.heartbeatTimeouts == 1)
    }

    @Test func passesDescriptors() throws {
        let bus = try TestBus()
        defer { bus.stop() }
        let peer = try BusPeer(bus, name: "fd-reader", "descriptors")
        defer { peer.stop() }
        let attached = try #require(peer.next(["ATTACHED"]))
        let connection = try #require(UInt64(attached.words.first ?? ""))
        var raws: [Int32] = []
        for text in ["first", "second"] {
            // The bytes wait in the pair's buffer; the writing end may close before the peer reads.
            let pair = try FileDescriptor.unixStreamPair()
            let writer = pair.first
            let reader = pair.second
            _ = try Array(text.utf8).withUnsafeBytes { try writer.write(from: $0) }
            writer.close()
            raws.append(reader.takeRawValue())
        }
        bus.server.sendDescriptors(to: connection, label: "rings", descriptors: raws)
        let (line, status) = peer.finish(["FD"])
        #expect(line?.text == "FD rings first second")
        #expect(status == 0)
    }
}

extension BusCrossProcessTests {
    /// Publishes messages `range` (1 KiB each, the payload starting with the index) from `publisher`.
    static func publish(_ range: Range<Int>, topic: String, from publisher: BusClient) throws {
        let filler = [UInt8](repeating: 0x2E, count: 1000)
        for index in range {
            try publisher.publish(Envelope(id: UInt64(index), topic: topic, payload: Array("\(index) ".utf8) + filler), flush: false)
        }
        try publisher.flush()
    }

    @Test func slowSubscriberIsDisconnectedAndOthersGoOn() throws {
        let bus = try TestBus(configure: { $0.outboundQueueLimit = 64 * 1024 })
        defer { bus.stop() }
        // The slow subscriber never reads while the flood lasts; the fast one is a process that reads.
        let slow = try bus.client(name: "slow")
        _ = try slow.subscribe("load.>")
        let fast = try BusPeer(bus, name: "fast", "subscribe", "load.>", "3000", "disconnect", "0", "quiet")
        defer { fast.stop() }
        try #require(fast.next(["READY"])?.kind == "READY")
        let publisher = try bus.client(name: "publisher")
        // Chunks of 100 KiB, each once the fast subscriber has read the previous one: less than its queue
        // and socket buffers hold, so it never overflows however the processes are scheduled.
        for chunk in 0..<30 {
            try Self.publish(chunk * 100..<(chunk + 1) * 100, topic: "load.data", from: publisher)
            let progress = try #require(fast.next(["AT"]))
            try #require(progress.text == "AT \((chunk + 1) * 100)", "\(progress)")
        }
        #expect(fast.finish(["DONE"]).line?.text == "DONE received=3000 dropped=0 ordered=yes")
        // The slow one reads what reached it, in order, then learns why it was cut off.
        var previous = -1
        #expect {
            while let event = try slow.receive(timeout: .seconds(10)) {
                let index = Int(event.delivery?.envelope.text.prefix { $0 != " " } ?? "") ?? -1
                #expect(index > previous)
                previous = index
            }
        } throws: { error in
            (error as? BusError)?.code == .slowConsumer
        }
        #expect(previous < 2999)
        #expect(bus.statistics { $0.slowConsumers >= 1 }.slowConsumers == 1)
        let detached = bus.waitForEvent { event in
            if case .detached(let peer, let reason, _) = event { return peer.name == "slow" && reason == .slowConsumer }
            return false
        }
        #expect(detached != nil)
        publisher.close()
    }

    @Test func lossySubscriberIsToldHowManyItLost() throws {
        let bus = try TestBus(configure: { $0.outboundQueueLimit = 64 * 1024 })
        defer { bus.stop() }
        let lossy = try bus.client(name: "lossy")
        let subscription = try lossy.subscribe("load.>", overflow: .drop)
        let publisher = try bus.client(name: "publisher")
        try Self.publish(0..<3000, topic: "load.data", from: publisher)
        // Let the flood reach the bus before reading (an ack proves the bus handled everything before it).
        _ = try publisher.subscribe("unrelated.topic")
        var previous = -1
        var received: UInt64 = 0
        var dropped: UInt64 = 0
        while received + dropped < 3000, let event = try lossy.receive(timeout: .seconds(10)) {
            switch event {
            case .message(let delivery):
                let index = try #require(Int(delivery.envelope.text.prefix { $0 != " " }))
                #expect(index > previous, "out of order")
                previous = index
                received += 1
            case .dropped(let id, let total):
                #expect(id == subscription)
                dropped = total
            default:
                Issue.record("unexpected \(event)")
            }
        }
        // Nothing vanished silently: every message was delivered or counted as dropped.
        #expect(dropped > 0)
        #expect(received + dropped == 3000)
        #expect(bus.statistics { $0.dropped >= dropped }.dropped == dropped)
        // After the loss, the subscription goes on: new messages still arrive.
        try Self.publish(3000..<3010, topic: "load.data", from: publisher)
        for expected in 3000..<3010 {
            let event = try #require(try lossy.receive(timeout: .seconds(10)), "nothing after the drop report")
            #expect(event.delivery?.envelope.text.hasPrefix("\(expected) ") == true)
        }
        publisher.close()
        lossy.close()
    }

    @Test func publishOnlyClientIsNotMistakenForGone() throws {
        let bus = try TestBus(configure: {
            $0.heartbeatInterval = .milliseconds(50)
            $0.heartbeatMisses = 3
        })
        defer { bus.stop() }
        let publisher = try bus.client(name: "publish-only")
        // Publish for several silence limits without reading: the bus's heartbeats queue up unread.
        let start = ContinuousClock.now
        var index = 0
        while ContinuousClock.now - start < .milliseconds(600) {
            try publisher.publish(.text("quiet.topic", "\(index)"))
            index += 1
            Thread.sleep(forTimeInterval: 0.01)
        }
        // Reading now finds the heartbeats, not silence.
        #expect(try publisher.receive(timeout: .zero) == nil)
        try publisher.publish(.text("quiet.topic", "still here"))
        publisher.close()
    }

    @Test func requestTimesOutWhenTheResponderDoesNotAnswer() throws {
        let bus = try TestBus()
        defer { bus.stop() }
        let responder = try bus.client(name: "sleepy")
        _ = try responder.serve("svc.slow")
        let requester = try BusPeer(bus, name: "asker", "request", "svc.slow", "hello", "200")
        let (line, status) = requester.finish(["REPLY"])
        #expect(line?.text.hasPrefix("ERROR timed out") == true, "\(String(describing: line))")
        #expect(status == 1)
        // The responder saw the request; its answer comes too late and is dropped by the bus.
        let request = try #require(try responder.receive(timeout: .seconds(5))?.incomingRequest)
        #expect(request.envelope.text == "hello")
        try responder.reply(to: request, with: .text("svc.slow", "late"))
        #expect(bus.statistics { $0.lateReplies >= 1 }.lateReplies == 1)
        responder.close()
    }
}

/// Which node names have attached (the admission hook's memory).
final class NodeRegistry: @unchecked Sendable {
    private let names = Mutex<Set<String>>([])
    func claim(_ name: String) -> Bool { names.withLock { $0.insert(name).inserted } }
}
