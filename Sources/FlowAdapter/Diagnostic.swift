/// One problem (or warning) found in a flow file, with where it is.
public struct Diagnostic: Hashable, Sendable, CustomStringConvertible {
    /// How bad it is.
    public enum Severity: String, Hashable, Sendable, Comparable {
        case warning
        case error

        public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs == .warning && rhs == .error }
    }

    public var severity: Severity
    /// The file as the user named it.
    public var file: String
    public var position: SourcePosition
    /// What is wrong, in one sentence without a final period.
    public var message: String
    /// How to fix it, when there is something useful to say ("did you mean 'kind'?").
    public var hint: String?

    public init(_ severity: Severity, file: String, at position: SourcePosition, _ message: String, hint: String? = nil) {
        self.severity = severity
        self.file = file
        self.position = position
        self.message = message
        self.hint = hint
    }

    /// `FILE:LINE:COL: error: message`, then the hint indented on a second line.
    public var description: String {
        var text = "\(file):\(position.line):\(position.column): \(severity.rawValue): \(message)"
        if let hint { text += "\n    hint: \(hint)" }
        return text
    }
}

/// Why a flow file could not be compiled: every problem found, in file order.
///
/// The domain error of FlowAdapter (STYLE.md §4): ``code`` says which class of failure, ``diagnostics``
/// carry the positions and messages.
public struct CompileError: Error, Sendable, CustomStringConvertible {
    /// The class of failure; new codes may be added without breaking a caller's `switch`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: Hashable, Sendable {
            case unreadable, invalid
        }
        private let kind: Kind

        /// The file could not be read (missing, unreadable, too large, not UTF-8).
        public static let unreadable = Code(kind: .unreadable)
        /// The file was read but is not a valid flow.
        public static let invalid = Code(kind: .invalid)

        public var description: String {
            switch kind {
            case .unreadable: "unreadable"
            case .invalid: "invalid"
            }
        }
    }

    public var code: Code
    /// Every diagnostic, errors and warnings, in file order.
    public var diagnostics: [Diagnostic]
    /// Where in Chronetix the error was raised.
    public var location: String

    public init(code: Code, diagnostics: [Diagnostic], fileID: String = #fileID, line: Int = #line) {
        self.code = code
        self.diagnostics = diagnostics
        self.location = "\(fileID):\(line)"
    }

    /// The number of errors (not warnings).
    public var errorCount: Int { diagnostics.filter { $0.severity == .error }.count }

    public var description: String {
        diagnostics.first(where: { $0.severity == .error })?.description ?? "flow file is \(code)"
    }

    /// Every diagnostic, one after the other, followed by a count.
    public func detailedDescription() -> String {
        let body = diagnostics.map(\.description).joined(separator: "\n")
        let errors = errorCount
        return body + "\n\(errors) error\(errors == 1 ? "" : "s") in \(diagnostics.first?.file ?? "flow file")"
    }
}

/// Collects diagnostics for one file while it is read and checked.
package struct DiagnosticLog: Sendable {
    package let file: String
    package private(set) var diagnostics: [Diagnostic] = []

    package init(file: String) { self.file = file }

    package mutating func error(_ position: SourcePosition, _ message: String, hint: String? = nil) {
        diagnostics.append(Diagnostic(.error, file: file, at: position, message, hint: hint))
    }

    package mutating func warning(_ position: SourcePosition, _ message: String, hint: String? = nil) {
        diagnostics.append(Diagnostic(.warning, file: file, at: position, message, hint: hint))
    }

    package var hasErrors: Bool { diagnostics.contains(where: { $0.severity == .error }) }

    /// The diagnostics in file order (errors before warnings at the same place), duplicates removed.
    package var sorted: [Diagnostic] {
        var seen = Set<Diagnostic>()
        return diagnostics.filter { seen.insert($0).inserted }.sorted {
            ($0.position, $1.severity, $0.message) < ($1.position, $0.severity, $1.message)
        }
    }
}
