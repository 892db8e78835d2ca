public import ChronetixCore
import ChronetixSystem

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

    /// Reads a flow file as UTF-8 text: a regular file of at most the size limit (a FIFO, a device, a socket
    /// or a directory is refused at once, never waited on).
    /// - Throws: ``CompileError`` with code `.unreadable` when the file cannot be read, `.invalid` when it was
    ///   read but is not UTF-8 (with the position and byte offset of the first bad byte).
    private static func read(_ path: String, limits: SourceLimits) throws(CompileError) -> String {
        func unreadable(_ message: String) -> CompileError {
            CompileError(code: .unreadable, diagnostics: [Diagnostic(.error, file: path, at: .start, message)])
        }
        let bytes: [UInt8]
        do {
            bytes = try RegularFile.read(path, maxBytes: limits.maxFileBytes)
        } catch {
            switch error {
            case .open(.noSuchFile): throw unreadable("no such file")
            case .open(.symbolicLinkLoop):
                throw unreadable("is a symbolic-link loop (or a chain of more links than the system follows)")
            case .open(let errno): throw unreadable("cannot be opened for reading: \(errno)")
            case .notRegular(.directory): throw unreadable("is a directory, not a flow file")
            case .notRegular(.other): throw unreadable("is not a regular file; a flow file must be one")
            case .notRegular(let kind): throw unreadable("is \(kind.rawValue), not a regular file; a flow file must be one")
            case .tooLarge(let limit):
                throw unreadable("is larger than \(limit) bytes; flow files are small, is this the right file?")
            case .read(let errno): throw unreadable("cannot be read: \(errno)")
            }
        }
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        let offset = firstInvalidUTF8(in: bytes)
        let before = bytes[..<offset]
        let lineStart = before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        let position = SourcePosition(
            line: 1 + before.count(where: { $0 == UInt8(ascii: "\n") }),
            column: 1 + bytes[lineStart..<offset].count(where: { $0 & 0xC0 != 0x80 })  // scalars, as elsewhere
        )
        let byte = "0x" + String(bytes[offset], radix: 16, uppercase: true)
        throw CompileError(
            code: .invalid,
            diagnostics: [
                Diagnostic(
                    .error,
                    file: path,
                    at: position,
                    "the file is not UTF-8 text: byte \(byte) at offset \(offset) is not valid UTF-8",
                    hint: "flow files are UTF-8; convert it, for example  iconv -f latin1 -t utf-8"
                )
            ]
        )
    }

    /// The offset of the first byte that does not belong to valid UTF-8.
    /// - Parameter bytes: The text's bytes.
    /// - Returns: The offset; `bytes.count` when every byte belongs to valid UTF-8.
    package static func firstInvalidUTF8(in bytes: [UInt8]) -> Int {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput, .error: return offset
            }
        }
    }
}
