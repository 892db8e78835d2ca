import Foundation
import Testing

/// Stopping a run: what drained, what was cut at the drain timeout, and the frames a cut left unread, each
/// counted in the summary. Real processes; nothing is left behind.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ShutdownTests {
    @Test func anInterruptedRunThatDrainsSaysSo() throws {
        let file = try TemporaryFile(contents: """
            flow: drained-stop
            version: 1
            nodes:
              - { id: source, kind: counter, config: { size: 64, rate_hz: 2000 } }
              - { id: sink, kind: stats, inputs: { in: source/out } }

            """)
        let process = try RunningCoordinator(arguments: [file.path], flow: "drained-stop")
        Thread.sleep(forTimeInterval: 0.5)
        kill(process.pid, SIGTERM)  // SIGTERM is handled as Ctrl-C is
        let run = try process.finish()
        #expect(run.status == 130)
        let stop = try #require(run.summary["stop"] as? [String: Any])
        #expect(stop["reason"] as? String == "interrupted")
        #expect(stop["drained"] as? [String] == ["source", "sink"])
        #expect(stop["cut"] as? [String] == [])
        #expect(stop["drain_ns"] is Int)
        #expect(run.edge("source/out->sink/in")["unread"] as? Int == 0)
        #expect(run.output.contains("every node drained in"))
    }

    @Test func aHangupStopsTheRunAsAnInterruptionDoes() throws {
        // A closed terminal or ssh session: the summary is still written and nothing is left behind.
        let file = try TemporaryFile(contents: """
            flow: hangup-stop
            version: 1
            nodes:
              - { id: source, kind: counter, config: { size: 64, rate_hz: 2000 } }
              - { id: sink, kind: stats, inputs: { in: source/out } }

            """)
        let process = try RunningCoordinator(arguments: [file.path], flow: "hangup-stop")
        Thread.sleep(forTimeInterval: 0.5)
        kill(process.pid, SIGHUP)
        let run = try process.finish()
        #expect(run.status == 130)
        let stop = try #require(run.summary["stop"] as? [String: Any])
        #expect(stop["reason"] as? String == "interrupted")
        #expect(stop["cause"] as? String == "SIGHUP")
        #expect(stop["drained"] as? [String] == ["source", "sink"])
        #expect(run.edge("source/out->sink/in")["unread"] as? Int == 0)
        #expect(run.output.contains("stopped (interrupted: SIGHUP)"), "\(run.output)")
    }

    @Test func aStandardOutputWithoutAReaderStopsTheRunInsteadOfKillingIt() throws {
        // `chronetix run --events … | head` after head exited: the event lines cannot be written (EPIPE, not
        // SIGPIPE); the run stops gracefully and writes its summary file.
        let file = try TemporaryFile(contents: """
            flow: closed-output
            version: 1
            nodes:
              - { id: source, kind: counter, config: { size: 64, rate_hz: 2000 } }
              - { id: sink, kind: stats, inputs: { in: source/out } }

            """)
        let process = try RunningCoordinator(arguments: [file.path, "--events"], flow: "closed-output", closedOutput: true)
        let run = try process.finish()
        #expect(run.status == 130, "\(run.standardError)")
        let stop = try #require(run.summary["stop"] as? [String: Any])
        #expect(stop["reason"] as? String == "interrupted")
        #expect(stop["cause"] as? String == "standard output closed")
        #expect(run.summary["status"] as? String == "interrupted")
    }

    @Test func aStoppedCoordinatorIsWaitedForNotTakenForDead() throws {
        // SIGSTOP (Ctrl-Z) for three times the hang timeout, then SIGCONT: the workers wait for it, and the
        // coordinator does not take their silence meanwhile for hangs. The run goes on and stops cleanly.
        let file = try TemporaryFile(contents: """
            flow: paused-coordinator
            version: 1
            nodes:
              - { id: source, kind: counter, config: { size: 64, rate_hz: 2000 } }
              - { id: sink, kind: stats, inputs: { in: source/out } }

            """)
        let process = try RunningCoordinator(arguments: [file.path, "--hang-timeout", "1", "--events"], flow: "paused-coordinator")
        try process.waitForLine(containing: "flow-started", timeout: 30)
        kill(process.pid, SIGSTOP)
        Thread.sleep(forTimeInterval: 3)
        kill(process.pid, SIGCONT)
        Thread.sleep(forTimeInterval: 1.5)
        kill(process.pid, SIGINT)
        let run = try process.finish()
        #expect(run.status == 130, "\(run.standardError)")
        let stop = try #require(run.summary["stop"] as? [String: Any])
        #expect(stop["reason"] as? String == "interrupted")
        #expect(stop["drained"] as? [String] == ["source", "sink"])
        #expect(run.node("source")["restarts"] as? Int == 0)
        #expect(run.node("sink")["restarts"] as? Int == 0)
        #expect(!run.output.contains("node-failed"), "\(run.output)")
        let produced = try #require(run.node("source")["frames_out"] as? Int)
        #expect(run.edge("source/out->sink/in")["frames"] as? Int == produced)
    }

    @Test func aNodeThatDoesNotDrainIsCutAndItsFramesCounted() throws {
        // `sleeper` runs a program that never reads: its worker fills the pipe, then the ring backs up.
        let file = try TemporaryFile(contents: """
            flow: cut-stop
            version: 1
            nodes:
              - { id: source, kind: counter, config: { size: 64, rate_hz: 5000 } }
              - { id: sink, kind: stats, inputs: { in: source/out } }
              - id: sleeper
                kind: process
                config: { command: [sleep, "60"] }
                inputs:
                  in: { from: source/out, content_type: bytes }

            """)
        let process = try RunningCoordinator(arguments: [file.path, "--drain-timeout", "0.5"], flow: "cut-stop")
        Thread.sleep(forTimeInterval: 1.0)
        kill(process.pid, SIGINT)
        let run = try process.finish()
        #expect(run.status == 130)
        let stop = try #require(run.summary["stop"] as? [String: Any])
        #expect(stop["cut"] as? [String] == ["sleeper"])
        #expect(stop["drained"] as? [String] == ["source", "sink"])
        #expect(stop["drain_ns"] is NSNull)
        #expect(stop["drain_timeout_ns"] as? Int == 500_000_000)
        #expect(run.standardError.contains("nodes cut 0.5 s after the stop, still running: sleeper"), "\(run.standardError)")
        // Every frame the source made is accounted for on each edge: read, or left unread by the cut.
        let produced = try #require(run.node("source")["frames_out"] as? Int)
        #expect(run.edge("source/out->sink/in")["frames"] as? Int == produced)
        let cutEdge = run.edge("source/out->sleeper/in")
        let read = try #require(cutEdge["frames"] as? Int)
        let unread = try #require(cutEdge["unread"] as? Int)
        #expect(read + unread == produced)
    }

    @Test func aNegativeDrainTimeoutIsAUsageError() throws {
        let result = try CommandRunner.run(["run", "examples/sensor-chain.yaml", "--drain-timeout=-1"])
        #expect(result.status == 64)
        #expect(result.standardError.contains("--drain-timeout must be between 0 and 86400 seconds"))
    }
}
