/// How urgently a node's frames should be treated, from the flow file's `qos` key.
///
/// The raw value is the priority carried in envelopes and frame headers: higher is more urgent.
public enum QoSClass: UInt8, CaseIterable, Hashable, Sendable, Codable, Comparable {
    case bestEffort = 0
    case normal = 1
    case high = 2
    case realtime = 3

    /// The spelling used in flow files, compiled output and on the wire as text.
    public var name: String {
        switch self {
        case .bestEffort: "best-effort"
        case .normal: "normal"
        case .high: "high"
        case .realtime: "realtime"
        }
    }

    /// Parses the flow-file spelling (`best-effort`, `normal`, `high`, `realtime`).
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    public static func < (lhs: QoSClass, rhs: QoSClass) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = QoSClass(name: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown QoS class '\(text)'")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}
