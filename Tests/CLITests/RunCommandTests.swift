import Foundation
import Testing

/// `chronetix run` end to end: real coordinator and worker processes, real rings and bus. Every test checks
/// afterwards that the run left no ring segment, run directory or worker process behind.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct RunCommandTests {
    // MARK: - Examples

    @Test func sensorChainExampleDeliversEveryFrame() throws {
        let run = try FlowRunResult.run(["examples/sensor-chain.yaml"], flow: "sensor-chain")
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.summary["status"] as? String == "completed")
        #expect(run.node("source")["frames_out"] as? Int == 3000)
        #expect(run.node("gain")["frames_in"] as? Int == 3000)
        #expect(run.node("sink")["frames_in"] as? Int == 3000)
        let edge = run.edge("gain/out->sink/in")
        #expect(edge["frames"] as? Int == 3000)
        #expect(edge["drops"] as? Int == 0)
        // 2 channels × 256 samples × 8 bytes + the 8-byte header, per frame.
        #expect(edge["bytes"] as? Int == 3000 * (2 * 256 * 8 + 8))
        let latency = try #require(edge["latency_ns"] as? [String: Any])
        #expect((latency["p50"] as? Int ?? 0) > 0)
        #expect(run.output.contains("flow sensor-chain: completed"))
        // The run's W3C trace context: version 00, a 32-hex trace id, a 16-hex span id, flags 01.
        let trace = try #require(run.summary["trace_parent"] as? String)
        let parts = trace.split(separator: "-")
        #expect(parts.count == 4 && parts[0] == "00" && parts[1].count == 32 && parts[2].count == 16 && parts[3] == "01", "\(trace)")
        #expect(trace.allSatisfy { $0 == "-" || $0.isHexDigit })
        for node in ["source", "gain", "sink"] { #expect(run.node(node)["exit"] as? Int == 0) }
    }

    @Test func fanOutFanInExampleMergesBothBranches() throws {
        let run = try FlowRunResult.run(["examples/fan-out-fan-in.yaml"], flow: "fan-out-fan-in")
        #expect(run.status == 0, "\(run.standardError)")
        // One ring, two readers: each branch sees every frame.
        #expect(run.edge("source/out->left/in")["frames"] as? Int == 5000)
        #expect(run.edge("source/out->right/in")["frames"] as? Int == 5000)
        #expect(run.node("both")["frames_in"] as? Int == 10000)
        #expect(run.node("both")["frames_out"] as? Int == 10000)
        // 10000 frames in windows of 16.
        #expect(run.node("smooth")["frames_out"] as? Int == 625)
        let sinkFrames = try #require(run.node("sink")["frames_in"] as? Int)
        #expect(sinkFrames == run.node("loud")["frames_out"] as? Int)
    }

    @Test func bytesPipelineExampleCountsWhatTheLatestPolicyDrops() throws {
        // The example writes its archive in the working directory: a fresh one, removed afterwards.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chronetix-bytes-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: directory) }  // best effort: it is in the temporary directory
        let example = CommandRunner.repositoryRoot.appendingPathComponent("examples/bytes-pipeline.yaml").path
        let run = try FlowRunResult.run([example], flow: "bytes-pipeline", workingDirectory: directory)
        #expect(run.status == 0, "\(run.standardError)")
        // counter/out blocks: its readers get every frame, however loaded the machine.
        #expect(run.edge("counter/out->archive/in")["drops"] as? Int == 0)
        #expect(run.node("drain")["frames_in"] as? Int == 20000)
        #expect(run.node("archive")["frames_in"] as? Int == 20000)
        let written = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("bytes-pipeline.bin").path)[.size] as? Int
        #expect(written == 20000 * 64)
        // `latest` keeps only the newest frame for a reader that falls behind: every frame is either
        // received or counted as dropped.
        let latest = run.edge("hold/out->trace/in")
        let frames = try #require(latest["frames"] as? Int)
        let drops = try #require(latest["drops"] as? Int)
        #expect(frames + drops == 20000)
    }

    // MARK: - Queue policies under a slow reader

    @Test(arguments: ["block", "drop-oldest", "latest"])
    func queuePolicyUnderASlowReader(policy: String) throws {
        let flow = "policy-\(policy)"
        let file = try TemporaryFile(contents: """
            flow: \(flow)
            version: 1
            nodes:
              - id: fast
                kind: counter
                config: { size: 1000, frames: 400 }
                queue: { capacity: 4KiB, policy: \(policy) }
              - id: slow
                kind: delay
                config: { delay: 10ms }
                inputs: { in: fast/out }
              - id: sink
                kind: discard
                inputs: { in: slow/out }

            """)
        let run = try FlowRunResult.run([file.path], flow: flow)
        #expect(run.status == 0, "\(run.standardError)")
        let edge = run.edge("fast/out->slow/in")
        let frames = try #require(edge["frames"] as? Int)
        let drops = try #require(edge["drops"] as? Int)
        #expect(frames + drops == 400, "every frame is received or counted as dropped")
        if policy == "block" {
            #expect(drops == 0)
        } else {
            // A 4 KiB ring holds three 1000-byte frames, and the delay node holds the first frame for 10 ms,
            // in which the counter writes all 400: a lossy ring must lose some.
            #expect(drops > 0)
        }
        #expect(run.node("sink")["frames_in"] as? Int == frames)
    }

    // MARK: - Failures

    @Test func invalidFlowExits65AndStartsNothing() throws {
        let file = try TemporaryFile(contents: "flow: invalid-run\nnodes:\n  - { id: s, kind: sinus }\n")
        let run = try FlowRunResult.run([file.path], flow: "invalid-run", expectSummary: false)
        #expect(run.status == 65)
        #expect(run.standardError.contains("unknown node kind 'sinus'"))
    }

    @Test func aFailingNodeStopsTheFlowWithStatus1() throws {
        // `filter` on channel 3 of one-channel frames fails on the first frame (on_error: propagate).
        let file = try TemporaryFile(contents: """
            flow: failing-node
            version: 1
            nodes:
              - id: source
                kind: sine
                config: { channels: 1, samples: 16, rate_hz: 200 }
              - id: broken
                kind: filter
                config: { channel: 3, min: 0 }
                inputs: { in: source/samples }
              - id: after
                kind: discard
                inputs: { in: broken/out }
              - id: sink
                kind: stats
                inputs: { in: source/samples }

            """)
        let run = try FlowRunResult.run([file.path], flow: "failing-node")
        #expect(run.status == 1)
        #expect(run.summary["status"] as? String == "failed")
        #expect(run.standardError.contains("node broken failed"), "\(run.standardError)")
        // The error that failed it is counted, as under the other policies.
        #expect(run.node("broken")["errors"] as? Int == 1)
        #expect(run.node("broken")["exit"] as? Int == 1)
        // The endless source was stopped, and what it sent drained to the other branch.
        let produced = try #require(run.node("source")["frames_out"] as? Int)
        #expect(produced > 0)
        #expect(run.node("sink")["frames_in"] as? Int == produced)
        #expect(run.node("after")["exit"] as? Int == 0)
    }

    @Test func anInterruptedRunDrainsAndExits130() throws {
        let file = try TemporaryFile(contents: """
            flow: interrupted-run
            version: 1
            nodes:
              - id: source
                kind: counter
                config: { size: 64, rate_hz: 2000 }
              - id: sink
                kind: stats
                inputs: { in: source/out }

            """)
        let process = try RunningCoordinator(arguments: [file.path], flow: "interrupted-run")
        try process.waitForLine(containing: "", timeout: 0)  // nothing printed before the end
        Thread.sleep(forTimeInterval: 1.0)
        kill(process.pid, SIGINT)
        let run = try process.finish()
        #expect(run.status == 130)
        #expect(run.summary["status"] as? String == "interrupted")
        let produced = try #require(run.node("source")["frames_out"] as? Int)
        #expect(produced > 0)
        #expect(run.node("sink")["frames_in"] as? Int == produced, "every frame sent before the stop arrives")
    }

    // MARK: - Attaching by hand

    @Test func attachByHandRefusesStrangersAndRunsThePrintedCommand() throws {
        let file = try TemporaryFile(contents: """
            flow: attach-run
            version: 1
            nodes:
              - id: source
                kind: counter
                config: { size: 64, rate_hz: 400, frames: 400 }
              - id: sink
                kind: stats
                inputs: { in: source/out }

            """)
        let coordinator = try RunningCoordinator(arguments: [file.path, "--attach", "sink", "--attach-timeout", "60"], flow: "attach-run")
        let line = try coordinator.waitForLine(containing: "attach sink: ", timeout: 30)
        let command = String(line.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces)
        var words = command.split(separator: " ").map(String.init)
        let executable = words.removeFirst()
        #expect(executable.hasSuffix("chronetix-worker"))
        func argument(_ name: String) -> String? {
            guard let index = words.firstIndex(of: name), index + 1 < words.count else { return nil }
            return words[index + 1]
        }
        let socket = try #require(argument("--bus"))
        let token = try #require(argument("--token"))

        let unknown = try CommandRunner.run("chronetix-worker", ["--bus", socket, "--node", "nosuch", "--token", token])
        #expect(unknown.status == 3)
        #expect(unknown.standardError.contains("unknown node"), "\(unknown.standardError)")
        let badToken = try CommandRunner.run("chronetix-worker", ["--bus", socket, "--node", "sink", "--token", "wrong"])
        #expect(badToken.status == 3)
        #expect(badToken.standardError.contains("bad token"), "\(badToken.standardError)")

        // The person runs the printed command.
        let worker = try BackgroundProcess(executable: executable, arguments: words)
        // While it runs (1 s of frames), a second worker for the same node is refused.
        Thread.sleep(forTimeInterval: 0.3)
        let duplicate = try CommandRunner.run("chronetix-worker", ["--bus", socket, "--node", "sink", "--token", token])
        #expect(duplicate.status == 3)
        #expect(duplicate.standardError.contains("duplicate node"), "\(duplicate.standardError)")

        #expect(worker.wait() == 0)
        let run = try coordinator.finish()
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.node("sink")["frames_in"] as? Int == 400)
        #expect(run.node("sink")["exit"] is NSNull, "a worker attached by hand is not the coordinator's child")
    }

    @Test func aWorkerAttachedByHandAndInterruptedEndsWithoutDrainingAndTheRatesCountFromTheStart() throws {
        let file = try TemporaryFile(contents: """
            flow: attach-interrupted
            version: 1
            nodes:
              - { id: source, kind: counter, config: { size: 64, rate_hz: 1000 } }
              - { id: sink, kind: stats, inputs: { in: source/out } }
              - { id: other, kind: stats, inputs: { in: source/out } }

            """)
        let coordinator = try RunningCoordinator(arguments: [file.path, "--attach", "sink", "--events"], flow: "attach-interrupted")
        let line = try coordinator.waitForLine(containing: "attach sink: ", timeout: 30)
        var words = String(line.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces).split(separator: " ").map(String.init)
        let executable = words.removeFirst()
        // The person takes a while to start it: that wait is not the edges' running time.
        Thread.sleep(forTimeInterval: 0.5)
        let worker = try BackgroundProcess(executable: executable, arguments: words)
        try coordinator.waitForLine(containing: "flow-started", timeout: 30)
        Thread.sleep(forTimeInterval: 0.3)
        worker.signal(SIGINT)  // Ctrl-C in its terminal
        _ = worker.wait()
        let run = try coordinator.finish()
        #expect(run.status == 1, "\(run.standardError)")
        let stop = try #require(run.summary["stop"] as? [String: Any])
        #expect(stop["drained"] as? [String] == ["source", "other"])
        #expect(stop["failed"] as? [String] == ["sink"])
        #expect(!run.output.contains("every node drained"), "\(run.output)")
        #expect(run.output.contains("source, other drained in"), "\(run.output)")
        #expect(run.output.contains("sink ended without draining"), "\(run.output)")
        // An edge's frames/s is over the time the flow ran: from all nodes ready to the end.
        let duration = try #require(run.summary["duration_ns"] as? Int)
        let startup = try #require(run.summary["startup_ns"] as? Int)
        let frames = try #require(run.edge("source/out->other/in")["frames"] as? Int)
        let rate = String(format: "%.0f", Double(frames) / (Double(duration - startup) / 1e9))
        let row = try #require(run.output.split(separator: "\n").first { $0.hasPrefix("source/out->other/in") })
        #expect(row.split(separator: " ", omittingEmptySubsequences: true)[3] == rate, "\(row)")
    }
}
