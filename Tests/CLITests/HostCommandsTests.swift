import Foundation
import Testing

/// `chronetix ps`, `stop` and `logs` from "another terminal": real runs, found through their records in the
/// runtime directory, reached over their bus.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct HostCommandsTests {
    /// An unbounded two-node flow named `name`.
    static func flow(_ name: String) throws -> TemporaryFile {
        try TemporaryFile(contents: """
            flow: \(name)
            version: 1
            nodes:
              - { id: source, kind: counter, config: { size: 64, rate_hz: 1000 } }
              - { id: sink, kind: stats, inputs: { in: source/out } }

            """)
    }

    /// `chronetix ps --json`'s entries for `flow`.
    static func listed(_ flow: String) throws -> [[String: Any]] {
        let result = try CommandRunner.run(["ps", "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let all = try #require(try JSONSerialization.jsonObject(with: result.standardOutput) as? [[String: Any]])
        return all.filter { $0["flow"] as? String == flow }
    }

    /// Waits until `ps` lists `flow` as running, every node ready.
    static func waitUntilRunning(_ flow: String) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let entry = try listed(flow).first, entry["phase"] as? String == "running",
                (entry["nodes"] as? [String: Any])?["ready"] as? Int == 2
            {
                return entry
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("ps never listed \(flow) as running")
    }

    @Test func psListsARunWhileItGoesAndStopEndsIt() throws {
        let file = try Self.flow("host-ps-stop")
        let coordinator = try RunningCoordinator(arguments: [file.path, "--drain-timeout", "10", "--verbose"], flow: "host-ps-stop")
        let entry = try Self.waitUntilRunning("host-ps-stop")
        let run = try #require(entry["run"] as? String)
        #expect(run.hasPrefix("host-ps-stop-"))
        #expect(entry["pid"] as? Int == Int(coordinator.pid))
        #expect((entry["nodes"] as? [String: Any])?["total"] as? Int == 2)
        #expect(entry["uptime_s"] is Double)
        #expect(entry["restarts"] as? Int == 0)
        // The human table names it too.
        let table = try CommandRunner.run(["ps"])
        #expect(table.output.contains(run), "\(table.output)")

        // One snapshot of top, for people and as JSON: every node with its worker's pid and memory, the edge.
        let top = try CommandRunner.run(["top", run, "--once"])
        #expect(top.status == 0, "\(top.standardError)")
        #expect(top.output.contains("source/out->sink/in") && top.output.contains("counter") && top.output.contains("MiB"), "\(top.output)")
        let topJSON = try CommandRunner.run(["top", run, "--once", "--json"])
        let snapshot = try #require(try JSONSerialization.jsonObject(with: topJSON.standardOutput) as? [String: Any])
        let nodes = try #require(snapshot["nodes"] as? [[String: Any]])
        #expect(nodes.map { $0["node"] as? String } == ["source", "sink"])
        for node in nodes {
            #expect(node["state"] as? String == "ready")
            #expect(node["pid"] is Int)
            #expect((node["rss_bytes"] as? Int ?? 0) > 0, "\(node)")
            #expect(node["cpu_percent"] is Double, "\(node)")
        }
        #expect((snapshot["edges"] as? [[String: Any]])?.first?["edge"] as? String == "source/out->sink/in")

        // Its log, while it runs (--verbose logs the workers' attachments).
        let log = try CommandRunner.run(["logs", run])
        #expect(log.status == 0, "\(log.standardError)")
        #expect(log.output.contains("run=\(run)") && log.output.contains("bus client attached"), "\(log.output)")

        // A follower keeps printing until the run ends, and then ends by itself with the run's last lines.
        let follower = Process()
        follower.executableURL = CommandRunner.binaryDirectory.appendingPathComponent("chronetix")
        follower.arguments = ["logs", run, "--follow"]
        let followed = Pipe()
        follower.standardOutput = followed
        try follower.run()

        // Stopped from "another terminal", by a prefix of its id, with a drain timeout of its own.
        let stop = try CommandRunner.run(["stop", String(run.prefix(run.count - 3)), "--drain-timeout", "2"])
        #expect(stop.status == 0, "\(stop.standardError)")
        #expect(stop.output.contains("run \(run) ended: interrupted"), "\(stop.output)")
        #expect(stop.output.contains("every node drained"), "\(stop.output)")
        let result = try coordinator.finish()
        #expect(result.status == 130)
        let summary = try #require(result.summary["stop"] as? [String: Any])
        #expect((summary["cause"] as? String)?.hasPrefix("chronetix stop (pid ") == true, "\(summary)")
        #expect(summary["drain_timeout_ns"] as? Int == 2_000_000_000, "the stop's own drain timeout")
        #expect(result.summary["run"] as? String == run)
        let followedText = String(decoding: followed.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        follower.waitUntilExit()
        #expect(follower.terminationStatus == 0)
        #expect(followedText.contains("bus client attached"), "\(followedText)")
        // The workers' detachments come at the very end of the run.
        #expect(followedText.contains("bus client detached"), "\(followedText)")
        // Gone from ps, and its record with it.
        #expect(try Self.listed("host-ps-stop").isEmpty)
    }

    @Test func refusalsNameTheCandidatesAndChangeNothing() throws {
        let file = try Self.flow("host-refusals")
        let first = try RunningCoordinator(arguments: [file.path], flow: "host-refusals")
        let second = try RunningCoordinator(arguments: [file.path], flow: "host-refusals")
        _ = try Self.waitUntilRunning("host-refusals")
        let deadline = Date().addingTimeInterval(30)
        while try Self.listed("host-refusals").count < 2 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let runs = try Self.listed("host-refusals").compactMap { $0["run"] as? String }.sorted()
        try #require(runs.count == 2)

        let unknown = try CommandRunner.run(["stop", "no-such-flow-anywhere"])
        #expect(unknown.status == 64)
        #expect(unknown.standardError.contains("no running run or flow is called 'no-such-flow-anywhere'"), "\(unknown.standardError)")
        let ambiguous = try CommandRunner.run(["stop", "host-refusals"])
        #expect(ambiguous.status == 64)
        #expect(ambiguous.standardError.contains("flow 'host-refusals' has 2 runs running"), "\(ambiguous.standardError)")
        #expect(ambiguous.standardError.contains(runs[0]) && ambiguous.standardError.contains(runs[1]))
        let prefix = try CommandRunner.run(["stop", "host-refusals-"])
        #expect(prefix.status == 64)
        #expect(prefix.standardError.contains("is the start of 2 runs"), "\(prefix.standardError)")
        // Nothing was stopped.
        #expect(try Self.listed("host-refusals").count == 2)

        for run in runs {
            let stop = try CommandRunner.run(["stop", run])
            #expect(stop.status == 0, "\(stop.standardError)")
        }
        #expect(try first.finish().status == 130)
        #expect(try second.finish().status == 130)
    }

    @Test func logsAreReadableDuringAndAfterARunAndByNode() throws {
        // `broken` fails at its first frame and is restarted once before it gives up: lines about it, and
        // about nothing else, under its node.
        let file = try TemporaryFile(contents: """
            flow: host-logs
            version: 1
            nodes:
              - { id: source, kind: sine, config: { channels: 1, samples: 16, rate_hz: 200 } }
              - id: broken
                kind: filter
                config: { channel: 3, min: 0 }
                inputs: { in: source/samples }
              - { id: sink, kind: stats, inputs: { in: source/samples } }

            """)
        let run = try FlowRunResult.run([file.path], flow: "host-logs")
        #expect(run.status == 1)
        let id = try #require(run.summary["run"] as? String)
        let all = try CommandRunner.run(["logs", id])
        #expect(all.status == 0, "\(all.standardError)")
        #expect(all.output.contains("run=\(id) node=broken"), "\(all.output)")
        // The flow's name finds its latest run once none is running.
        let byFlow = try CommandRunner.run(["logs", "host-logs", "broken"])
        #expect(byFlow.status == 0, "\(byFlow.standardError)")
        let lines = byFlow.output.split(separator: "\n")
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { $0.contains(" node=broken ") }, "\(byFlow.output)")
        #expect(byFlow.output.contains("channel"), "\(byFlow.output)")
        let none = try CommandRunner.run(["logs", id, "sink"])
        #expect(!none.output.contains("node=broken"))
        let unknown = try CommandRunner.run(["logs", "host-logs-nosuch"])
        #expect(unknown.status == 64)
    }

    @Test func anotherUserCanNeitherSeeNorStopTheRun() throws {
        // Only when the tests run as root and `runuser` exists: the other user is `nobody`.
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser") else { return }
        let file = try Self.flow("host-other-user")
        let coordinator = try RunningCoordinator(arguments: [file.path], flow: "host-other-user")
        let run = try #require(try Self.waitUntilRunning("host-other-user")["run"] as? String)
        let chronetix = CommandRunner.binaryDirectory.appendingPathComponent("chronetix").path
        let environment = ProcessInfo.processInfo.environment
        let runtime = environment["CHRONETIX_RUNTIME_DIR"] ?? environment["XDG_RUNTIME_DIR"].map { "\($0)/chronetix" } ?? "/tmp/chronetix-0"
        // Even pointed at this user's runtime directory, nobody reads no record (0700, 0600) and so has no token.
        for arguments in [["ps", "--json"], ["stop", run], ["top", run, "--once"], ["logs", run]] {
            let result = try CommandRunner.run("/usr/sbin/runuser", ["-u", "nobody", "--", "env", "CHRONETIX_RUNTIME_DIR=\(runtime)", chronetix] + arguments)
            if arguments[0] == "ps" {
                #expect(result.status == 0)
                #expect(!result.output.contains(run), "\(result.output)")
            } else {
                #expect(result.status == 64, "\(arguments): \(result.standardError)")
                #expect(result.standardError.contains("no running run") || result.standardError.contains("no run or flow"), "\(result.standardError)")
            }
        }
        // The socket itself is out of reach too: its directory is this user's, mode 0700.
        let socket = "\(environment["TMPDIR"] ?? "/tmp")/chronetix-\(run)/bus.sock"
        let connect = try CommandRunner.run("/usr/sbin/runuser", ["-u", "nobody", "--", "python3", "-c", "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])", socket])
        #expect(connect.status != 0)
        #expect(connect.standardError.contains("Permission denied"), "\(connect.standardError)")
        // The run went on untouched.
        #expect(try Self.listed("host-other-user").first?["phase"] as? String == "running")
        #expect(try CommandRunner.run(["stop", run]).status == 0)
        #expect(try coordinator.finish().status == 130)
    }
}
