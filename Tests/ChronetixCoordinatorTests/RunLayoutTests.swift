import ChronetixCoordinator
import Testing

/// The one place a run's names are made and recognised: what the coordinator makes, cleanup recognises.
@Suite struct RunLayoutTests {
    @Test func whatARunIsNamedIsRecognisedAsItsOwn() throws {
        let layout = RunLayout(newRunOf: "sensor-chain", temporaryDirectory: "/tmp")
        #expect(layout.flow == "sensor-chain")
        #expect(layout.run.hasPrefix("sensor-chain-") && layout.run.count == "sensor-chain-".count + 8)
        #expect(layout.directory == "/tmp/chronetix-\(layout.run)")
        #expect(layout.socketPath == "/tmp/chronetix-\(layout.run)/bus.sock")
        let ring = layout.ringName(node: "gain", output: "out")
        #expect(ring == "/chronetix.\(layout.run).gain.out")
        #expect(RunLayout.runID(ofRingName: ring) == layout.run)
        #expect(RunLayout.runID(ofDirectoryName: "chronetix-\(layout.run)") == layout.run)
        #expect(RunLayout(run: layout.run, temporaryDirectory: "/tmp") == layout)
    }

    @Test(arguments: [
        "chronetix-", "chronetix-flow", "chronetix-flow-1234567", "chronetix-flow-123456789", "chronetix-Flow-12345678",
        "chronetix-flow-1234567g", "chronetix--12345678", "other-flow-12345678", "chronetix-flo.w-12345678",
    ])
    func otherDirectoryNamesAreNotRuns(_ name: String) {
        #expect(RunLayout.runID(ofDirectoryName: name) == nil)
    }

    @Test(arguments: [
        "/chronetix.test-ring", "/chronetix.flow-12345678.node", "/chronetix.flow-12345678.node.out.extra",
        "/chronetix.flow-12345678..out", "/chronetix.bench-x.a.b", "/other.flow-12345678.node.out", "chronetix.flow-12345678.node.out",
    ])
    func otherSegmentNamesAreNotRunRings(_ name: String) {
        #expect(RunLayout.runID(ofRingName: name) == nil)
    }
}
