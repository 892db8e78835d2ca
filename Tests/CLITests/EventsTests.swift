import ChronetixCore
import ChronetixRuntime
import Foundation
import IpcEventBus
import Testing

/// The ExecutionEvent stream of real runs: as JSON lines (`--events-file`), on the terminal (`--events`), and
/// on the bus to an observer that attaches with the run's token.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct EventsTests {
    private func events(in path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    @Test func aCompletedRunTellsEveryStepInOrder() throws {
        let file = try TemporaryFile(contents: """
            flow: events-completed
            version: 1
            nodes:
              - { id: source, kind: counter, config: { size: 16, frames: 100 } }
              - { id: sink, kind: stats, inputs: { in: source/out } }

            """)
        let eventsPath = FileManager.default.temporaryDirectory.appendingPathComponent("chronetix-events-\(UUID()).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: eventsPath) }
        let run = try FlowRunResult.run([file.path, "--events", "--events-file", eventsPath], flow: "events-completed")
        #expect(run.status == 0, "\(run.standardError)")
        let events = try events(in: eventsPath)
        let kinds = events.map { $0["kind"] as? String ?? "?" }
        #expect(kinds.first == "run-created")
        #expect(kinds.last == "flow-completed")
        #expect(events.last?["detail"] as? String == "completed")
        // Per node: started, ready, completed, exited, in that order; the flow starts once both are ready.
        for node in ["source", "sink"] {
            let mine = events.filter { $0["node"] as? String == node }.map { $0["kind"] as? String ?? "?" }
            #expect(mine == ["node-started", "node-ready", "node-completed", "node-exited"], "\(node): \(mine)")
            let ready = try #require(kinds.indices.first { kinds[$0] == "node-ready" && events[$0]["node"] as? String == node })
            #expect(ready < kinds.firstIndex(of: "flow-started")!)
        }
        #expect(events.filter { $0["kind"] as? String == "node-exited" }.allSatisfy { $0["detail"] as? String == "exit status 0" })
        // Every event names the run, and time only moves forward.
        let runs = Set(events.map { $0["run"] as? String ?? "" })
        #expect(runs.count == 1 && runs.first!.hasPrefix("events-completed-"))
        let elapsed = events.map { $0["elapsed_ns"] as? Int ?? -1 }
        #expect(elapsed == elapsed.sorted() && elapsed.allSatisfy { $0 >= 0 })
        // The terminal shows the same stream.
        #expect(run.output.contains("node-ready      sink (pid"))
        #expect(run.output.contains("flow-completed  completed"))
    }

    @Test func aFailedNodeIsTheEventThatStopsTheFlow() throws {
        let file = try TemporaryFile(contents: """
            flow: events-failed
            version: 1
            nodes:
              - { id: source, kind: sine, config: { channels: 1, samples: 16, rate_hz: 200 } }
              - { id: broken, kind: filter, config: { channel: 3, min: 0 }, inputs: { in: source/samples } }
              - { id: after, kind: discard, inputs: { in: broken/out } }

            """)
        let eventsPath = FileManager.default.temporaryDirectory.appendingPathComponent("chronetix-events-\(UUID()).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: eventsPath) }
        let run = try FlowRunResult.run([file.path, "--events-file", eventsPath], flow: "events-failed")
        #expect(run.status == 1)
        let events = try events(in: eventsPath)
        let failed = try #require(events.first { $0["kind"] as? String == "node-failed" })
        #expect(failed["node"] as? String == "broken")
        #expect((failed["detail"] as? String ?? "").contains("channel"), "\(failed)")
        let kinds = events.map { $0["kind"] as? String ?? "?" }
        #expect(kinds.firstIndex(of: "node-failed")! < kinds.firstIndex(of: "flow-stopping")!)
        #expect(events.first { $0["kind"] as? String == "flow-stopping" }?["detail"] as? String == "failed")
        #expect(events.last?["detail"] as? String == "failed")
    }

    @Test func anObserverOnTheBusReceivesTheStream() throws {
        let file = try TemporaryFile(contents: """
            flow: events-observed
            version: 1
            nodes:
              - { id: source, kind: counter, config: { size: 16, rate_hz: 1000, frames: 200 } }
              - { id: sink, kind: stats, inputs: { in: source/out } }

            """)
        // Attaching the sink by hand holds the flow until the observer is subscribed, and prints the token.
        let coordinator = try RunningCoordinator(arguments: [file.path, "--attach", "sink", "--attach-timeout", "60"], flow: "events-observed")
        let line = try coordinator.waitForLine(containing: "attach sink: ", timeout: 30)
        var words = String(line.split(separator: ":", maxSplits: 1)[1]).split(separator: " ").map(String.init)
        let executable = words.removeFirst()
        let socket = words[words.firstIndex(of: "--bus")! + 1]
        let token = words[words.firstIndex(of: "--token")! + 1]
        let observer = try BusClient(configuration: .init(socketPath: socket, role: "observer", name: "test-observer", token: token))
        defer { observer.close() }
        _ = try observer.subscribe("flow.events-observed.execution.*")
        let worker = try BackgroundProcess(executable: executable, arguments: words)
        var seen: [ExecutionEvent] = []
        let deadline = Date().addingTimeInterval(60)
        while seen.last?.kind != .flowCompleted && Date() < deadline {
            do {
                guard case .message(let delivery)? = try observer.receive(timeout: .milliseconds(100)) else { continue }
                let event = try RunCoding.decode(ExecutionEvent.self, from: delivery.envelope.payload)
                #expect(delivery.envelope.topic == "flow.events-observed.execution.\(event.kind.rawValue)")
                seen.append(event)
            } catch {
                break  // the run ended and the bus closed
            }
        }
        #expect(worker.wait() == 0)
        let run = try coordinator.finish()
        #expect(run.status == 0, "\(run.standardError)")
        let kinds = seen.map(\.kind)
        #expect(kinds.contains(.nodeReady) && kinds.contains(.flowStarted) && kinds.contains(.nodeCompleted), "\(kinds)")
        // The hand-attached sink is started when it attaches, with the pid the bus saw.
        #expect(seen.contains { $0.kind == .nodeStarted && $0.node == "sink" && $0.detail == "attached by hand" })
        #expect(seen.allSatisfy { $0.flow == "events-observed" })
    }
}
