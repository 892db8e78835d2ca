import ChronetixTestSupport
import Foundation
import Testing

/// Supervision with real processes: a source, a map or a sink killed under load and restarted (nothing
/// committed is lost, every frame is counted once), a hung worker declared gone and restarted, a crash loop
/// that opens the circuit breaker (stopping the flow, or leaving the node down), and a source that loops
/// under `always`. Nothing is left behind.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct RestartTests {
    /// A paced sine source (20 000 frames/s, until the flow is stopped), a map and a sink, all under
    /// `on-failure`. The tests stop it themselves once what they test has happened, so that nothing depends
    /// on how fast this machine is.
    private func chain(_ flow: String) throws -> TemporaryFile {
        try TemporaryFile(contents: """
            flow: \(flow)
            version: 1
            defaults:
              restart: { policy: on-failure, max: 3, backoff: { base: 20ms, max: 1s } }
              queue: { capacity: 16KiB }
            nodes:
              - { id: source, kind: sine, config: { samples: 16, rate_hz: 20000 } }
              - { id: relay, kind: scale, config: { factor: 2 }, inputs: { in: source/samples } }
              - { id: sink, kind: stats, inputs: { in: relay/out } }

            """)
    }

    /// The pid in an event line, `… node-ready      relay (pid 1234)`.
    private func pid(in line: String) throws -> Int32 {
        let digits = try #require(line.range(of: #"\(pid (\d+)\)"#, options: .regularExpression))
        return try #require(Int32(line[digits].dropFirst(5).dropLast()))
    }

    /// Every frame the producer wrote was read, once, and none is left: nothing committed was lost.
    private func expectEveryFrameDelivered(_ run: FlowRunResult, edge: String, producer: String) throws {
        let written = try #require(run.node(producer)["frames_out"] as? Int)
        let counts = run.edge(edge)
        #expect(written > 0)
        #expect(counts["frames"] as? Int == written, "\(edge): \(counts), \(producer) wrote \(written)")
        #expect(counts["unread"] as? Int == 0)
        #expect(counts["drops"] as? Int == 0)
        #expect((counts["duplicates"] as? Int ?? -1) >= 0)
    }

    /// Waits until `node` was restarted and its replacement is ready; returns the replacement's pid.
    private func waitForReplacement(of node: String, _ coordinator: RunningCoordinator) throws -> Int32 {
        let replacement = try pid(in: coordinator.waitForLine(containing: "node-restarted  \(node) ", timeout: 60))
        try coordinator.waitForLine(containing: "node-ready      \(node) (pid \(replacement))", timeout: 60)
        return replacement
    }

    @Test(arguments: ["source", "relay", "sink"])
    func aNodeKilledUnderLoadIsRestartedAndNothingCommittedIsLost(node: String) throws {
        let flow = "restart-kill-\(node)"
        let file = try chain(flow)
        let coordinator = try RunningCoordinator(arguments: [file.path, "--events"], flow: flow)
        let victim = try pid(in: coordinator.waitForLine(containing: "node-ready      \(node) ", timeout: 30))
        try coordinator.waitForLine(containing: "flow-started", timeout: 30)
        Thread.sleep(forTimeInterval: 0.3)  // frames under way (how many does not matter)
        kill(victim, SIGKILL)
        let replacement = try waitForReplacement(of: node, coordinator)
        #expect(replacement != victim)
        kill(coordinator.pid, SIGINT)  // the flow drains: every frame made reaches the sink
        let run = try coordinator.finish()
        #expect(run.status == 130, "\(run.standardError)")
        #expect(run.node(node)["pid"] as? Int == Int(replacement))
        for id in ["source", "relay", "sink"] {
            #expect(run.node(id)["restarts"] as? Int == (id == node ? 1 : 0), "\(id): \(run.node(id))")
        }
        // The death is the killed worker's; the replacement has a pid of its own.
        let lines = run.output.split(separator: "\n").map(String.init)
        let failed = try #require(lines.first { $0.contains("node-failed     \(node) ") })
        #expect(try pid(in: failed) == victim)
        #expect(failed.contains("killed by signal 9"))
        let restarted = try #require(lines.first { $0.contains("node-restarted  \(node) ") })
        #expect(restarted.contains("restart 1 after 20 ms"))
        try expectEveryFrameDelivered(run, edge: "source/samples->relay/in", producer: "source")
        try expectEveryFrameDelivered(run, edge: "relay/out->sink/in", producer: "relay")
    }

    @Test func aHungWorkerIsKilledAndRestarted() throws {
        let flow = "restart-hung"
        let file = try chain(flow)
        let coordinator = try RunningCoordinator(arguments: [file.path, "--events", "--hang-timeout", "2"], flow: flow)
        let relay = try pid(in: coordinator.waitForLine(containing: "node-ready      relay ", timeout: 30))
        try coordinator.waitForLine(containing: "flow-started", timeout: 30)
        Thread.sleep(forTimeInterval: 0.3)
        // Stopped: it neither reads its ring nor sends heartbeats.
        kill(relay, SIGSTOP)
        _ = try waitForReplacement(of: "relay", coordinator)
        kill(coordinator.pid, SIGINT)
        let run = try coordinator.finish()
        #expect(run.status == 130, "\(run.standardError)")
        #expect(run.node("relay")["restarts"] as? Int == 1)
        let failed = try #require(run.output.split(separator: "\n").first { $0.contains("node-failed     relay ") })
        #expect(try pid(in: String(failed)) == relay)
        #expect(failed.contains("hung: no heartbeat for 2 s, killed"), "\(failed)")
        try expectEveryFrameDelivered(run, edge: "source/samples->relay/in", producer: "source")
        try expectEveryFrameDelivered(run, edge: "relay/out->sink/in", producer: "relay")
    }

    /// A node whose program exits at once, restarted twice, then given up on.
    private func crashLoop(_ flow: String, giveUp: String, frames: Int) throws -> TemporaryFile {
        try TemporaryFile(contents: """
            flow: \(flow)
            version: 1
            nodes:
              - { id: source, kind: counter, config: { size: 64, rate_hz: 4000, frames: \(frames) } }
              - { id: sink, kind: stats, inputs: { in: source/out } }
              - id: broken
                kind: process
                config: { command: [sh, -c, "exit 3"] }
                inputs:
                  in: { from: source/out, content_type: bytes }
                restart: { policy: on-failure, max: 2, backoff: { base: 10ms, max: 20ms }, give_up: \(giveUp) }

            """)
    }

    @Test func aCrashLoopOpensTheBreakerAndStopsTheFlow() throws {
        let flow = "restart-breaker-stop"
        let file = try crashLoop(flow, giveUp: "stop-flow", frames: 0)
        let run = try FlowRunResult.run([file.path, "--events"], flow: flow)
        #expect(run.status == 1)
        #expect(run.node("broken")["restarts"] as? Int == 2)
        #expect(run.node("broken")["left_down"] as? Bool == false)
        let lines = run.output.split(separator: "\n")
        #expect(lines.filter { $0.contains("node-restarted  broken ") }.count == 2)
        #expect(lines.filter { $0.contains("node-gave-up    broken ") }.count == 1)
        #expect(run.standardError.contains("node broken failed again after 2 restarts within 60 s: circuit breaker open, stopping the flow"), "\(run.standardError)")
        // The flow was stopped: the source drained into the sink.
        try expectEveryFrameDelivered(run, edge: "source/out->sink/in", producer: "source")
    }

    @Test func aCrashLoopUnderLeaveDownLetsTheRestOfTheFlowFinish() throws {
        let flow = "restart-breaker-down"
        let file = try crashLoop(flow, giveUp: "leave-down", frames: 2000)
        let run = try FlowRunResult.run([file.path], flow: flow)
        #expect(run.status == 1, "the flow ends failed: a node is down")
        #expect(run.node("broken")["restarts"] as? Int == 2)
        #expect(run.node("broken")["left_down"] as? Bool == true)
        #expect(run.standardError.contains("circuit breaker open, left down"), "\(run.standardError)")
        #expect(run.node("source")["frames_out"] as? Int == 2000)
        try expectEveryFrameDelivered(run, edge: "source/out->sink/in", producer: "source")
        #expect(run.summary["stop"] is NSNull || run.summary["stop"] == nil, "not stopped: the flow ran to its end")
    }

    @Test func aSourceUnderAlwaysLoopsUntilTheFlowIsStopped() throws {
        let flow = "restart-always"
        let file = try TemporaryFile(contents: """
            flow: \(flow)
            version: 1
            nodes:
              - id: source
                kind: counter
                config: { size: 64, frames: 500 }
                restart: { policy: always, backoff: { base: 10ms, max: 10ms } }
              - { id: sink, kind: stats, inputs: { in: source/out } }

            """)
        let coordinator = try RunningCoordinator(arguments: [file.path, "--events"], flow: flow)
        try coordinator.waitForLine(containing: "restart 3 after 10 ms", timeout: 30)
        kill(coordinator.pid, SIGINT)
        let run = try coordinator.finish()
        #expect(run.status == 130, "\(run.standardError)")
        #expect((run.node("source")["restarts"] as? Int ?? 0) >= 3)
        #expect((run.node("source")["frames_out"] as? Int ?? 0) >= 3 * 500)
        try expectEveryFrameDelivered(run, edge: "source/out->sink/in", producer: "source")
    }

    /// A reader killed while it holds received, unreleased frames (its program never reads, so its worker is
    /// stuck writing one of them into the full pipe): the replacement gets those frames again, and they are
    /// counted as duplicates. The killed worker's orphaned program is killed with it.
    @Test func framesInFlightAtACrashAreDeliveredAgainAndCounted() throws {
        let flow = "restart-duplicates"
        let file = try TemporaryFile(contents: """
            flow: \(flow)
            version: 1
            nodes:
              - { id: source, kind: counter, config: { size: 64, rate_hz: 5000 } }
              - id: sleeper
                kind: process
                config: { command: [sleep, "60"] }
                inputs:
                  in: { from: source/out, content_type: bytes }
                restart: { policy: on-failure, backoff: { base: 10ms, max: 10ms } }

            """)
        let coordinator = try RunningCoordinator(
            arguments: [file.path, "--events", "--drain-timeout", "0.5", "--metrics-port", "0"], flow: flow
        )
        let port = try MetricsEndpointTests.port(fromURLLine: coordinator.waitForLine(containing: "metrics at http://127.0.0.1:", timeout: 30, inStandardError: true))
        let victim = try pid(in: coordinator.waitForLine(containing: "node-ready      sleeper ", timeout: 30))
        // The pipe holds about 600 records of 64 bytes. The source makes 5000 frames a second into a ring with
        // room for thousands, so the worker's count of frames taken stands still only while it is stuck
        // writing a batch into the full pipe, holding that batch unreleased: wait until it stands still.
        var taken: Double = 0
        var previous: Double = -1
        let deadline = Date().addingTimeInterval(60)
        while !(taken > 100 && taken == previous) && Date() < deadline {
            previous = taken
            Thread.sleep(forTimeInterval: 0.5)  // two metrics snapshots of the worker's
            let samples = MetricsEndpointTests.samples(try HTTPProbe.get("/metrics", port: port).body)
            taken = MetricsEndpointTests.value(samples, "chronetix_edge_frames_total", labelled: #"node="sleeper""#) ?? 0
        }
        #expect(taken > 100 && taken == previous, "the sleeper's worker never got stuck: \(taken) frames")
        kill(victim, SIGKILL)
        try coordinator.waitForLine(containing: "node-ready      sleeper ", timeout: 30)
        let restarted = try coordinator.waitForLine(containing: "node-restarted  sleeper ", timeout: 30)
        #expect(try pid(in: restarted) != victim)
        kill(coordinator.pid, SIGINT)
        let run = try coordinator.finish()  // also checks that no `sleep` of this run is left
        #expect(run.status == 130)
        #expect(run.node("sleeper")["restarts"] as? Int == 1)
        let edge = run.edge("source/out->sleeper/in")
        #expect((edge["duplicates"] as? Int ?? 0) >= 1, "\(edge)")
        let produced = try #require(run.node("source")["frames_out"] as? Int)
        let read = try #require(edge["frames"] as? Int)
        let unread = try #require(edge["unread"] as? Int)
        #expect(read + unread == produced)
    }

    /// A `process` node without inputs under `always`: its program writes 100 frames and exits; it is started
    /// again and its stream goes on, each frame read once by the sink.
    @Test func aProgramSourceUnderAlwaysLoops() throws {
        let flow = "restart-always-program"
        let program = "import struct,sys\\nfor i in range(100): sys.stdout.buffer.write(struct.pack('<4sIHHIQqq', b'CXF1', 8, 0, 0, 0, i, 0, 0) + struct.pack('<Q', i))"
        let file = try TemporaryFile(contents: """
            flow: \(flow)
            version: 1
            nodes:
              - id: gen
                kind: process
                config: { command: [python3, -c, "\(program)"] }
                outputs:
                  - { name: out, content_type: bytes }
                restart: { policy: always, backoff: { base: 10ms, max: 10ms } }
              - { id: sink, kind: stats, inputs: { in: gen/out } }

            """)
        let coordinator = try RunningCoordinator(arguments: [file.path, "--events"], flow: flow)
        try coordinator.waitForLine(containing: "restart 2 after 10 ms", timeout: 30)
        kill(coordinator.pid, SIGINT)
        let run = try coordinator.finish()
        #expect(run.status == 130, "\(run.standardError)")
        #expect((run.node("gen")["restarts"] as? Int ?? 0) >= 2)
        #expect((run.node("gen")["frames_out"] as? Int ?? 0) >= 200)
        try expectEveryFrameDelivered(run, edge: "gen/out->sink/in", producer: "gen")
    }
}
