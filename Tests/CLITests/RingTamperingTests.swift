import Foundation
import Testing

/// Another process of the same user tampers with a running flow's ring (docs/adr/0005): truncates it, forges
/// its `closed` flag, writes garbage into its counters. The coordinator survives, fails the run with what is
/// wrong, still writes the summary (without the ring's figures when they cannot be right), and leaves nothing
/// behind. Also: a source killed for good still shows the frames its edge carried.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct RingTamperingTests {
    /// A paced counter source (64-byte frames) and a sink; `frames` bounds the source (nil: until stopped).
    private func pair(_ flow: String, frames: Int?, sink: String = "stats") throws -> TemporaryFile {
        try TemporaryFile(contents: """
            flow: \(flow)
            version: 1
            defaults:
              queue: { capacity: 1MiB }
            nodes:
              - { id: source, kind: counter, config: { size: 64, rate_hz: 4000\(frames.map { ", frames: \($0)" } ?? "") } }
              - { id: sink, kind: \(sink), inputs: { in: source/out } }

            """)
    }

    /// The pid in an event line, `… node-ready      source (pid 1234)`.
    private func pid(in line: String) throws -> Int32 {
        let digits = try #require(line.range(of: #"\(pid (\d+)\)"#, options: .regularExpression))
        return try #require(Int32(line[digits].dropFirst(5).dropLast()))
    }

    /// Starts the flow and waits until frames are under way; returns the coordinator and the ring's name.
    private func started(_ file: TemporaryFile, flow: String) throws -> (RunningCoordinator, String) {
        let coordinator = try RunningCoordinator(arguments: [file.path, "--events"], flow: flow)
        try coordinator.waitForLine(containing: "flow-started", timeout: 30)
        Thread.sleep(forTimeInterval: 0.5)  // frames under way (how many does not matter)
        let ring = try #require(
            try FileManager.default.contentsOfDirectory(atPath: "/dev/shm").first { $0.hasPrefix("chronetix.\(flow)-") && $0.hasSuffix(".source.out") },
            "the ring of source/out"
        )
        return (coordinator, "/" + ring)
    }

    /// Stores `value` at `offset` of the ring's header page, through a mapping of this test process's own.
    private func poke<Value: FixedWidthInteger>(_ name: String, offset: Int, _ value: Value) throws {
        let descriptor = shm_open(name, O_RDWR, 0)
        try #require(descriptor >= 0, "shm_open \(name): \(errno)")
        defer { close(descriptor) }
        let base = try #require(mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), "mmap")
        try #require(base != MAP_FAILED, "mmap \(name): \(errno)")
        defer { munmap(base, 4096) }
        base.storeBytes(of: value, toByteOffset: offset, as: Value.self)
    }

    @Test func aRingTruncatedWhileMappedFailsTheRunAndTheCoordinatorReportsIt() throws {
        let flow = "tamper-truncate"
        let (coordinator, ring) = try started(try pair(flow, frames: nil), flow: flow)
        let descriptor = shm_open(ring, O_RDWR, 0)
        try #require(descriptor >= 0, "shm_open \(ring): \(errno)")
        #expect(ftruncate(descriptor, 0) == 0, "ftruncate: \(errno)")
        close(descriptor)
        let run = try coordinator.finish()  // the summary was written, nothing is left behind
        #expect(run.status == 1, "\(run.standardError)")
        #expect(run.summary["status"] as? String == "failed")
        #expect(run.standardError.contains("ring of edge source/out is broken: segment truncated to 0 bytes (expected "), "\(run.standardError)")
        let edge = run.edge("source/out->sink/in")
        #expect((edge["problem"] as? String)?.contains("is broken") == true, "\(edge)")
        #expect(edge["drops"] is NSNull, "no figures from a broken ring: \(edge)")
        // The workers that touched the ring died of SIGBUS, and are attributed as any crash.
        let failed = run.output.split(separator: "\n").filter { $0.contains("node-failed") }
        #expect(failed.contains { $0.contains("signal 7") }, "\(failed)")
    }

    @Test func aForgedClosedFlagThatEndsAStreamEarlyFailsTheEdge() throws {
        let flow = "tamper-closed"
        let (coordinator, ring) = try started(try pair(flow, frames: 8000), flow: flow)
        try poke(ring, offset: 204, 1 as UInt32)  // `closed`
        let run = try coordinator.finish()
        #expect(run.status == 1, "\(run.standardError)")
        #expect(run.summary["status"] as? String == "failed")
        let edge = run.edge("source/out->sink/in")
        let written = try #require(run.node("source")["frames_out"] as? Int)
        #expect(written == 8000)
        let read = try #require(edge["frames"] as? Int)
        #expect(read < 8000, "the sink ended early: \(edge)")
        #expect(edge["unread"] as? Int == 8000 - read, "\(edge)")
        #expect((edge["problem"] as? String)?.contains("\(8000 - read) of 8000 frames not accounted for") == true, "\(edge)")
        #expect(run.standardError.contains("edge source/out->sink/in failed"), "\(run.standardError)")
    }

    @Test func implausibleCountersAreReportedAsACorruptRingNeverAsFigures() throws {
        let flow = "tamper-garbage"
        let (coordinator, ring) = try started(try pair(flow, frames: 4000), flow: flow)
        try poke(ring, offset: 384 + 16, Int64.max)  // consumers[0].drops
        let run = try coordinator.finish()
        #expect(run.status == 1, "\(run.standardError)")
        #expect(run.standardError.contains("ring of edge source/out is corrupt: consumers[0].drops is 9223372036854775807, more than the"), "\(run.standardError)")
        let edge = run.edge("source/out->sink/in")
        #expect(edge["drops"] is NSNull, "\(edge)")
        #expect(edge["unread"] is NSNull, "\(edge)")
        // Named in what is wrong with the ring, never shown as a figure in the tables.
        let figures = run.output.split(separator: "\n").filter { !$0.contains("is corrupt") }
        #expect(!figures.contains { $0.contains("9223372036854775807") }, "\(run.output)")
    }

    @Test func aSourceKilledForGoodShowsTheFramesItsEdgeCarried() throws {
        let flow = "killed-source"
        let file = try pair(flow, frames: nil)
        let coordinator = try RunningCoordinator(arguments: [file.path, "--events"], flow: flow)
        let source = try pid(in: coordinator.waitForLine(containing: "node-ready      source ", timeout: 30))
        try coordinator.waitForLine(containing: "flow-started", timeout: 30)
        Thread.sleep(forTimeInterval: 0.5)
        kill(source, SIGKILL)  // restart: never (the default): the flow fails
        let run = try coordinator.finish()
        #expect(run.status == 1, "\(run.standardError)")
        let carried = try #require(run.edge("source/out->sink/in")["frames"] as? Int)
        #expect(carried > 0)
        #expect(run.node("source")["frames_out"] as? Int == carried, "\(run.node("source"))")
        #expect(run.node("sink")["frames_in"] as? Int == carried)
    }
}
