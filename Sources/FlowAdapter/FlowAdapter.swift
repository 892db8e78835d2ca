public import ChronetixCore
import Foundation

/// Reads flow files (YAML or JSON) and compiles them into a ``CompiledFlow``.
///
/// Every problem in a file is reported in one pass, each with its line and column; the compiled output
/// is deterministic.
public enum FlowAdapter {
    /// The syntax of a flow file.
    public enum SourceFormat: String, Sendable {
        case yaml, json

        /// The format named by a file's extension (`.json` is JSON, `.yaml` and `.yml` are YAML), or, for any
        /// other name, guessed from the text: JSON when its first non-blank character is `{`.
        public static func detect(fileName: String, text: String) -> SourceFormat {
            let lowered = fileName.lowercased()
            if lowered.hasSuffix(".json") { return .json }
            if lowered.hasSuffix(".yaml") || lowered.hasSuffix(".yml") { return .yaml }
            let first = text.unicodeScalars.first(where: { !$0.properties.isWhitespace && $0 != "\u{FEFF}" })
            return first == "{" ? .json : .yaml
        }
    }

    /// A successful compilation: the flow and the warnings found on the way.
    public struct Compilation: Sendable {
        public var flow: CompiledFlow
        public var warnings: [Diagnostic]
    }

    /// Reads and compiles the flow file at `path`.
    /// - Parameters:
    ///   - path: the file, as the user named it (diagnostics use this text).
    ///   - limits: bounds on the file's size and on what it may expand to.
    /// - Throws: ``CompileError`` with code `.unreadable` when the file cannot be read, `.invalid` with
    ///   every problem when it is not a valid flow.
    public static func compile(file path: String, limits: SourceLimits = .default) throws(CompileError) -> Compilation {
        let text = try read(path, limits: limits)
        return try compile(text: text, fileName: path, limits: limits)
    }

    /// Compiles flow-file text.
    /// - Parameters:
    ///   - text: the flow file's contents.
    ///   - fileName: the name used in diagnostics and, when `format` is nil, to pick the syntax.
    ///   - format: the syntax; nil to detect it.
    /// - Throws: ``CompileError`` (`.invalid`) with every problem found.
    public static func compile(
        text: String,
        fileName: String,
        format: SourceFormat? = nil,
        limits: SourceLimits = .default
    ) throws(CompileError) -> Compilation {
        var log = DiagnosticLog(file: fileName)
        guard text.utf8.count <= limits.maxFileBytes else {
            log.error(.start, "the flow file is larger than \(limits.maxFileBytes) bytes")
            throw CompileError(code: .unreadable, diagnostics: log.sorted)
        }
        let root: SourceNode
        switch format ?? SourceFormat.detect(fileName: fileName, text: text) {
        case .json:
            do {
                root = try JSONSourceParser.parse(text, limits: limits)
            } catch {
                log.error(error.position, "JSON syntax: \(error.message)")
                throw CompileError(code: .invalid, diagnostics: log.sorted)
            }
        case .yaml:
            do {
                root = try YAMLSourceLoader.load(text, limits: limits)
            } catch {
                log.error(error.position, error.message, hint: error.hint)
                throw CompileError(code: .invalid, diagnostics: log.sorted)
            }
        }
        var parser = FlowParser(log: log)
        let parsed = parser.parse(root)
        var compiler = FlowCompiler(log: parser.log)
        let compiled = compiler.compile(parsed)
        let diagnostics = compiler.log.sorted
        guard let compiled, !compiler.log.hasErrors else {
            throw CompileError(code: .invalid, diagnostics: diagnostics)
        }
        return Compilation(flow: compiled, warnings: diagnostics)
    }

    /// Reads a file as UTF-8 text, refusing files over the size limit before reading them whole.
    private static func read(_ path: String, limits: SourceLimits) throws(CompileError) -> String {
        func unreadable(_ message: String) -> CompileError {
            CompileError(code: .unreadable, diagnostics: [Diagnostic(.error, file: path, at: .start, message)])
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw unreadable("no such file")
        }
        guard !isDirectory.boolValue else { throw unreadable("is a directory, not a flow file") }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw unreadable("cannot be opened for reading") }
        defer { try? handle.close() }  // read-only: a failed close loses nothing
        let data: Data
        do {
            data = try handle.read(upToCount: limits.maxFileBytes + 1) ?? Data()
        } catch {
            throw unreadable("cannot be read: \(error.localizedDescription)")
        }
        guard data.count <= limits.maxFileBytes else {
            throw unreadable("is larger than \(limits.maxFileBytes) bytes; flow files are small, is this the right file?")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw unreadable("is not UTF-8 text") }
        return text
    }
}
