package import ChronetixCore

/// A line and column in a flow file, both counted from 1 (columns in Unicode scalars).
public struct SourcePosition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// The start of the file.
    public static let start = SourcePosition(line: 1, column: 1)

    public static func < (lhs: SourcePosition, rhs: SourcePosition) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }

    public var description: String { "\(line):\(column)" }
}

/// A value read from a flow file (YAML or JSON), with where it was written.
///
/// Both syntaxes produce the same tree, so the compiler checks one shape and reports positions for either.
package struct SourceNode: Sendable {
    package enum Value: Sendable {
        case null
        case bool(Bool)
        case integer(Int64)
        case double(Double)
        case string(String)
        case sequence([SourceNode])
        case mapping([SourceEntry])
    }

    package var value: Value
    package var position: SourcePosition
    /// The text of a plain (unquoted) YAML scalar, so that `path: 2024` can still be read as a string.
    package var plainText: String?

    package init(_ value: Value, at position: SourcePosition, plainText: String? = nil) {
        self.value = value
        self.position = position
        self.plainText = plainText
    }

    /// A short name for the kind of value, for messages ("expected a list, found a string").
    package var kindDescription: String {
        switch value {
        case .null: "nothing"
        case .bool: "a boolean"
        case .integer: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .sequence: "a list"
        case .mapping: "a map"
        }
    }

    package var entries: [SourceEntry]? {
        guard case .mapping(let entries) = value else { return nil }
        return entries
    }

    package var items: [SourceNode]? {
        guard case .sequence(let items) = value else { return nil }
        return items
    }

    /// The text of a string, or of a plain YAML scalar of any type.
    package var text: String? {
        if case .string(let text) = value { return text }
        return plainText
    }

    package subscript(key: String) -> SourceEntry? { entries?.first(where: { $0.key == key }) }

    /// The value without positions.
    package var structured: StructuredValue {
        switch value {
        case .null: .null
        case .bool(let flag): .bool(flag)
        case .integer(let number): .integer(number)
        case .double(let number): .double(number)
        case .string(let text): .string(text)
        case .sequence(let items): .array(items.map(\.structured))
        case .mapping(let entries): .map(entries.map { .init($0.key, $0.value.structured) })
        }
    }
}

/// One key of a mapping, where the key was written, and its value.
package struct SourceEntry: Sendable {
    package var key: String
    package var keyPosition: SourcePosition
    package var value: SourceNode

    package init(key: String, keyPosition: SourcePosition, value: SourceNode) {
        self.key = key
        self.keyPosition = keyPosition
        self.value = value
    }
}

