import ChronetixCore
import Foundation
import Testing

@Suite(.serialized) struct CLITests {
    @Test func bothExecutablesReportTheSameVersion() throws {
        let coordinator = try CommandRunner.run("chronetix", ["--version"])
        let worker = try CommandRunner.run("chronetix-worker", ["--version"])
        #expect(coordinator.status == 0)
        #expect(worker.status == 0)
        #expect(coordinator.output.trimmingCharacters(in: .whitespacesAndNewlines) == Chronetix.version)
        #expect(worker.output == coordinator.output)
    }

    @Test func workerCommandLineErrorsAreUsageErrors() throws {
        let help = try CommandRunner.run("chronetix-worker", ["--help"])
        #expect(help.status == 0)
        #expect(help.output.contains("USAGE: chronetix-worker --bus <bus> --node <node> [--token <token>]"))
        let missing = try CommandRunner.run("chronetix-worker", ["--bus", "/tmp/x.sock"])
        #expect(missing.status == 64)
        #expect(missing.standardError.contains("Missing expected argument '--node <node>'"))
        let unknown = try CommandRunner.run("chronetix-worker", ["--bus=/tmp/x.sock", "--node", "n", "--verbose"])
        #expect(unknown.status == 64)
        #expect(unknown.standardError.contains("Unknown option '--verbose'"))
        let noValue = try CommandRunner.run("chronetix-worker", ["--node", "--bus", "/tmp/x.sock"])
        #expect(noValue.status == 64)
        #expect(noValue.standardError.contains("Missing value for '--node <node>'"))
        // Well-formed, but nothing listens there: the worker cannot attach (3).
        let absent = try CommandRunner.run("chronetix-worker", ["--bus", "/nonexistent/bus.sock", "--node", "n", "--token", "t"])
        #expect(absent.status == 3)
        #expect(absent.standardError.contains("chronetix-worker[n]: cannot attach to the bus at /nonexistent/bus.sock"))
    }

    @Test func validateExitsZeroOnAValidFlow() throws {
        let result = try CommandRunner.run(["validate", "examples/sensor-chain.yaml"])
        #expect(result.status == 0)
        #expect(result.output == "examples/sensor-chain.yaml: flow 'sensor-chain' is valid: 3 nodes, 2 edges\n")
        #expect(result.standardError.isEmpty)
    }

    @Test func validateExits65WithEveryErrorOnStandardError() throws {
        let file = try TemporaryFile(contents: "flow: f\nnodes:\n  - { id: s, kind: sinus }\n  - { id: t, kidn: sine }\n")
        let result = try CommandRunner.run(["validate", file.path])
        #expect(result.status == 65)
        #expect(result.output.isEmpty)
        #expect(result.standardError.contains("\(file.path):3:20: error: unknown node kind 'sinus'"))
        #expect(result.standardError.contains("    hint: did you mean 'sine'?"))
        #expect(result.standardError.contains("\(file.path):4:14: error: unknown key 'kidn' in node 't'"))
        #expect(!result.standardError.contains("Fatal error"))
    }

    @Test func validateExits66OnAnUnreadableFile() throws {
        let result = try CommandRunner.run(["validate", "/nonexistent/flow.yaml"])
        #expect(result.status == 66)
        #expect(result.standardError.hasPrefix("/nonexistent/flow.yaml:1:1: error: no such file"))
        let directory = try CommandRunner.run(["validate", "/tmp"])
        #expect(directory.status == 66)
    }

