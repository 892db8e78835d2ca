import ChronetixCore
import FlowAdapter
import Foundation
import Testing

/// One flow with one class of error: where it must be reported and what the message must say.
struct BadFlow: CustomTestStringConvertible, Sendable {
    let name: String
    let text: String
    let fileName: String
    /// `LINE:COL: error: ` followed by this text must appear among the diagnostics.
    let expected: String
    let hint: String?

    init(_ name: String, _ expected: String, hint: String? = nil, file: String = "flow.yaml", _ text: String) {
        self.name = name
        self.expected = expected
        self.hint = hint
        self.fileName = file
        self.text = text
    }

    var testDescription: String { name }
}

private let prelude = "flow: f\nnodes:\n"

@Suite struct DiagnosticTests {
    static let cases: [BadFlow] = [
        BadFlow("yaml syntax", "3:1: error: YAML syntax: did not find expected ',' or ']' (while parsing a flow sequence at 2:8)", "flow: f\nnodes: [a\n"),
        BadFlow("json syntax", "1:23: error: JSON syntax: expected ':' after key \"nodes\", found '['", file: "flow.json", #"{"flow": "f", "nodes" [] }"#),
        BadFlow("json trailing garbage", "1:15: error: JSON syntax: unexpected 'x' after the end of the document", file: "flow.json", #"{"flow": "f"} x"#),
        BadFlow("unknown top-level key", "4:1: error: unknown key 'nodez' in the flow", hint: "did you mean 'nodes'?",
            prelude + "  - { id: s, kind: sine }\nnodez: []\n"),
        BadFlow("unknown node key", "3:26: error: unknown key 'confg' in node 's'", hint: "did you mean 'config'?",
            prelude + "  - { id: s, kind: sine, confg: {} }\n"),
        BadFlow("missing flow name", "1:1: error: the flow is missing the required key 'flow'",
            "nodes:\n  - { id: s, kind: sine }\n"),
        BadFlow("missing kind", "3:5: error: node 's' is missing the required key 'kind'", prelude + "  - id: s\n"),
        BadFlow("missing required config", "5:5: error: node 'r' (file-reader) needs config key 'path'",
            prelude + "  - id: r\n    kind: file-reader\n    config: { mode: lines }\n  - { id: d, kind: discard, inputs: { in: r/out } }\n"),
        BadFlow("duplicate node id", "5:11: error: duplicate node id 's' (first defined at 3:9)",
            prelude + "  - id: s\n    kind: sine\n  - { id: s, kind: sine }\n"),
        BadFlow("unknown kind", "3:20: error: unknown node kind 'sinus'", hint: "did you mean 'sine'? (`chronetix nodes` lists every kind)",
            prelude + "  - { id: s, kind: sinus }\n"),
        BadFlow("input from a missing node", "4:43: error: input 'in' of node 'd' reads from node 'sorce', which is not in the flow",
            hint: "did you mean 'source'?",
            prelude + "  - { id: source, kind: sine }\n  - { id: d, kind: discard, inputs: { in: sorce/samples } }\n"),
        BadFlow("input from a missing output", "4:43: error: node 'source' (sine) has no output 'sample'",
            hint: "did you mean 'samples'?",
            prelude + "  - { id: source, kind: sine }\n  - { id: d, kind: discard, inputs: { in: source/sample } }\n"),
        BadFlow("malformed input reference", "4:43: error: input 'source' must name node/output",
            prelude + "  - { id: source, kind: sine }\n  - { id: d, kind: discard, inputs: { in: source } }\n"),
        BadFlow("cycle", "4:54: error: the flow has a cycle: a -> b -> a",
            prelude + "  - { id: s, kind: sine }\n  - { id: a, kind: merge, inputs: { x: s/samples, y: b/out } }\n"
                + "  - { id: b, kind: scale, inputs: { in: a/out } }\n"),
        BadFlow("port fed twice (yaml)", "error: key 'in' appears more than once in the same map",
            prelude + "  - { id: s, kind: sine }\n  - id: d\n    kind: discard\n    inputs:\n      in: s/samples\n      in: s/samples\n"),
        BadFlow("port fed twice (json)", "error: input port 'in' of node 'd' is fed twice", file: "flow.json",
            #"{"flow": "f", "nodes": [{"id": "s", "kind": "sine"}, {"id": "d", "kind": "discard", "inputs": {"in": "s/samples", "in": "s/samples"}}]}"#),
        BadFlow("input not connected", "3:20: error: input 'in' of node 'g' (scale) is not connected",
            prelude + "  - { id: g, kind: scale }\n  - { id: s, kind: sine }\n"),
        BadFlow("unknown input port", "4:37: error: scale has no input port 'inn'", hint: "did you mean 'in'?",
            prelude + "  - { id: s, kind: sine }\n  - { id: g, kind: scale, inputs: { inn: s/samples } }\n"),
        BadFlow("content type mismatch", "4:41: error: content type mismatch: input 'in' of node 'g' (scale) accepts f64 but c/out produces bytes",
            prelude + "  - { id: c, kind: counter }\n  - { id: g, kind: scale, inputs: { in: c/out } }\n"),
        BadFlow("merge mixes types", "5:50: error: merge node 'm' mixes content types: 'a' carries bytes but 'b' carries f64",
            prelude + "  - { id: c, kind: counter }\n  - { id: s, kind: sine }\n"
                + "  - { id: m, kind: merge, inputs: { a: c/out, b: s/samples } }\n"),
        BadFlow("unknown config key", "3:36: error: sine has no config key 'chanels'", hint: "did you mean 'channels'?",
            prelude + "  - { id: s, kind: sine, config: { chanels: 2 } }\n"),
        BadFlow("config of the wrong type", "3:46: error: config 'channels' of sine must be an integer, found a string",
            prelude + "  - { id: s, kind: sine, config: { channels: two } }\n"),
        BadFlow("config out of range", "3:46: error: config 'channels' of sine must be integer 1..4096, found 0",
            prelude + "  - { id: s, kind: sine, config: { channels: 0 } }\n"),
        BadFlow("yes is not a boolean", "4:60: error: config 'append' of file-writer must be true or false, found a string",
            hint: "YAML 1.2 reads 'yes' as a string: write true or false",
            prelude + "  - { id: s, kind: sine }\n  - { id: w, kind: file-writer, config: { path: x, append: yes }, inputs: { in: s/samples } }\n"),
        BadFlow("bad duration", "2:23: error: 'deadline': unknown unit 'sec' in '5sec'",
            "flow: f\ndefaults: { deadline: 5sec }\nnodes:\n  - { id: s, kind: sine }\n"),
        BadFlow("duration too long for a document", "2:23: error: 'deadline': '10000000000s' is too long",
            "flow: f\ndefaults: { deadline: 10000000000s }\nnodes:\n  - { id: s, kind: sine }\n"),
        BadFlow("duration config too long", "4:44: error: config 'delay' of delay: '10000000000s' is too long",
            prelude + "  - { id: s, kind: sine }\n  - { id: d, kind: delay, config: { delay: 10000000000s }, inputs: { in: s/samples } }\n"),
        BadFlow("duration without unit", "2:23: error: 'deadline' must be a duration like 50ms, found an integer",
            hint: "add a unit: 50ms, 50s, ... (ns, us, ms, s, m)",
            "flow: f\ndefaults: { deadline: 50 }\nnodes:\n  - { id: s, kind: sine }\n"),
        BadFlow("bad size", "2:32: error: 'capacity': unknown unit 'MB' in '1MB'",
            "flow: f\ndefaults: { queue: { capacity: 1MB } }\nnodes:\n  - { id: s, kind: sine }\n"),
        BadFlow("size out of range", "2:32: error: 'capacity' must be between 1KiB and 1GiB, found 8GiB",
            "flow: f\ndefaults: { queue: { capacity: 8GiB } }\nnodes:\n  - { id: s, kind: sine }\n"),
        // The largest ring the runtime makes is 1 GiB: a larger queue would be cut down at run time.
        BadFlow("queue larger than a ring", "3:45: error: 'capacity' must be between 1KiB and 1GiB, found 1073741825B",
            prelude + "  - { id: s, kind: sine, queue: { capacity: 1073741825 } }\n"),
        // One ring serves at most 16 readers: the 17th is where the error is.
        BadFlow("fan-out above a ring's readers",
            "20:45: error: output 'samples' of node 's' is read by 20 inputs, more than the 16 one output's shared-memory ring serves",
            hint: "let some of the readers read a copy: a 'delay' node with  delay: 0s  passes every frame on",
            prelude + "  - { id: s, kind: sine }\n"
                + (1...20).map { "  - { id: d\($0 + 10), kind: discard, inputs: { in: s/samples } }\n" }.joined()),
        BadFlow("unknown on_late on a node", "3:35: error: 'on_late' must be one of process, drop, found 'dorp'",
            hint: "did you mean 'drop'?", prelude + "  - { id: s, kind: sine, on_late: dorp }\n"),
        BadFlow("unknown on_late in defaults", "2:22: error: 'on_late' must be one of process, drop, found 'skip'",
            "flow: f\ndefaults: { on_late: skip }\nnodes:\n  - { id: s, kind: sine }\n"),
        BadFlow("unknown restart give_up", "3:66: error: restart 'give_up' must be one of stop-flow, leave-down, found 'leave'",
            prelude + "  - { id: s, kind: sine, restart: { policy: on-failure, give_up: leave } }\n"),
        BadFlow("misspelt on_late key", "3:26: error: unknown key 'on_lat' in node 's'", hint: "did you mean 'on_late'?",
            prelude + "  - { id: s, kind: sine, on_lat: drop }\n"),
        BadFlow("no source", "2:1: error: the flow has no source",
            prelude + "  - { id: a, kind: scale, inputs: { in: b/out } }\n  - { id: b, kind: scale, inputs: { in: a/out } }\n"),
        BadFlow("empty nodes", "2:8: error: 'nodes' is empty", "flow: f\nnodes: []\n"),
        BadFlow("bad flow name", "1:7: error: flow name 'My_Flow' must be", "flow: My_Flow\nnodes:\n  - { id: s, kind: sine }\n"),
        BadFlow("process output without a type", "5:15: error: output 'out' of process node 'p' needs a content type",
            prelude + "  - id: p\n    kind: process\n    outputs: [out]\n    config: { command: [cat] }\n"),
        BadFlow("unsupported version", "2:10: error: flow-file version 2 is not supported",
            "flow: f\nversion: 2\nnodes:\n  - { id: s, kind: sine }\n"),
        BadFlow("alias bomb", "error: the document expands to more than 100000 values",
            "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                + "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"),
        BadFlow("alias as a key", "2:6: error: an alias may not be used as a key",
            "flow: f\nx: { *a : 1 }\nnodes:\n  - { id: s, kind: sine }\n"),
        BadFlow("alias as a key after a stray quote", "3:6: error: an alias may not be used as a key",
            "flow: f\ndescription: 5\" wide\nx: { *a : 1 }\nnodes:\n  - { id: s, kind: sine }\n"),
        BadFlow("alias key bomb", "10:6: error: complex keys ('? key') are not supported in flow files",
            (["a0: &a0 [x,x,x,x,x,x,x,x,x,x]"] + (1...8).map { "a\($0): &a\($0) [" + Array(repeating: "*a\($0 - 1)", count: 10)
                .joined(separator: ",") + "]" } + ["m: { ? *a8 : 1, ? *a8 : 2 }"]).joined(separator: "\n")),
        BadFlow("deep nesting", "error: nesting deeper than 64 levels", "flow: " + String(repeating: "[", count: 5000)),
        BadFlow("not a map", "1:1: error: a flow file is a map with the keys 'flow' and 'nodes', not a list", "- a\n- b\n"),
    ]

    @Test(.timeLimit(.minutes(1)), arguments: cases)
    func reportsTheErrorWithItsPosition(_ flow: BadFlow) {
        let error = #expect(throws: CompileError.self) {
            try FlowAdapter.compile(text: flow.text, fileName: flow.fileName)
        }
        guard let error else { return }
        #expect(error.code == .invalid)
        let errors = error.diagnostics.filter { $0.severity == .error }
        let rendered = errors.map { "\($0.position): \($0.severity.rawValue): \($0.message)" }
        #expect(rendered.contains { $0.contains(flow.expected) }, "got:\n\(rendered.joined(separator: "\n"))")
        if let hint = flow.hint {
            #expect(errors.contains { $0.hint == hint }, "hints: \(errors.compactMap(\.hint))")
        }
        for diagnostic in error.diagnostics {
            #expect(diagnostic.description.hasPrefix("\(flow.fileName):\(diagnostic.position.line):\(diagnostic.position.column): "))
        }
    }

    @Test func reportsEveryProblemInOnePass() throws {
        let text = prelude + """
              - { id: s, kind: sinus }
              - { id: g, kind: scale, confg: {} }
              - { id: g, kind: scale }
              - { id: d, kind: discard, inputs: { in: nowhere/out } }
            """
        let error = try #require(throws: CompileError.self) { try FlowAdapter.compile(text: text, fileName: "f.yaml") }
        let messages = error.diagnostics.map(\.message)
        #expect(messages.contains { $0.contains("unknown node kind 'sinus'") })
        #expect(messages.contains { $0.contains("unknown key 'confg'") })
        #expect(messages.contains { $0.contains("duplicate node id 'g'") })
        #expect(messages.contains { $0.contains("node 'nowhere'") })
        #expect(error.diagnostics.map(\.position) == error.diagnostics.map(\.position).sorted())
    }

    @Test func questionMarksAndAsterisksInsideScalarsAreFine() throws {
        let text = "flow: f\ndescription: is it ok ? yes *really* 2 * 3\nnodes:\n  - id: s\n    kind: sine\n"
            + "    description: '? and *a: 1 are quoted here'\n  - { id: d, kind: discard, inputs: { in: s/samples } }\n"
            + "  - { id: e, kind: discard, description: it's 5\" wide, inputs: { in: s/samples } }\n"
        #expect(try FlowAdapter.compile(text: text, fileName: "f.yaml").flow.nodes.count == 3)
    }

    @Test func aliasesAsValuesExpandNormally() throws {
        let text = "flow: f\ndefaults:\n  queue: &q { capacity: 4KiB, policy: latest }\nnodes:\n  - id: s\n    kind: sine\n"
            + "    queue: *q\n  - { id: d, kind: discard, inputs: { in: s/samples } }\n"
        let flow = try FlowAdapter.compile(text: text, fileName: "f.yaml").flow
        #expect(flow.routes.edges.first?.queue == QueueSpec(capacityBytes: 4096, policy: .latest))
    }

    @Test(.timeLimit(.minutes(1)))
    func aChainAsLongAsAFileCanHoldCompilesWithoutExhaustingTheStack() throws {
        // 14,000 nodes in a line (close to the 1 MiB cap): the graph checks must not recurse once per node.
        var nodes = [#"{"id": "n0", "kind": "sine"}"#, #"{"id": "n1", "kind": "scale", "inputs": {"in": "n0/samples"}}"#]
        for index in 2..<14_000 {
            nodes.append(#"{"id": "n\#(index)", "kind": "scale", "inputs": {"in": "n\#(index - 1)/out"}}"#)
        }
        let text = #"{"flow": "long", "nodes": ["# + nodes.joined(separator: ",\n") + "]}"
        let flow = try FlowAdapter.compile(text: text, fileName: "long.json").flow
        #expect(flow.nodes.count == 14_000)
        #expect(flow.routes.edges.last?.contentType == .f64)  // types resolved all the way down
    }

    @Test func unusedOutputsAreWarningsNotErrors() throws {
        let compilation = try FlowAdapter.compile(text: prelude + "  - { id: s, kind: sine }\n", fileName: "f.yaml")
        #expect(compilation.warnings.count == 1)
        #expect(compilation.warnings.first?.severity == .warning)
        #expect(compilation.warnings.first?.message == "output 'samples' of node 's' is not used")
        #expect(compilation.flow.routes.edges.first?.to == [])
    }

    @Test func oversizedFilesAreRefusedBeforeParsing() throws {
        let limits = SourceLimits(maxFileBytes: 64)
        let error = try #require(throws: CompileError.self) {
            try FlowAdapter.compile(text: prelude + String(repeating: "# padding\n", count: 10), fileName: "f.yaml", limits: limits)
        }
        #expect(error.code == .unreadable)
        #expect(error.diagnostics.first?.message == "the flow file is larger than 64 bytes")
    }

    /// A node that fails its own checks is reported once, not again by the graph checks it drops out of.
    @Test(arguments: [
        ("  - { id: \(String(repeating: "a", count: 70)), kind: sine }\n", "3:11: node id 'aaaa"),
        ("  - { id: Source, kind: sine }\n", "3:11: node id 'Source' must be 1 to 63 characters"),
        ("  - { kind: sine }\n", "3:5: this node is missing the required key 'id'"),
        ("  - sine\n", "3:5: a node must be a map"),
    ])
    func aBadNodeIsReportedOnceNotItsCascade(node: String, expected: String) throws {
        let bad = node.contains("id: ") ? String(node.split(separator: " ")[3].dropLast()) : "x"
        let text = prelude + node + "  - { id: d, kind: discard, inputs: { in: \(bad)/samples } }\n"
        let error = try #require(throws: CompileError.self) { try FlowAdapter.compile(text: text, fileName: "f.yaml") }
        let errors = error.diagnostics.filter { $0.severity == .error }.map { "\($0.position): \($0.message)" }
        #expect(errors.count == 1 + (bad == "x" ? 1 : 0), "\(errors)")  // a read of an unnamed node is still unknown
        #expect(errors.first?.hasPrefix(expected) == true, "\(errors)")
        #expect(!errors.contains { $0.contains("no source") }, "\(errors)")
    }

    @Test func aTooLongIDSaysItsLength() throws {
        let text = prelude + "  - { id: \(String(repeating: "a", count: 70)), kind: sine }\n"
        let error = try #require(throws: CompileError.self) { try FlowAdapter.compile(text: text, fileName: "f.yaml") }
        #expect(error.diagnostics.map(\.message) == [
            "node id '\(String(repeating: "a", count: 40))…' (70 characters) is too long: ids have at most 63 characters"
        ])
    }

    @Test func longValuesAreQuotedShortened() {
        let long = String(repeating: "a", count: 100_000)
        #expect(Quote.quoted(long) == "'" + String(repeating: "a", count: 40) + "…' (100000 characters)")
        #expect(Quote.quoted("sine") == "'sine'")
        #expect(Quote.shortened(String(repeating: "9", count: 41)) == String(repeating: "9", count: 40) + "… (41 characters)")
    }

    static let hugeValues: [BadFlow] = {
        let id = String(repeating: "a", count: 100_000)
        let digits = String(repeating: "9", count: 500_000)
        return [
            BadFlow("100 KB node id", "node id 'aaaa", prelude + "  - { id: \(id), kind: sine }\n"),
            BadFlow("100 KB kind", "unknown node kind 'aaaa", prelude + "  - { id: s, kind: \(id) }\n"),
            // YAML allows no implicit key over 1024 characters: long keys come in JSON.
            BadFlow("100 KB key", "unknown key 'aaaa", file: "flow.json",
                #"{"flow": "f", "nodes": [{"id": "s", "kind": "sine", "\#(id)": 1}]}"#),
            BadFlow("100 KB config key", "sine has no config key 'aaaa", file: "flow.json",
                #"{"flow": "f", "nodes": [{"id": "s", "kind": "sine", "config": {"\#(id)": 1}}]}"#),
            BadFlow("100 KB reference", "reads from node 'aaaa",
                prelude + "  - { id: s, kind: sine }\n  - { id: d, kind: discard, inputs: { in: \(id)/samples } }\n"),
            BadFlow("100 KB port", "has no output 'aaaa",
                prelude + "  - { id: s, kind: sine }\n  - { id: d, kind: discard, inputs: { in: s/\(id) } }\n"),
            BadFlow("100 KB choice", "'qos' must be one of", prelude + "  - { id: s, kind: sine, qos: \(id) }\n"),
            BadFlow("500 000-digit integer (yaml)", "integer 9999", prelude + "  - { id: s, kind: sine, config: { channels: \(digits) } }\n"),
            BadFlow("500 000-digit integer (json)", "integer 9999", file: "flow.json",
                #"{"flow": "f", "nodes": [{"id": "s", "kind": "sine", "config": {"channels": \#(digits)}}]}"#),
            BadFlow("500 000-digit duration", "'deadline'", "flow: f\ndefaults: { deadline: \(digits)ms }\nnodes:\n  - { id: s, kind: sine }\n"),
            BadFlow("500 000-digit size", "'capacity'",
                "flow: f\ndefaults: { queue: { capacity: \(digits)KiB } }\nnodes:\n  - { id: s, kind: sine }\n"),
            BadFlow("500 000-digit duration without a unit", "'deadline' must be a duration",
                "flow: f\ndefaults: { deadline: 1.\(digits) }\nnodes:\n  - { id: s, kind: sine }\n"),
            BadFlow("100 KB json key", "JSON syntax: expected ':' after key \"aaaa", file: "flow.json", #"{"\#(id)" 1}"#),
        ]
    }()

    /// A hostile value is quoted shortened wherever it is repeated: the whole report stays small.
    @Test(.timeLimit(.minutes(1)), arguments: hugeValues)
    func hugeValuesKeepTheReportSmall(_ flow: BadFlow) throws {
        let error = try #require(throws: CompileError.self) {
            try FlowAdapter.compile(text: flow.text, fileName: flow.fileName)
        }
        let report = error.detailedDescription()
        #expect(report.utf8.count < 2048, "\(report.prefix(4096))")
        #expect(report.contains(flow.expected), "\(report.prefix(4096))")
    }

    // MARK: - Reading the file

    /// A fresh directory for files the reading tests make, removed afterwards.
    private static func withDirectory(_ body: (String) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chronetix-read-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }  // best effort: it is in the temporary directory
        try body(directory)
    }

    @Test(.timeLimit(.minutes(1)))
    func aFIFOIsRefusedAtOnceNotWaitedOn() throws {
        try Self.withDirectory { directory in
            let path = directory + "/flow.yaml"
            #expect(mkfifo(path, 0o600) == 0)
            let error = try #require(throws: CompileError.self) { try FlowAdapter.compile(file: path) }
            #expect(error.code == .unreadable)
            #expect(error.description == "\(path):1:1: error: is a named pipe (FIFO), not a regular file; a flow file must be one")
        }
    }

    @Test func devicesAreNotFlowFiles() throws {
        let error = try #require(throws: CompileError.self) { try FlowAdapter.compile(file: "/dev/null") }
        #expect(error.code == .unreadable)
        #expect(error.description == "/dev/null:1:1: error: is a character device, not a regular file; a flow file must be one")
    }

    @Test func aSymbolicLinkLoopIsCalledOne() throws {
        try Self.withDirectory { directory in
            try FileManager.default.createSymbolicLink(atPath: directory + "/a.yaml", withDestinationPath: "b.yaml")
            try FileManager.default.createSymbolicLink(atPath: directory + "/b.yaml", withDestinationPath: "a.yaml")
            let error = try #require(throws: CompileError.self) { try FlowAdapter.compile(file: directory + "/a.yaml") }
            #expect(error.code == .unreadable)
            #expect(error.diagnostics.first?.message == "is a symbolic-link loop (or a chain of more links than the system follows)")
        }
    }

    @Test func aReadErrorIsThePlainOSMessage() throws {
        // /proc/self/mem opens, but reading at offset 0 (unmapped) fails with EIO.
        let error = try #require(throws: CompileError.self) { try FlowAdapter.compile(file: "/proc/self/mem") }
        #expect(error.code == .unreadable)
        #expect(error.diagnostics.first?.message == "cannot be read: EIO: Input/output error")
    }

    @Test func textThatIsNotUTF8IsInvalidWithTheOffsetOfTheFirstBadByte() throws {
        try Self.withDirectory { directory in
            let path = directory + "/latin1.yaml"
            let bytes = Array("flow: f\nnodes:\n  - { id: s, kind: sine, description: caf".utf8) + [0xE9] + Array(" }\n".utf8)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let error = try #require(throws: CompileError.self) { try FlowAdapter.compile(file: path) }
            #expect(error.code == .invalid)
            #expect(error.description.hasPrefix("\(path):3:42: error: the file is not UTF-8 text: byte 0xE9 at offset 56 is not valid UTF-8\n"))
        }
    }

    @Test(arguments: [
        ([UInt8](), 0), (Array("abc".utf8), 3), ([0x61, 0xFF, 0x62], 1), ([0x61, 0xC3, 0xA9, 0xC3], 3),
        ([0xE2, 0x82], 0), (Array("é€😀".utf8) + [0x80], 9),
    ])
    func firstInvalidUTF8ByteIsFound(bytes: [UInt8], offset: Int) {
        #expect(FlowAdapter.firstInvalidUTF8(in: bytes) == offset)
    }

    @Test func missingFilesAreUnreadable() throws {
        let error = try #require(throws: CompileError.self) { try FlowAdapter.compile(file: "/nonexistent/flow.yaml") }
        #expect(error.code == .unreadable)
        #expect(error.description == "/nonexistent/flow.yaml:1:1: error: no such file")
    }
}
