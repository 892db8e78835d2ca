import Foundation
import Testing

/// `process` nodes in real runs: a Python program between two catalogue nodes, a program as a source, and
/// the ways a program can go wrong (an error report, a bad exit, text on standard output, no such program).
/// Each run is checked for leftovers, the nodes' programs included.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ProcessNodeTests {
    /// A flow `counter → process → stats` running `command` (YAML list items) with `on_error`.
    private func flow(_ name: String, command: String, onError: String = "propagate", frames: Int = 500) -> String {
        """
        flow: \(name)
        version: 1
        nodes:
          - id: numbers
            kind: counter
            config: { size: 32, frames: \(frames) }
          - id: program
            kind: process
            config: { command: [\(command)] }
            on_error: \(onError)
            inputs:
              in: { from: numbers/out, content_type: bytes }
            outputs:
              - { name: out, content_type: bytes }
          - id: sink
            kind: stats
            inputs: { in: program/out }

        """
    }

    /// A flow `program → sink` where the program is Python `script` (lines joined by newlines) with no
    /// inputs and one `bytes` output; `nodeKeys` are extra YAML lines for the program node.
    private func sourceProgramFlow(_ name: String, script: [String], sink: String = "stats", nodeKeys: String = "") -> String {
        // YAML's double-quoted scalar turns each \n back into a newline.
        let command = script.joined(separator: "\\n").replacingOccurrences(of: "\"", with: "\\\"")
        return """
            flow: \(name)
            version: 1
            nodes:
              - id: program
                kind: process
                config: { command: [python3, -c, "\(command)"] }
                outputs:
                  - { name: out, content_type: bytes }\(nodeKeys.isEmpty ? "" : "\n    " + nodeKeys)
              - id: sink
                kind: \(sink)
                inputs: { in: program/out }

            """
    }

    /// Python that writes one frame record header for a payload of `length` on output `port`.
    private static func header(length: String, port: Int = 0) -> String {
        "struct.pack('<4sIHHIQqq', b'CXF1', \(length), \(port), 0, 0, 0, 0, 0)"
    }

    @Test func pythonExamplePassesEveryFrameThrough() throws {
        let run = try FlowRunResult.run(["examples/python-process.yaml"], flow: "python-process")
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.node("python")["frames_in"] as? Int == 2000)
        #expect(run.node("python")["frames_out"] as? Int == 2000)
        #expect(run.node("stats")["frames_in"] as? Int == 2000)
        // 2 channels × 256 samples × 8 bytes + the 8-byte header: the f64 frames arrive whole.
        #expect(run.edge("python/out->stats/in")["bytes"] as? Int == 2000 * (2 * 256 * 8 + 8))
        #expect(run.edge("python/out->stats/in")["drops"] as? Int == 0)
        // The program keeps each frame's timestamp: the sink's latency is measured from the source.
        let latency = try #require(run.edge("python/out->stats/in")["latency_ns"] as? [String: Any])
        #expect((latency["p50"] as? Int ?? 0) > 0)
        // The program's standard error reaches the run's log (through its worker's, captured by the
        // coordinator), each line labelled with the run, the node and the worker's pid.
        let python = try #require(run.node("python")["pid"] as? Int)
        let line = try #require(run.standardError.split(separator: "\n").first { $0.contains("process: python: done, 2000 frames") })
        #expect(line.contains(" info run=python-process-"), "\(line)")
        #expect(line.contains(" node=python pid=\(python): process: python: done, 2000 frames"), "\(line)")
    }

    @Test func theProgramSeesTheRunInItsEnvironment() throws {
        // The program reports what it was given as an error report on frame 0, under skip-frame, so the
        // message reaches the log; it passes no frames on.
        let script = "import os, struct, sys\\nsys.stdin.buffer.read()\\nm = ' '.join(os.environ.get(k, '-') for k in ['CHRONETIX_NODE', 'CHRONETIX_FLOW', 'TRACEPARENT', 'CHRONETIX_TOKEN', 'EXTRA']).encode()\\nsys.stdout.buffer.write(struct.pack('<4sIHHIQqq', b'CXF1', len(m), 0, 1, 0, 0, 0, 0) + m)"
        let file = try TemporaryFile(contents: """
            flow: process-environment
            version: 1
            nodes:
              - id: numbers
                kind: counter
                config: { size: 8, frames: 3 }
              - id: program
                kind: process
                config: { command: [python3, -c, "\(script)"], env: { EXTRA: given } }
                on_error: skip-frame
                inputs:
                  in: { from: numbers/out, content_type: bytes }
                outputs:
                  - { name: out, content_type: bytes }
              - id: sink
                kind: discard
                inputs: { in: program/out }

            """)
        let run = try FlowRunResult.run([file.path], flow: "process-environment")
        #expect(run.status == 0, "\(run.standardError)")
        let trace = try #require(run.summary["trace_parent"] as? String)
        // The token stays with the worker ('-'); the rest is the run's.
        #expect(run.standardError.contains("frame 0: program process-environment \(trace) - given"), "\(run.standardError)")
    }

    @Test func cborAndArrowFramesPassThroughUntouchedOnTwoOutputs() throws {
        // A program with two outputs: 50 CBOR items on `items` (cbor), 50 Arrow-like byte strings on `table`
        // (arrow). Each goes through a catalogue node that takes any type (merge, delay) into a file: the bytes
        // arrive as the program wrote them, and the readers found the right content type on every frame.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chronetix-formats-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = "import struct, sys\\nout = sys.stdout.buffer\\nfor i in range(50):\\n    item = bytes([0x82, 0x18, i + 24, 0x63]) + b'abc'\\n    out.write(struct.pack('<4sIHHIQqq', b'CXF1', len(item), 0, 0, 0, 0, 0, 0) + item)\\n    table = b'ARROW1' + bytes([i]) * (i + 1)\\n    out.write(struct.pack('<4sIHHIQqq', b'CXF1', len(table), 1, 0, 0, 0, 0, 0) + table)"
        let file = try TemporaryFile(contents: """
            flow: process-formats
            version: 1
            nodes:
              - id: program
                kind: process
                config: { command: [python3, -c, "\(script)"] }
                outputs:
                  - { name: items, content_type: cbor }
                  - { name: table, content_type: arrow }
              - id: join
                kind: merge
                inputs: { only: program/items }
              - id: hold
                kind: delay
                config: { delay: 1ms }
                inputs: { in: program/table }
              - id: cbor-file
                kind: file-writer
                config: { path: \(directory.path)/items.cbor }
                inputs: { in: join/out }
              - id: arrow-file
                kind: file-writer
                config: { path: \(directory.path)/table.arrows }
                inputs: { in: hold/out }

            """)
        let run = try FlowRunResult.run([file.path], flow: "process-formats")
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.node("program")["frames_out"] as? Int == 100)
        var items: [UInt8] = []
        var table: [UInt8] = []
        for i in 0..<50 {
            items += [0x82, 0x18, UInt8(i + 24), 0x63] + Array("abc".utf8)
            table += Array("ARROW1".utf8) + [UInt8](repeating: UInt8(i), count: i + 1)
        }
        #expect(FileManager.default.contents(atPath: directory.appendingPathComponent("items.cbor").path).map(Array.init) == items)
        #expect(FileManager.default.contents(atPath: directory.appendingPathComponent("table.arrows").path).map(Array.init) == table)
        #expect(run.node("cbor-file")["errors"] as? Int == 0)
        #expect(run.node("arrow-file")["errors"] as? Int == 0)
    }

    @Test func anErrorReportIsSkippedUnderSkipFrame() throws {
        let text = flow("process-skip", command: "python3, examples/process/passthrough.py, --fail-at, 7", onError: "skip-frame")
        let file = try TemporaryFile(contents: text)
        let run = try FlowRunResult.run([file.path], flow: "process-skip")
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.node("program")["errors"] as? Int == 1)
        #expect(run.node("sink")["frames_in"] as? Int == 499)
        #expect(run.standardError.contains("frame 7: frame 7 refused as asked"), "\(run.standardError)")
    }

    @Test func anErrorReportFailsTheNodeUnderPropagate() throws {
        let file = try TemporaryFile(contents: flow("process-propagate", command: "python3, examples/process/passthrough.py, --fail-at, 7"))
        let run = try FlowRunResult.run([file.path], flow: "process-propagate")
        #expect(run.status == 1)
        #expect(run.summary["status"] as? String == "failed")
        #expect(run.node("program")["exit"] as? Int == 1)
        #expect(run.node("program")["errors"] as? Int == 1)
        #expect(run.standardError.contains("frame 7 refused as asked"), "\(run.standardError)")
    }

    @Test func aProgramThatExitsEarlyFailsTheNode() throws {
        let file = try TemporaryFile(contents: flow("process-exit", command: "python3, examples/process/passthrough.py, --exit-at, 20", frames: 100_000))
        let run = try FlowRunResult.run([file.path], flow: "process-exit")
        #expect(run.status == 1)
        #expect(run.node("program")["exit"] as? Int == 1)
        // Either the write of a later frame found the pipe closed or the end was seen first; both name the status.
        #expect(run.standardError.contains("exit status 3"), "\(run.standardError)")
        // What the program passed on before it stopped reached the sink, and the sink ended normally.
        #expect(run.node("sink")["frames_in"] as? Int == 20)
        #expect(run.node("sink")["exit"] as? Int == 0)
    }

    @Test func textOnStandardOutputIsAClearError() throws {
        let file = try TemporaryFile(contents: flow("process-text", command: "sh, -c, 'echo hello from a script; cat > /dev/null'"))
        let run = try FlowRunResult.run([file.path], flow: "process-text")
        #expect(run.status == 1)
        #expect(run.standardError.contains("a record must start with CXF1, but the process wrote text \"hello from a script"), "\(run.standardError)")
        #expect(run.standardError.contains("something printed to standard output?"))
    }

    @Test func aMissingProgramFailsBeforeTheFlowStarts() throws {
        let file = try TemporaryFile(contents: flow("process-missing", command: "no-such-program-chronetix"))
        let run = try FlowRunResult.run([file.path], flow: "process-missing")
        #expect(run.status == 1)
        #expect(run.standardError.contains("cannot start no-such-program-chronetix"), "\(run.standardError)")
        #expect(run.node("numbers")["frames_out"] as? Int == 0)
    }

    @Test func aProgramWithoutInputsIsASource() throws {
        // 300 records of 16 bytes on output 0, then the end; the runtime stamps each frame's time.
        let file = try TemporaryFile(contents: sourceProgramFlow("process-source", script: [
            "import struct, sys",
            "for i in range(300):",
            "    sys.stdout.buffer.write(\(Self.header(length: "16")) + i.to_bytes(16, 'little'))",
        ]))
        let run = try FlowRunResult.run([file.path], flow: "process-source")
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.node("program")["frames_out"] as? Int == 300)
        #expect(run.edge("program/out->sink/in")["bytes"] as? Int == 300 * 16)
    }

    @Test func stoppingARunEndsAProgramWithoutInputsCleanly() throws {
        // An endless program source: a frame every 5 ms; it says so on standard error after its first.
        let file = try TemporaryFile(contents: sourceProgramFlow("process-stop", script: [
            "import struct, sys, time",
            "for i in range(1 << 40):",
            "    sys.stdout.buffer.write(\(Self.header(length: "8")) + i.to_bytes(8, 'little')); sys.stdout.flush()",
            "    if i == 0: print('running', file=sys.stderr, flush=True)",
            "    time.sleep(0.005)",
        ]))
        let process = try RunningCoordinator(arguments: [file.path], flow: "process-stop")
        _ = try process.waitForLine(containing: "process: running", timeout: 30, inStandardError: true)
        kill(process.pid, SIGINT)
        let run = try process.finish()
        #expect(run.status == 130)
        #expect(run.summary["status"] as? String == "interrupted")
        // The SIGTERM that stopped the program is its expected end: the node completed.
        #expect(run.node("program")["exit"] as? Int == 0, "\(run.standardError)")
        let produced = try #require(run.node("program")["frames_out"] as? Int)
        #expect(produced > 0)
        #expect(run.node("sink")["frames_in"] as? Int == produced)
    }

    @Test func aFrameTooLargeForItsRingIsAClearError() throws {
        // The edge's ring holds frames up to about half its 4 KiB; the program announces 1 MiB.
        let file = try TemporaryFile(contents: sourceProgramFlow("process-large", script: [
            "import struct, sys",
            "sys.stdout.buffer.write(\(Self.header(length: "1 << 20"))); sys.stdout.flush(); sys.stdin.buffer.read()",
        ], sink: "discard", nodeKeys: "queue: { capacity: 4KiB }"))
        let run = try FlowRunResult.run([file.path], flow: "process-large")
        #expect(run.status == 1)
        #expect(run.standardError.contains("frame too large"), "\(run.standardError)")
    }
}
