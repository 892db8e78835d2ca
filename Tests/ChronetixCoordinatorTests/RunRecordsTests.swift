import ChronetixCoordinator
import ChronetixSystem
import Foundation
import Testing

/// Records in a runtime directory of the test's own: written, listed, judged live or stale, resolved.
@Suite struct RunRecordsTests {
    /// A fresh runtime directory under the temporary directory, removed at the end.
    final class Scratch {
        let directory: RuntimeDirectory
        init() {
            directory = RuntimeDirectory(path: "\(FileSystem.temporaryDirectory)/cx-runtime-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        }
        deinit { try? FileManager.default.removeItem(atPath: directory.path) }
    }

    static func record(_ run: String, flow: String, coordinator: ProcessIdentity = .current) -> RunRecord {
        RunRecord(
            run: run, flow: flow, coordinator: coordinator, socket: "/nonexistent/bus.sock", token: "t", startedAtNanoseconds: 1,
            log: "/nonexistent/log", nodes: ["a", "b"], edges: ["a/out->b/in"]
        )
    }

    @Test func aRecordIsPrivateAndReadBackWhole() throws {
        let scratch = Scratch()
        let records = RunRecords(directory: scratch.directory)
        let record = Self.record("demo-0000abcd", flow: "demo")
        try records.write(record)
        #expect(records.live() == [record])
        #expect(try FileSystem.status(of: scratch.directory.path).mode == 0o700)
        #expect(try FileSystem.status(of: scratch.directory.runs).mode == 0o700)
        #expect(try FileSystem.status(of: "\(scratch.directory.runs)/demo-0000abcd.cbor").mode == 0o600)
        records.remove(record.run)
        #expect(records.live().isEmpty)
    }

    @Test func aRecordWhoseCoordinatorIsGoneIsStaleAndRemoved() throws {
        let scratch = Scratch()
        let records = RunRecords(directory: scratch.directory)
        // This process's pid with another start time: what a reused pid looks like.
        let gone = ProcessIdentity(pid: getpid(), startTime: ProcessIdentity.current.startTime &+ 1)
        try records.write(Self.record("old-00000001", flow: "old", coordinator: gone))
        try records.write(Self.record("new-00000002", flow: "new"))
        // Garbage in the directory is not a record.
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: "\(scratch.directory.runs)/junk-00000003.cbor"))
        #expect(records.live().map(\.run) == ["new-00000002"])
        let removed = records.removeStale()
        #expect(removed.count == 2, "\(removed)")
        #expect(try Directory.entries(of: scratch.directory.runs) == ["new-00000002.cbor"])
    }

    @Test func aDirectoryOpenToOthersIsRefused() throws {
        let scratch = Scratch()
        try FileManager.default.createDirectory(atPath: scratch.directory.path, withIntermediateDirectories: false)
        chmod(scratch.directory.path, 0o755)
        #expect(throws: CoordinatorError.self) { try scratch.directory.prepare() }
    }

    @Test func runsAreNamedByIdPrefixOrFlow() throws {
        let records = [
            Self.record("sensor-chain-1f0c9a2e", flow: "sensor-chain"), Self.record("fan-out-0000aaaa", flow: "fan-out"),
            Self.record("fan-out-0000bbbb", flow: "fan-out"),
        ]
        #expect(try RunRecords.resolve("sensor-chain", among: records).run == "sensor-chain-1f0c9a2e")
        #expect(try RunRecords.resolve("sensor-chain-1f", among: records).run == "sensor-chain-1f0c9a2e")
        #expect(try RunRecords.resolve("fan-out-0000b", among: records).run == "fan-out-0000bbbb")
        #expect(try RunRecords.resolve("fan-out-0000aaaa", among: records).run == "fan-out-0000aaaa")
        #expect {
            try RunRecords.resolve("fan-out", among: records)
        } throws: { error in
            "\(error)" == "flow 'fan-out' has 2 runs running: fan-out-0000aaaa, fan-out-0000bbbb; name one"
        }
        #expect {
            try RunRecords.resolve("fan-out-0000", among: records)
        } throws: { error in
            "\(error)".contains("is the start of 2 runs: fan-out-0000aaaa, fan-out-0000bbbb")
        }
        #expect {
            try RunRecords.resolve(String(repeating: "x", count: 10_000), among: records)
        } throws: { error in
            "\(error)".contains("(10000 characters)") && "\(error)".count < 300
        }
        #expect {
            try RunRecords.resolve("nosuch", among: [])
        } throws: { error in
            "\(error)" == "no running run or flow is called 'nosuch' (no run is running)"
        }
    }
}
