import Foundation
import Testing

/// `on_late` end to end: real coordinator and worker processes. Every frame reaching the sink is late by
/// construction: the deadline budget is 1 ms, and the delay node holds each frame at least 50 ms past its
/// timestamp (which maps keep), so the sink receives it after its deadline whatever the machine's speed.
/// Each run is checked afterwards for leftovers (segments, run directory, workers).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct LateFramesTests {
    private func flow(_ name: String, sinkOnLate: String?) -> String {
        """
        flow: \(name)
        version: 1
        defaults: { deadline: 1ms }
        nodes:
          - id: source
            kind: counter
            config: { frames: 200 }
          - id: hold
            kind: delay
            config: { delay: 50ms }
            inputs: { in: source/out }
          - id: sink
            kind: stats
            inputs: { in: hold/out }
        \(sinkOnLate.map { "    on_late: \($0)" } ?? "")

        """
    }

    @Test func onLateDropCountsLateFramesWithoutHandingThemToTheNode() throws {
        let file = try TemporaryFile(contents: flow("late-drop", sinkOnLate: "drop"))
        let run = try FlowRunResult.run([file.path], flow: "late-drop")
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.summary["status"] as? String == "completed")
        let edge = run.edge("hold/out->sink/in")
        // Received (and counted as missed), but dropped before the node.
        #expect(edge["frames"] as? Int == 200)
        #expect(edge["bytes"] as? Int == 200 * 8)
        #expect(edge["deadline_misses"] as? Int == 200)
        #expect(edge["late_drops"] as? Int == 200)
        #expect(run.node("sink")["frames_in"] as? Int == 200)
        let report = try #require(run.node("sink")["report"] as? [String: Any])
        #expect(report["frames"] as? Int == 0)
        #expect(report["bytes"] as? Int == 0)
        // The delay node processes late frames (the default), so it forwards all of them.
        #expect(run.node("hold")["frames_out"] as? Int == 200)
        #expect(run.edge("source/out->hold/in")["late_drops"] as? Int == 0)
        // No frame was consumed by a sink.
        #expect(run.summary["first_frame_ns"] is NSNull)
        #expect(run.output.contains("200 (200 dropped)"), "\(run.output)")
        for node in ["source", "hold", "sink"] { #expect(run.node(node)["exit"] as? Int == 0) }
    }

    @Test func lateFramesAreProcessedByDefault() throws {
        let file = try TemporaryFile(contents: flow("late-process", sinkOnLate: nil))
        let run = try FlowRunResult.run([file.path], flow: "late-process")
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.summary["status"] as? String == "completed")
        let edge = run.edge("hold/out->sink/in")
        #expect(edge["frames"] as? Int == 200)
        #expect(edge["deadline_misses"] as? Int == 200)
        #expect(edge["late_drops"] as? Int == 0)
        let report = try #require(run.node("sink")["report"] as? [String: Any])
        #expect(report["frames"] as? Int == 200)
        #expect(report["bytes"] as? Int == 200 * 8)
        #expect(!run.output.contains("dropped"), "\(run.output)")
    }

    @Test func onLateProcessIsTheSameAsTheDefault() throws {
        let file = try TemporaryFile(contents: flow("late-explicit", sinkOnLate: "process"))
        let run = try FlowRunResult.run([file.path], flow: "late-explicit")
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.edge("hold/out->sink/in")["late_drops"] as? Int == 0)
        let report = try #require(run.node("sink")["report"] as? [String: Any])
        #expect(report["frames"] as? Int == 200)
    }
}
