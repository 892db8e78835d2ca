public import ChronetixCore

/// A node's compiled config with typed reads.
///
/// The compiler has already checked every key against the catalogue and filled in the defaults
/// (`docs/compiled-format.md`, "Config normalisation"): durations are integer nanoseconds, sizes integer
/// bytes, and optional keys without a value are `null`. A read that still finds the wrong type (a
/// manifest written by hand, another version) throws a ``NodeError`` naming the key.
public struct NodeConfig: Sendable {
    /// The node's id, for messages.
    public var node: String
    /// The config map.
    public var value: StructuredValue

    /// Wraps a compiled config.
    public init(node: String, _ value: StructuredValue) {
        self.node = node
        self.value = value
    }

    /// An integer key.
    public func integer(_ key: String) throws(NodeError) -> Int64 {
        switch value[key] {
        case .integer(let number)?: return number
        case let other: throw mismatch(key, "an integer", other)
        }
    }

    /// An integer key that must fit `Int` and lie in `range`.
    public func integer(_ key: String, in range: ClosedRange<Int>) throws(NodeError) -> Int {
        let number = try integer(key)
        guard let small = Int(exactly: number), range.contains(small) else {
            throw NodeError(node, "config key \(key) is \(number); it must be in \(range.lowerBound)...\(range.upperBound)")
        }
        return small
    }

    /// A number key (integers are accepted).
    public func double(_ key: String) throws(NodeError) -> Double {
        switch value[key] {
        case .double(let number)?: return number
        case .integer(let number)?: return Double(number)
        case let other: throw mismatch(key, "a number", other)
        }
    }

    /// A number key that may be `null` (unset).
    public func optionalDouble(_ key: String) throws(NodeError) -> Double? {
        if case .null? = value[key] { return nil }
        if value[key] == nil { return nil }
        return try double(key)
    }

    /// A string key.
    public func string(_ key: String) throws(NodeError) -> String {
        switch value[key] {
        case .string(let text)?: return text
        case let other: throw mismatch(key, "a string", other)
        }
    }

    /// A boolean key.
    public func bool(_ key: String) throws(NodeError) -> Bool {
        switch value[key] {
        case .bool(let flag)?: return flag
        case let other: throw mismatch(key, "a boolean", other)
        }
    }

    private func mismatch(_ key: String, _ expected: String, _ found: StructuredValue?) -> NodeError {
        NodeError(node, "config key \(key) should be \(expected), found \(found?.kindDescription ?? "nothing")")
    }
}
