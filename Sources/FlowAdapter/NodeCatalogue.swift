public import ChronetixCore

/// The type of one config key, as the compiler checks it.
public enum ConfigType: Hashable, Sendable {
    /// A whole number within the range.
    case integer(ClosedRange<Int64>)
    /// A finite number within the range; integers are accepted and stored as doubles.
    case number(ClosedRange<Double>)
    case string
    case bool
    /// One of the listed words.
    case choice([String])
    /// A duration (`50ms`), compiled to integer nanoseconds.
    case duration
    /// A size (`64KiB`) or a plain integer of bytes, compiled to integer bytes.
    case size(ClosedRange<UInt64>)
    /// A non-empty list of strings.
    case stringList
    /// A map of string to string.
    case stringMap

    /// How the type reads in `chronetix nodes` and in messages.
    public var summary: String {
        switch self {
        case .integer(let range): ["integer", Self.describe(range)].filter { !$0.isEmpty }.joined(separator: " ")
        case .number(let range): ["number", Self.describe(range)].filter { !$0.isEmpty }.joined(separator: " ")
        case .string: "string"
        case .bool: "boolean"
        case .choice(let words): words.joined(separator: " | ")
        case .duration: "duration"
        case .size(let range):
            "size \(Quantity.formatSize(range.lowerBound))..\(Quantity.formatSize(range.upperBound))"
        case .stringList: "list of strings"
        case .stringMap: "map of string to string"
        }
    }

    private static func describe(_ range: ClosedRange<Int64>) -> String {
        switch (range.lowerBound, range.upperBound) {
        case (.min, .max): ""
        case (let low, .max): ">= \(low)"
        default: "\(range.lowerBound)..\(range.upperBound)"
        }
    }

    private static func describe(_ range: ClosedRange<Double>) -> String {
        switch (range.lowerBound, range.upperBound) {
        case (-Double.greatestFiniteMagnitude, Double.greatestFiniteMagnitude): ""
        case (let low, Double.greatestFiniteMagnitude): ">= \(low)"
        default: "\(range.lowerBound)..\(range.upperBound)"
        }
    }
}

/// One config key of a node kind.
public struct ConfigKeySpec: Hashable, Sendable {
    public var name: String
    public var type: ConfigType
    /// The value used when the flow leaves the key out; nil when the key is required.
    /// ``StructuredValue/null`` means "unset" for optional keys with no natural default.
    public var defaultValue: StructuredValue?
    public var summary: String
    /// Whether a running node takes a new value without a restart (`chronetix reload`).
    public var isReloadable: Bool

    public init(_ name: String, _ type: ConfigType, default defaultValue: StructuredValue?, _ summary: String, reloadable: Bool = false) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.summary = summary
        isReloadable = reloadable
    }

    public var isRequired: Bool { defaultValue == nil }
}

/// One port of a node kind.
public struct PortSpec: Hashable, Sendable {
    public var name: String
    /// What the port accepts (inputs) or produces (outputs); `any` on an output means "the type of the
    /// node's inputs".
    public var contentType: ContentType

    public init(_ name: String, _ contentType: ContentType) {
        self.name = name
        self.contentType = contentType
    }
}

/// The contract of one node kind: its ports, the content types they accept, and its typed config.
public struct NodeKindSpec: Hashable, Sendable {
    public enum Role: String, Hashable, Sendable {
        case source, map, fanIn = "fan-in", sink, process
    }

    public var name: String
    public var role: Role
    public var summary: String
    public var category: NodeCategory
    public var artifact: ArtifactKind
    /// The fixed input ports; for fan-in kinds, the type every named input must share.
    public var inputs: [PortSpec]
    /// Whether the flow names the inputs itself (`merge`, `process`).
    public var hasNamedInputs: Bool
    /// The fixed output ports (for `process`, declared by the flow instead).
    public var outputs: [PortSpec]
    public var config: [ConfigKeySpec]

    public init(
        _ name: String,
        role: Role,
        category: NodeCategory,
        artifact: ArtifactKind = .builtin,
        inputs: [PortSpec] = [],
        hasNamedInputs: Bool = false,
        outputs: [PortSpec] = [],
        config: [ConfigKeySpec] = [],
        summary: String
    ) {
        self.name = name
        self.role = role
        self.category = category
        self.artifact = artifact
        self.inputs = inputs
        self.hasNamedInputs = hasNamedInputs
        self.outputs = outputs
        self.config = config
        self.summary = summary
    }

    public func configKey(_ name: String) -> ConfigKeySpec? { config.first(where: { $0.name == name }) }
}

/// The standard library of node kinds: the contracts the compiler checks flows against.
///
/// The behaviour of each kind comes with the runtime; `chronetix nodes` prints this table.
public enum NodeCatalogue {
    private static let positive: ClosedRange<Int64> = 1...Int64.max
    private static let nonNegative: ClosedRange<Int64> = 0...Int64.max
    private static let anyNumber: ClosedRange<Double> = -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude
    private static let nonNegativeNumber: ClosedRange<Double> = 0...Double.greatestFiniteMagnitude

    private static let rate = ConfigKeySpec(
        "rate_hz", .number(nonNegativeNumber), default: 0.0, "frames per second; 0 = as fast as possible", reloadable: true)
    private static let frames = ConfigKeySpec(
        "frames", .integer(nonNegative), default: 0, "frames to produce; 0 = until stopped")

