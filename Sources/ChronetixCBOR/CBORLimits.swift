/// The bounds a decoder enforces on an untrusted message.
///
/// Work and memory are bounded by ``maxBytes``: no declared length or count larger than the bytes
/// that remain is believed, so a decoder never allocates more than a small multiple of the input.
public struct CBORLimits: Hashable, Sendable {
    /// The largest message accepted, in bytes; checked before any decoding. Default 1 MiB.
    public var maxBytes: Int
    /// The deepest nesting of arrays and maps accepted (a top-level array is depth 1). Default 64.
    public var maxDepth: Int

    /// The most nesting any limits may allow: decoding recurses once per level.
    public static let maxDepthCeiling = 1024

    /// 1 MiB and 64 levels.
    public static let `default` = CBORLimits()

    /// Creates limits.
    /// - Parameters:
    ///   - maxBytes: The largest message, in bytes; must not be negative.
    ///   - maxDepth: The deepest nesting, `0...1024` (0 admits only scalars at the top level).
    public init(maxBytes: Int = 1 << 20, maxDepth: Int = 64) {
        precondition(maxBytes >= 0, "CBORLimits.maxBytes must not be negative")
        precondition((0...Self.maxDepthCeiling).contains(maxDepth), "CBORLimits.maxDepth must be in 0...1024")
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
    }
}
