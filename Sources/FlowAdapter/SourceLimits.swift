/// Bounds on what a flow file may cost to read, whatever it contains.
public struct SourceLimits: Hashable, Sendable {
    /// The largest flow file read, in bytes.
    public var maxFileBytes: Int
    /// The most values (scalars, lists, maps) a document may expand to, YAML aliases included.
    public var maxValues: Int
    /// The deepest nesting of lists and maps.
    public var maxDepth: Int

    public init(maxFileBytes: Int = 1 << 20, maxValues: Int = 100_000, maxDepth: Int = 64) {
        self.maxFileBytes = maxFileBytes
        self.maxValues = maxValues
        self.maxDepth = maxDepth
    }

    public static let `default` = SourceLimits()
}