    /// Every kind, sources first, then maps, fan-in, sinks and `process`.
    public static let kinds: [NodeKindSpec] = [
        NodeKindSpec(
            "sine", role: .source, category: .business, outputs: [PortSpec("samples", .f64)],
            config: [
                ConfigKeySpec("channels", .integer(1...4096), default: 1, "channels per frame"),
                ConfigKeySpec("samples", .integer(1...1 << 24), default: 256, "samples per channel per frame"),
                ConfigKeySpec("frequency_hz", .number(nonNegativeNumber), default: 10.0, "sine frequency"),
                ConfigKeySpec("amplitude", .number(anyNumber), default: 1.0, "peak amplitude"),
                rate, frames,
            ],
            summary: "multi-channel sine waves, phase-continuous across frames"
        ),
        NodeKindSpec(
            "random", role: .source, category: .business, outputs: [PortSpec("out", .f64)],
            config: [
                ConfigKeySpec("channels", .integer(1...4096), default: 1, "channels per frame"),
                ConfigKeySpec("samples", .integer(1...1 << 24), default: 256, "samples per channel per frame"),
                ConfigKeySpec("seed", .integer(nonNegative), default: 0, "generator seed; the same seed gives the same frames"),
                rate, frames,
            ],
            summary: "uniform random samples in [-1, 1)"
        ),
        NodeKindSpec(
            "counter", role: .source, category: .business, outputs: [PortSpec("out", .bytes)],
            config: [
                ConfigKeySpec("size", .size(8...(1 << 30)), default: 8, "frame size in bytes (at least 8)"),
                rate, frames,
            ],
            summary: "frames of `size` bytes that start with the count as a little-endian u64"
        ),
        NodeKindSpec(
            "file-reader", role: .source, category: .resource, outputs: [PortSpec("out", .bytes)],
            config: [
                ConfigKeySpec("path", .string, default: nil, "the file to read"),
                ConfigKeySpec("mode", .choice(["lines", "blocks"]), default: "lines", "one frame per line, or per block"),
                ConfigKeySpec("block_size", .size(1...(1 << 30)), default: 65536, "block size in blocks mode"),
            ],
            summary: "a file as frames of lines or fixed-size blocks"
        ),
        NodeKindSpec(
            "scale", role: .map, category: .business, inputs: [PortSpec("in", .f64)], outputs: [PortSpec("out", .f64)],
            config: [
                ConfigKeySpec("factor", .number(anyNumber), default: 1.0, "multiplier", reloadable: true),
                ConfigKeySpec("offset", .number(anyNumber), default: 0.0, "added after multiplying", reloadable: true),
            ],
            summary: "every sample × factor + offset"
        ),
        NodeKindSpec(
            "filter", role: .map, category: .business, inputs: [PortSpec("in", .f64)], outputs: [PortSpec("out", .f64)],
            config: [
                ConfigKeySpec("channel", .integer(nonNegative), default: 0, "the channel tested"),
                ConfigKeySpec("stat", .choice(["mean", "peak"]), default: "mean", "the statistic tested"),
                ConfigKeySpec("min", .number(anyNumber), default: .null, "drop frames whose statistic is below", reloadable: true),
                ConfigKeySpec("max", .number(anyNumber), default: .null, "drop frames whose statistic is above", reloadable: true),
            ],
            summary: "passes frames whose channel statistic lies within [min, max]"
        ),
        NodeKindSpec(
            "window", role: .map, category: .business, inputs: [PortSpec("in", .f64)], outputs: [PortSpec("out", .f64)],
            config: [
                ConfigKeySpec("size", .integer(1...1 << 20), default: 8, "frames per window"),
                ConfigKeySpec("op", .choice(["mean", "min", "max", "rms"]), default: "mean", "per-sample reduction"),
            ],
            summary: "one frame per `size` input frames, reduced sample by sample"
        ),
        NodeKindSpec(
            "delay", role: .map, category: .business, inputs: [PortSpec("in", .any)], outputs: [PortSpec("out", .any)],
            config: [ConfigKeySpec("delay", .duration, default: nil, "how long each frame is held")],
            summary: "passes every frame on after a fixed delay"
        ),
        NodeKindSpec(
            "merge", role: .fanIn, category: .business, inputs: [PortSpec("*", .any)], hasNamedInputs: true,
            outputs: [PortSpec("out", .any)],
            summary: "any number of named inputs of one content type, in arrival order"
        ),
        NodeKindSpec(
            "stats", role: .sink, category: .system, inputs: [PortSpec("in", .any)],
            summary: "counts frames and bytes, rates and a checksum; reported in the summary"
        ),
        NodeKindSpec(
            "file-writer", role: .sink, category: .resource, inputs: [PortSpec("in", .any)],
            config: [
                ConfigKeySpec("path", .string, default: nil, "the file to write"),
                ConfigKeySpec("append", .bool, default: false, "append instead of truncating"),
            ],
            summary: "writes every payload to a file"
        ),
        NodeKindSpec(
            "log", role: .sink, category: .system, inputs: [PortSpec("in", .any)],
            config: [ConfigKeySpec("every", .integer(positive), default: 1, "log one frame in N", reloadable: true)],
            summary: "logs frame headers (and a payload preview)"
        ),
        NodeKindSpec(
            "discard", role: .sink, category: .system, inputs: [PortSpec("in", .any)],
            summary: "counts and drops what arrives"
        ),
        NodeKindSpec(
            "process", role: .process, category: .business, artifact: .process, inputs: [PortSpec("*", .any)],
            hasNamedInputs: true,
            config: [
                ConfigKeySpec("command", .stringList, default: nil, "the executable and its arguments"),
                ConfigKeySpec("env", .stringMap, default: .map([]), "extra environment variables"),
                ConfigKeySpec("cwd", .string, default: .null, "working directory"),
            ],
            summary: "an external executable: frames on stdin and stdout, length-prefixed"
        ),
    ]

    /// The kind with this name.
    public static func kind(_ name: String) -> NodeKindSpec? { kinds.first(where: { $0.name == name }) }
}
