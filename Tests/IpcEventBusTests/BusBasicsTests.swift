import ChronetixCore
import Foundation
import IpcEventBus
import Testing

@Suite(.serialized, .timeLimit(.minutes(1)))
struct BusBasicsTests {
    /// Both with polling before sleeping (the default) and without, on both sides.
    static let busyPolls: [Duration] = [.microseconds(50), .zero]
    /// Clients that write inside their calls (the default) and on a thread of their own.
    static let sendings: [BusClient.Sending] = [.inCall, .onThread]

    @Test(arguments: busyPolls, sendings)
    func attachesAndDeliversInOrder(busyPoll: Duration, sending: BusClient.Sending) throws {
        let bus = try TestBus { $0.busyPoll = busyPoll }
        defer { bus.stop() }
        let subscriber = try bus.client(name: "sub", busyPoll: busyPoll, sending: sending)
        let publisher = try bus.client(name: "pub", busyPoll: busyPoll, sending: sending)
        #expect(subscriber.welcome.connectionID != publisher.welcome.connectionID)
        let subscription = try subscriber.subscribe("flow.demo.*.events")
        for index in 0..<100 {
            try publisher.publish(.text("flow.demo.gain.events", "m\(index)"), flush: index % 10 == 9)
        }
        try publisher.publish(.text("flow.demo.gain.metrics", "not for us"))
        for index in 0..<100 {
            let event = try #require(try subscriber.receive(timeout: .seconds(5)))
            let delivery = try #require(event.delivery)
            #expect(delivery.subscription == subscription)
            #expect(delivery.envelope.text == "m\(index)")
        }
        #expect(try subscriber.receive(timeout: .milliseconds(50)) == nil)
    }

    @Test(arguments: busyPolls, sendings)
    func requestGetsReplyFromResponder(busyPoll: Duration, sending: BusClient.Sending) throws {
        let bus = try TestBus { $0.busyPoll = busyPoll }
        defer { bus.stop() }
        let ready = DispatchSemaphoreBox()
        let done = DispatchSemaphoreBox()
        let socketPath = bus.socketPath
        let token = bus.token
        // The responder is its own client, answering on its own thread.
        Thread {
            defer { done.signal() }
            var configuration = BusClient.Configuration(socketPath: socketPath, role: "tool", name: "responder", token: token)
            configuration.busyPoll = busyPoll
            configuration.sending = sending
            guard
                let responder = try? BusClient(configuration: configuration),
                (try? responder.serve("svc.echo")) != nil
            else {
                ready.signal()
                return
            }
            ready.signal()
            while let event = try? responder.receive(timeout: .seconds(5)), let request = event.incomingRequest {
                try? responder.reply(to: request, with: .text("svc.echo", "echo:" + request.envelope.text))
                if request.envelope.text == "stop" { break }
            }
        }.start()
        ready.wait()
        let requester = try bus.client(name: "requester", busyPoll: busyPoll, sending: sending)
        for index in 0..<20 {
            let reply = try requester.request(.text("svc.echo", "q\(index)"), timeout: .seconds(5))
            #expect(reply.text == "echo:q\(index)")
        }
        #expect(try requester.request(.text("svc.echo", "stop"), timeout: .seconds(5)).text == "echo:stop")
        requester.close()
        done.wait()
    }

    @Test func requestWithoutResponderFailsAtOnce() throws {
        let bus = try TestBus()
        defer { bus.stop() }
        let requester = try bus.client()
        #expect {
            _ = try requester.request(.text("svc.nobody", "?"), timeout: .seconds(5))
        } throws: { error in
            (error as? BusError)?.code == .noResponders
        }
    }

    @Test func refusesBadToken() throws {
        let bus = try TestBus()
        defer { bus.stop() }
        #expect {
            _ = try bus.client(token: "wrong")
        } throws: { error in
            guard let error = error as? BusError else { return false }
            return error.code == .refused && error.message.contains("bad token")
        }
    }
}