    @Test(.timeLimit(.minutes(1)))
    func aFIFOIsRefusedAtOnceAndTextThatIsNotUTF8IsInvalid() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chronetix-cli-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }  // best effort: it is in the temporary directory
        let fifo = directory + "/flow.yaml"
        #expect(mkfifo(fifo, 0o600) == 0)
        for command in ["validate", "compile", "graph", "run"] {
            let result = try CommandRunner.run([command, fifo])
            #expect(result.status == 66, "\(command): \(result.standardError)")
            #expect(result.standardError.hasPrefix("\(fifo):1:1: error: is a named pipe (FIFO), not a regular file"), "\(command)")
        }
        let latin1 = directory + "/latin1.yaml"
        try Data(Array("flow: f\nnodes:\n  - { id: s, kind: sine, description: caf".utf8) + [0xE9, 0x0A]).write(to: URL(fileURLWithPath: latin1))
        let invalid = try CommandRunner.run(["validate", latin1])
        #expect(invalid.status == 65)
        #expect(invalid.standardError.hasPrefix("\(latin1):3:42: error: the file is not UTF-8 text: byte 0xE9 at offset 56"))
    }

    @Test func compileWritesJSONAndCBORThatAgreeAcrossSyntaxes() throws {
        let yaml = try CommandRunner.run(["compile", "examples/sensor-chain.yaml"])
        let json = try CommandRunner.run(["compile", "examples/sensor-chain.json"])
        #expect(yaml.status == 0)
        #expect(yaml.standardOutput == json.standardOutput)
        #expect(yaml.output.hasPrefix("{\n  \"format\": 1,\n  \"flow\": \"sensor-chain\","))
        let yamlCBOR = try CommandRunner.run(["compile", "--format", "cbor", "examples/sensor-chain.yaml"])
        let jsonCBOR = try CommandRunner.run(["compile", "--format", "cbor", "examples/sensor-chain.json"])
        #expect(yamlCBOR.status == 0)
        #expect(yamlCBOR.standardOutput == jsonCBOR.standardOutput)
        #expect(yamlCBOR.standardOutput.first == 0xA7)  // a map of the seven top-level keys
    }

    @Test func compileWritesToAFileWithDashO() throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("chronetix-cli-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: output) }  // absent when the command failed
        let result = try CommandRunner.run(["compile", "examples/sensor-chain.yaml", "-o", output.path])
        #expect(result.status == 0)
        #expect(result.output.isEmpty)
        let stdout = try CommandRunner.run(["compile", "examples/sensor-chain.yaml"])
        #expect(try Data(contentsOf: output) == stdout.standardOutput)
        let unwritable = try CommandRunner.run(["compile", "examples/sensor-chain.yaml", "-o", "/nonexistent/dir/out.json"])
        #expect(unwritable.status == 73)
    }

    @Test func graphDrawsDotAndMermaid() throws {
        let dot = try CommandRunner.run(["graph", "examples/sensor-chain.yaml"])
        #expect(dot.status == 0)
        #expect(dot.output.hasPrefix("digraph \"sensor-chain\" {"))
        #expect(dot.output.contains("\"source\":\"out_samples\" -> \"gain\":\"in_in\" [label=\"samples: f64, 1MiB block\""))
        let mermaid = try CommandRunner.run(["graph", "--format", "mermaid", "examples/sensor-chain.yaml"])
        #expect(mermaid.status == 0)
        #expect(mermaid.output.hasPrefix("flowchart LR\n"))
        #expect(mermaid.output.contains("n0 -->|\"samples: f64, 1MiB block → in\"| n1"))
        let invalid = try CommandRunner.run(["graph", "/nonexistent.yaml"])
        #expect(invalid.status == 66)
    }

    @Test func nodesListsTheCatalogue() throws {
        let result = try CommandRunner.run(["nodes"])
        #expect(result.status == 0)
        for kind in ["sine", "random", "counter", "file-reader", "scale", "filter", "window", "delay", "merge", "stats",
            "file-writer", "log", "discard", "process"]
        {
            #expect(result.output.contains("\n\(kind)  [") || result.output.hasPrefix("\(kind)  ["), "\(kind)")
        }
        let one = try CommandRunner.run(["nodes", "scale"])
        #expect(one.output.hasPrefix("scale  [map, business]"))
        #expect(one.output.contains("factor  number; default 1.0; reloadable."))
        // A key that cannot change while the node runs says nothing of the kind.
        let filter = try CommandRunner.run(["nodes", "filter"])
        #expect(filter.output.contains("channel  integer >= 0; default 0. the channel tested"), "\(filter.output)")
        #expect(filter.output.contains("min      number; optional; reloadable."), "\(filter.output)")
        let unknown = try CommandRunner.run(["nodes", "scael"])
        #expect(unknown.status != 0)
        #expect(unknown.standardError.contains("unknown node kind 'scael' (did you mean 'scale'?)"))
    }

    @Test func nodesWithAnUnknownKindSaysSoWithTheKindsNotTheTopLevelUsage() throws {
        let result = try CommandRunner.run(["nodes", "sinus"])
        #expect(result.status == 64)
        #expect(result.output.isEmpty)
        #expect(result.standardError.hasPrefix("chronetix nodes: unknown node kind 'sinus' (did you mean 'sine'?)\n"))
        #expect(result.standardError.contains("the kinds: sine, random, counter, file-reader,"))
        #expect(!result.standardError.contains("Usage:"))
    }

    /// The generated bash completion offers flow files to the commands that read them, and kinds to `nodes`.
    @Test func bashCompletionOffersFlowFilesAndKinds() throws {
        let result = try CommandRunner.run(["--generate-completion-script", "bash"])
        #expect(result.status == 0)
        func body(of command: String) -> String {
            guard let start = result.output.range(of: "\n_chronetix_\(command)() {\n") else { return "" }
            let rest = result.output[start.upperBound...]
            return String(rest[..<(rest.range(of: "\n}\n")?.lowerBound ?? rest.endIndex)])
        }
        for command in ["run", "validate", "compile", "graph"] {
            #expect(body(of: command).contains("-fX '!*.@(yaml|yml|json)'"), "\(command)")
        }
        for option in ["--summary-json", "--events-file"] {
            #expect(body(of: "run").contains("'\(option)')\n        __chronetix_add_completions -f\n"), "\(option)")
        }
        #expect(body(of: "compile").contains("__chronetix_add_completions -f\n"))  // -o
        #expect(body(of: "nodes").contains("'sine'$'\\n''random'"))
    }

    /// Output files that cannot be written are found before any work, said plainly, exit 73.
    @Test(arguments: [
        (["run", "examples/sensor-chain.yaml", "--summary-json", "/nonexistent/dir/summary.json"],
            "chronetix run: cannot write --summary-json /nonexistent/dir/summary.json: there is no directory /nonexistent/dir"),
        (["run", "examples/sensor-chain.yaml", "--events-file", "/tmp"], "chronetix run: cannot write --events-file /tmp: it is a directory"),
        (["run", "examples/sensor-chain.yaml", "--summary-json", "examples/sensor-chain.yaml/x.json"],
            "chronetix run: cannot write --summary-json examples/sensor-chain.yaml/x.json: examples/sensor-chain.yaml is not a directory"),
        (["compile", "examples/sensor-chain.yaml", "-o", "/tmp"], "chronetix compile: cannot write -o /tmp: it is a directory"),
        (["graph", "examples/sensor-chain.yaml", "-o", "/nonexistent/g.dot"],
            "chronetix graph: cannot write -o /nonexistent/g.dot: there is no directory /nonexistent"),
    ])
    func unwritableOutputsAreRefusedBeforeTheWork(arguments: [String], message: String) throws {
        let result = try CommandRunner.run(arguments)
        #expect(result.status == 73)
        #expect(result.output.isEmpty)  // no summary, no compiled flow: nothing ran
        #expect(result.standardError == message + "\n")
    }

    @Test func runHelpListsEveryExitStatus() throws {
        let result = try CommandRunner.run(["run", "--help"])
        #expect(result.status == 0)
        let text = result.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for status in ["0 completed", "1 a node failed", "64 usage error", "65 invalid flow", "66 unreadable flow file",
            "69 no worker executable", "73 a --summary-json or --events-file path that cannot be written", "130 interrupted"]
        {
            #expect(text.contains(status), "\(status)")
        }
    }

    @Test func gcCountsInWords() throws {
        let result = try CommandRunner.run(["gc", "--dry-run"])
        #expect(result.status == 0)
        #expect(!result.output.contains("(s)"))
        #expect(!result.output.contains("directorie("))
        let lines = result.output.split(separator: "\n").filter { $0.hasPrefix("would remove ") && !$0.contains(":") }
        #expect(lines.count == 2, "\(result.output)")
        for line in lines {
            let count = Int(line.split(separator: " ")[2]) ?? -1
            #expect(line.contains(count == 1 ? "stale segment;" : "stale segments;") || line.hasSuffix(count == 1 ? "stale run directory" : "stale run directories"), "\(line)")
        }
    }

    /// `graph | dot -Tsvg` draws the example (when graphviz is installed; scripts/setup.sh installs it).
    @Test func graphOutputIsReadByGraphviz() throws {
        guard let dot = ["/usr/bin/dot", "/usr/local/bin/dot"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return  // no graphviz here: nothing to check against
        }
        let graph = try CommandRunner.run(["graph", "examples/sensor-chain.yaml"])
        #expect(graph.status == 0)
        let drawn = try CommandRunner.run(dot, ["-Tsvg"], input: graph.standardOutput)
        #expect(drawn.status == 0, "\(drawn.standardError)")
        #expect(drawn.standardError.isEmpty, "\(drawn.standardError)")
        #expect(drawn.output.contains("<svg"))
    }

    @Test func badArgumentsAreUsageErrorsNotCrashes() throws {
        let result = try CommandRunner.run(["compile", "--format", "xml", "examples/sensor-chain.yaml"])
        #expect(result.status == 64)
        #expect(result.standardError.contains("xml"))
    }
}

/// A file in the temporary directory, removed when the value is released.
final class TemporaryFile {
    let path: String

    init(contents: String, suffix: String = ".yaml") throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("chronetix-test-\(UUID())\(suffix)").path
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }  // best effort: the OS cleans /tmp too
}
