import Foundation
import Testing

/// `chronetix bench shm` and `chronetix bench bus` end to end: real processes, a real ring or bus, the JSON report.
/// No timing assertions.
@Suite(.serialized, .timeLimit(.minutes(2))) struct BenchCommandTests {
    @Test func throughputRunWritesEveryResultAndLeavesNothingBehind() throws {
        let before = Set(try Self.benchSegments())
        let output = Self.temporaryPath("throughput")
        defer { try? FileManager.default.removeItem(atPath: output) }  // absent when the command failed
        let result = try CommandRunner.run(["bench", "shm", "--sizes", "64,4K", "--duration", "0.2", "--json", output])
        #expect(result.status == 0, "stderr: \(result.standardError)")
        #expect(!result.standardError.contains("error"))
        #expect(result.output.contains("throughput"))

        let report = try Self.report(at: output)
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(results.map { $0["size"] as? Int } == [64, 4096])
        for entry in results {
            #expect(entry["mode"] as? String == "copy")
            #expect(entry["wait"] as? String == "adaptive")
            #expect((entry["frames"] as? Int ?? 0) > 0)
            #expect((entry["seconds"] as? Double ?? 0) > 0)
            #expect((entry["frames_per_second"] as? Double ?? 0) > 0)
            #expect((entry["bytes_per_second"] as? Double ?? 0) > 0)
            #expect(entry["latency_ns"] == nil)
            #expect(entry["errors"] == nil)
        }
        let machine = try #require(report["machine"] as? [String: Any])
        for key in ["cpu", "cores", "kernel", "hostname"] { #expect(machine[key] != nil, "machine.\(key)") }
        let build = try #require(report["build"] as? [String: Any])
        #expect(build["chronetix"] as? String != nil)
        #expect(build["swift"] as? String != nil)
        #expect(["debug", "release"].contains(build["configuration"] as? String ?? ""))

        #expect(Set(try Self.benchSegments()).subtracting(before).isEmpty)
    }

    @Test func latencyRunReportsPercentiles() throws {
        let output = Self.temporaryPath("latency")
        defer { try? FileManager.default.removeItem(atPath: output) }  // absent when the command failed
        let result = try CommandRunner.run([
            "bench", "shm", "--latency", "--mode", "zero-copy", "--sizes", "64", "--duration", "0.2", "--json", output,
        ])
        #expect(result.status == 0, "stderr: \(result.standardError)")
        let results = try #require(try Self.report(at: output)["results"] as? [[String: Any]])
        #expect(results.count == 1)
        let entry = try #require(results.first)
        #expect(entry["mode"] as? String == "zero-copy")
        #expect((entry["frames"] as? Int ?? 0) > 0)
        let latency = try #require(entry["latency_ns"] as? [String: Any])
        for key in ["p50", "p99", "p999"] { #expect((latency[key] as? Double ?? 0) > 0, "latency_ns.\(key)") }
    }

    @Test func rejectsPayloadsTooSmallForTheSequenceNumber() throws {
        let result = try CommandRunner.run(["bench", "shm", "--sizes", "4"])
        #expect(result.status == 64)
        #expect(result.standardError.contains("8-byte sequence number"))
    }

    @Test func busRunWritesEveryTestAndLeavesNothingBehind() throws {
        // What a killed bench leaves: a directory with a socket file nothing listens on. Its name carries a
        // live pid (this test's), so only the socket's listener, not the pid, can tell it is stale. A
        // directory that holds anything else is never touched.
        let temporary = FileManager.default.temporaryDirectory.path
        let stale = "\(temporary)/chronetix-bench-bus-\(getpid())-5ca1ab1e"
        let kept = "\(temporary)/chronetix-bench-bus-\(getpid())-0dd5"
        for directory in [stale, kept] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            #expect(FileManager.default.createFile(atPath: "\(directory)/bus.sock", contents: nil))
        }
        #expect(FileManager.default.createFile(atPath: "\(kept)/notes.txt", contents: Data("mine".utf8)))
        defer {
            try? FileManager.default.removeItem(atPath: stale)
            try? FileManager.default.removeItem(atPath: kept)
        }
        let before = Set(try Self.busDirectories())
        let output = Self.temporaryPath("bus")
        defer { try? FileManager.default.removeItem(atPath: output) }  // absent when the command failed
        let result = try CommandRunner.run([
            "bench", "bus", "--duration", "0.05", "--sizes", "64", "--subscribers", "1", "--json", output,
        ])
        #expect(result.status == 0, "stderr: \(result.standardError)")
        #expect(result.output.contains("request-reply-host"))

        let report = try Self.report(at: output)
        #expect(Set(report.keys) == ["results", "machine", "build"])
        let results = try #require(report["results"] as? [[String: Any]])
        let tests = results.map { $0["test"] as? String ?? "?" }
        #expect(tests == ["publish", "publish-batched", "publish-thread", "request-reply-host", "request-reply"])
        let fields: Set<String> = ["test", "payload", "subscribers", "messages", "seconds", "messages_per_second"]
        for entry in results {
            let test = entry["test"] as? String ?? "?"
            #expect(entry["payload"] as? Int == 64, "\(test)")
            #expect((entry["messages"] as? Int ?? 0) > 0, "\(test)")
            #expect((entry["seconds"] as? Double ?? 0) > 0, "\(test)")
            #expect((entry["messages_per_second"] as? Double ?? 0) > 0, "\(test)")
            if test.hasPrefix("request-reply") {
                #expect(Set(entry.keys) == fields.union(["latency_ns"]), "\(test)")
                #expect(entry["subscribers"] as? Int == (test == "request-reply" ? 1 : 0))
                let latency = try #require(entry["latency_ns"] as? [String: Any])
                #expect(Set(latency.keys) == ["p50", "p99", "p999"])
                for key in ["p50", "p99", "p999"] { #expect((latency[key] as? Double ?? 0) > 0, "\(test) \(key)") }
            } else {
                #expect(Set(entry.keys) == fields, "\(test)")
                #expect(entry["subscribers"] as? Int == 1)
            }
        }

        #expect(Set(try Self.busDirectories()).subtracting(before).isEmpty, "a bus directory is left behind")
        #expect(!FileManager.default.fileExists(atPath: stale), "the stale directory was removed")
        #expect(FileManager.default.fileExists(atPath: "\(kept)/notes.txt"), "a directory with more in it stays")
    }

    @Test func busRejectsPayloadsTooSmallForTheSequenceNumber() throws {
        let result = try CommandRunner.run(["bench", "bus", "--sizes", "64,4"])
        #expect(result.status == 64)
        #expect(result.standardError.contains("8-byte sequence number"))
    }

    private static func temporaryPath(_ label: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("chronetix-bench-\(getpid())-\(label).json").path
    }

    private static func report(at path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The bus benches' directories in the temporary directory (`chronetix-bench-bus-<pid>-<random>`).
    private static func busDirectories() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: FileManager.default.temporaryDirectory.path)
            .filter { $0.hasPrefix("chronetix-bench-bus-") }
    }

    /// The bench's segments in /dev/shm (`chronetix.bench-<pid>.…`).
    private static func benchSegments() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "/dev/shm").filter { $0.hasPrefix("chronetix.bench-") }
    }
}
