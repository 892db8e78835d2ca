/// Why CBOR could not be encoded or decoded: the domain error of ChronetixCBOR.
///
/// Every malformed message from a peer becomes one of these, never a crash, a hang or an
/// attacker-sized allocation. ``code`` says what kind of failure it was, ``message`` holds the
/// facts (byte offset, declared length, key), ``location`` where in ChronetixCBOR it was detected.
public struct CodecError: Error, CustomStringConvertible {
    /// What kind of failure this is; compare against the static members (`error.code == .truncated`).
    ///
    /// A struct wrapping a private enum, so adding a kind never breaks a caller's `switch`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: Hashable, Sendable {
            case truncated, trailingBytes, typeMismatch, tooDeep, tooLarge, indefiniteLength, invalidUTF8
            case duplicateKey, missingKey, outOfRange, malformed, tagNotAllowed, invalidValue, bufferTooSmall
        }

        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The input ends inside an item, or a declared length runs past the end of the input.
        public static let truncated = Code(.truncated)
        /// Bytes follow the one top-level item.
        public static let trailingBytes = Code(.trailingBytes)
        /// An item has a different major type than the one expected there.
        public static let typeMismatch = Code(.typeMismatch)
        /// Arrays and maps nest deeper than ``CBORLimits/maxDepth``.
        public static let tooDeep = Code(.tooDeep)
        /// The message, or a declared length or count, exceeds ``CBORLimits/maxBytes``.
        public static let tooLarge = Code(.tooLarge)
        /// An indefinite-length string, array or map (or a stray "break"); only definite lengths are accepted.
        public static let indefiniteLength = Code(.indefiniteLength)
        /// A text string is not valid UTF-8.
        public static let invalidUTF8 = Code(.invalidUTF8)
        /// A map holds the same key twice (or, in an envelope, keys out of ascending order).
        public static let duplicateKey = Code(.duplicateKey)
        /// A required key of a typed map is absent.
        public static let missingKey = Code(.missingKey)
        /// A number does not fit the type it decodes to (an integer outside `Int64`, a priority above 3).
        public static let outOfRange = Code(.outOfRange)
        /// The bytes are not well-formed CBOR (reserved or unassigned initial byte).
        public static let malformed = Code(.malformed)
        /// A tagged item; Chronetix messages use no tags.
        public static let tagNotAllowed = Code(.tagNotAllowed)
        /// A well-typed value that is invalid for its field (a traceparent with a zero trace id).
        public static let invalidValue = Code(.invalidValue)
        /// The caller-provided buffer cannot hold the encoding.
        public static let bufferTooSmall = Code(.bufferTooSmall)

        /// The code's name, as written in ``CodecError/description``.
        public var description: String {
            switch kind {
            case .truncated: "truncated"
            case .trailingBytes: "trailing bytes"
            case .typeMismatch: "type mismatch"
            case .tooDeep: "too deep"
            case .tooLarge: "too large"
            case .indefiniteLength: "indefinite length"
            case .invalidUTF8: "invalid UTF-8"
            case .duplicateKey: "duplicate key"
            case .missingKey: "missing key"
            case .outOfRange: "out of range"
            case .malformed: "malformed"
            case .tagNotAllowed: "tag not allowed"
            case .invalidValue: "invalid value"
            case .bufferTooSmall: "buffer too small"
            }
        }
    }

    /// Where in ChronetixCBOR the failure was detected.
    public struct Location: Hashable, Sendable, CustomStringConvertible {
        /// The `#fileID` of the throwing code.
        public var fileID: String
        /// The `#line` of the throwing code.
        public var line: Int

        /// Creates a location; the defaults capture the caller's position.
        /// - Parameters:
        ///   - fileID: The file, `#fileID` by default.
        ///   - line: The line, `#line` by default.
        public init(fileID: String = #fileID, line: Int = #line) {
            self.fileID = fileID
            self.line = line
        }

        /// `Module/File.swift:line`.
        public var description: String { "\(fileID):\(line)" }
    }

    /// What kind of failure this is.
    public var code: Code
    /// The dynamic facts: what was expected, what was found, the byte offset.
    public var message: String
    /// The byte offset in the input where the offending item starts, when decoding.
    public var offset: Int?
    /// An underlying error, when there is one (the codec itself has none so far).
    public var cause: (any Error)?
    /// Where the failure was detected.
    public var location: Location

    /// Creates an error.
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: The facts, without the offset (that is appended from `offset`).
    ///   - offset: The byte offset of the offending item, when decoding.
    ///   - cause: An underlying error, if any.
    ///   - fileID: Captured automatically.
    ///   - line: Captured automatically.
    public init(
        _ code: Code,
        _ message: String,
        offset: Int? = nil,
        cause: (any Error)? = nil,
        fileID: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.offset = offset
        self.cause = cause
        self.location = Location(fileID: fileID, line: line)
    }

    /// One line: `CBOR <code> at byte <offset>: <message> (<location>)`.
    public var description: String {
        var text = "CBOR \(code)"
        if let offset { text += " at byte \(offset)" }
        text += ": \(message)"
        if let cause { text += ": \(cause)" }
        return text + " (\(location))"
    }

    /// A tree-shaped rendering for logs: the code, then one indented line per fact.
    /// - Returns: Several lines, without a trailing newline.
    public func detailedDescription() -> String {
        var lines = ["CodecError: \(code)", "├─ message: \(message)"]
        if let offset { lines.append("├─ offset: \(offset)") }
        if let cause { lines.append("├─ cause: \(cause)") }
        lines.append("└─ location: \(location)")
        return lines.joined(separator: "\n")
    }
}
