import ArgumentParser
import ChronetixCBOR
import ChronetixCore
import FlowAdapter
import Foundation

/// Exit codes shared by the commands that read flow files (sysexits.h: EX_DATAERR, EX_NOINPUT, EX_CANTCREAT):
/// 65 invalid flow, 66 unreadable flow file, 73 an output file (`-o`, `--summary-json`, `--events-file`) that
/// cannot be written, found before the command starts its work.
enum FlowExit {
    static let invalid = ExitCode(65)
    static let unreadable = ExitCode(66)
    static let cannotWrite = ExitCode(73)

    /// What a shell completes for a flow-file argument.
    static let flowFileCompletion = CompletionKind.file(extensions: ["yaml", "yml", "json"])

    /// Compiles `path`, printing every diagnostic to stderr; the one place a CompileError becomes an exit code.
    static func compile(_ path: String) throws(ExitCode) -> FlowAdapter.Compilation {
        do {
            let compilation = try FlowAdapter.compile(file: path)
            for warning in compilation.warnings { StandardError.print(warning.description) }
            return compilation
        } catch {
            StandardError.print(error.detailedDescription())
            throw error.code == .unreadable ? unreadable : invalid
        }
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Checks a flow file and reports every problem in it.",
        discussion: "Exit status: 0 valid (warnings may be printed), 64 usage error, 65 invalid, 66 unreadable."
    )

    @Argument(help: "The flow file (.yaml, .yml or .json).", completion: FlowExit.flowFileCompletion)
    var file: String

    func run() throws {
        let compilation = try FlowExit.compile(file)
        let flow = compilation.flow
        let warnings = compilation.warnings.count
        print(
            "\(file): flow '\(flow.flow)' is valid: \(flow.nodes.count) node\(flow.nodes.count == 1 ? "" : "s"), "
                + "\(flow.routes.edges.count) edge\(flow.routes.edges.count == 1 ? "" : "s")"
                + (warnings > 0 ? ", \(warnings) warning\(warnings == 1 ? "" : "s")" : "")
        )
    }
}

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compiles a flow file into per-node manifests, routes and schemas.",
        discussion: """
            The output is deterministic: the same flow gives the same bytes, in either format. \
            docs/compiled-format.md describes it. Exit status as for validate; 73 when the output cannot be written.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case json, cbor
    }

    @Argument(help: "The flow file (.yaml, .yml or .json).", completion: FlowExit.flowFileCompletion)
    var file: String

    @Option(help: "The output format.")
    var format: Format = .json

    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.", completion: .file())
    var output: String?

    func run() throws {
        try OutputPath.check([("-o", output)], command: "chronetix compile")
        let compilation = try FlowExit.compile(file)
        let tree: StructuredValue
        do {
            tree = try StructuredValueEncoder().encode(compilation.flow)
        } catch {
            StandardError.print("error: the compiled flow could not be encoded: \(error)")
            throw ExitCode.failure
        }
        let bytes: [UInt8] =
            switch format {
            case .json: Array(JSONText.write(tree, style: .pretty).utf8)
            case .cbor: CBOR.encode(tree)
            }
        try OutputFile.write(bytes, to: output)
    }
}

struct Graph: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draws a flow: nodes, ports, and edges with their content type and queue policy.",
        discussion: """
            Render dot with `dot -Tsvg` (graphviz); Mermaid renders in Markdown. Exit status as for validate; 73 \
            when the output cannot be written.
            """
    )

    @Argument(help: "The flow file (.yaml, .yml or .json).", completion: FlowExit.flowFileCompletion)
    var file: String

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case dot, mermaid
    }

    @Option(help: "The picture's syntax: dot or mermaid.")
    var format: Format = .dot

    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.", completion: .file())
    var output: String?

    func run() throws {
        try OutputPath.check([("-o", output)], command: "chronetix graph")
        let compilation = try FlowExit.compile(file)
        try OutputFile.write(Array(FlowGraph.render(compilation.flow, as: format == .dot ? .dot : .mermaid).utf8), to: output)
    }
}

/// Writes command output to stdout or to a file (through a temporary file, renamed into place).
enum OutputFile {
    static func write(_ bytes: [UInt8], to path: String?) throws(ExitCode) {
        guard let path else {
            FileHandle.standardOutput.write(Data(bytes))
            return
        }
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            StandardError.print("error: cannot write \(path): \(OutputPath.reason(error))")
            throw FlowExit.cannotWrite
        }
    }
}
