/// The rules for bus topics: dot-separated, non-empty segments of printable ASCII.
///
/// A topic such as `flow.sensor-chain.gain.events` names what a message is about. Topics are checked on
/// every publish, on bytes, without allocating: at most ``maxLength`` bytes and ``maxSegments`` segments,
/// each segment 1 or more bytes in `!`...`~` other than `.`, `*` and `>` (which patterns reserve).
public enum Topic {
    /// The longest topic or pattern, in bytes.
    public static let maxLength = 256
    /// The most segments in a topic or pattern.
    public static let maxSegments = 32

    /// Why a topic or pattern is not valid, or `nil` when it is.
    /// - Parameters:
    ///   - bytes: The topic's UTF-8 bytes.
    ///   - allowingWildcards: Whether `*` and `>` segments are allowed (patterns) or not (topics).
    /// - Returns: A sentence for an error reply, or `nil`.
    public static func problem<Bytes: RandomAccessCollection<UInt8>>(
        in bytes: Bytes,
        allowingWildcards: Bool = false
    ) -> String? where Bytes.Index == Int {
        if bytes.isEmpty { return "is empty" }
        if bytes.count > maxLength { return "is \(bytes.count) bytes long; the limit is \(maxLength)" }
        var segments = 1
        var segmentStart = bytes.startIndex
        var index = bytes.startIndex
        while index <= bytes.endIndex {
            let atEnd = index == bytes.endIndex
            if atEnd || bytes[index] == UInt8(ascii: ".") {
                let length = index - segmentStart
                if length == 0 { return "has an empty segment" }
                if length == 1 && (bytes[segmentStart] == star || bytes[segmentStart] == rest) {
                    if !allowingWildcards { return "has a wildcard segment; only patterns may" }
                    if bytes[segmentStart] == rest && !atEnd { return "has `>` before its last segment" }
                }
                if atEnd { break }
                segments += 1
                if segments > maxSegments { return "has more than \(maxSegments) segments" }
                segmentStart = index + 1
            } else {
                let byte = bytes[index]
                if byte < 0x21 || byte > 0x7E { return "has a byte outside printable ASCII (\(byte))" }
                if (byte == star || byte == rest) && !(index == segmentStart && isSegmentEnd(bytes, index + 1)) {
                    return "uses `*` or `>` inside a segment"
                }
            }
            index += 1
        }
        return nil
    }

    /// Why a topic string is not valid, or `nil` when it is; reads the string's UTF-8 in place.
    /// - Parameters:
    ///   - topic: The topic.
    ///   - allowingWildcards: Whether `*` and `>` segments are allowed.
    /// - Returns: A sentence for an error, or `nil`.
    public static func problem(inTopic topic: String, allowingWildcards: Bool = false) -> String? {
        // Safe: the buffer is the string's own contiguous UTF-8, read only during the call.
        let inPlace = unsafe topic.utf8.withContiguousStorageIfAvailable { bytes in
            unsafe problem(in: bytes, allowingWildcards: allowingWildcards)
        }
        if let inPlace { return inPlace }
        return problem(in: Array(topic.utf8), allowingWildcards: allowingWildcards)  // a bridged string
    }

    private static let star = UInt8(ascii: "*")
    private static let rest = UInt8(ascii: ">")

    private static func isSegmentEnd<Bytes: RandomAccessCollection<UInt8>>(
        _ bytes: Bytes,
        _ index: Int
    ) -> Bool where Bytes.Index == Int {
        index == bytes.endIndex || bytes[index] == UInt8(ascii: ".")
    }
}

/// A subscription pattern: dot-separated segments where `*` matches exactly one topic segment and a
/// final `>` matches one or more remaining segments.
///
/// `flow.sensor-chain.*.events` matches `flow.sensor-chain.gain.events`; `metrics.>` matches
/// `metrics.gain` and `metrics.gain.latency` but not `metrics`. Matching compares bytes and allocates
/// nothing.
public struct TopicPattern: Hashable, Sendable, CustomStringConvertible {
    enum Segment: Hashable, Sendable {
        case literal([UInt8])
        case one
        case rest
    }

    let segments: [Segment]
    /// The pattern as written.
    public let description: String

    /// Parses a pattern.
    /// - Parameter text: The pattern, such as `metrics.>`.
    /// - Throws: ``BusError`` `.invalidTopic` when the text breaks the rules of ``Topic``.
    public init(_ text: String) throws(BusError) {
        let bytes = ArraySlice(text.utf8)
        if let problem = Topic.problem(in: bytes, allowingWildcards: true) {
            throw BusError(.invalidTopic, "pattern \"\(text)\" \(problem)")
        }
        segments = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).map { segment in
            if segment.count == 1 && segment.first == UInt8(ascii: "*") { return .one }
            if segment.count == 1 && segment.first == UInt8(ascii: ">") { return .rest }
            return .literal(Array(segment))
        }
        description = text
    }

    /// Whether a topic matches this pattern.
    /// - Parameter topic: A valid topic's bytes (see ``Topic/problem(in:allowingWildcards:)``).
    /// - Returns: `true` when every segment matches.
    public func matches(_ topic: ArraySlice<UInt8>) -> Bool {
        guard !topic.isEmpty else { return false }
        var start = topic.startIndex
        for segment in segments {
            if start > topic.endIndex { return false }  // the topic has fewer segments than the pattern
            var end = start
            while end < topic.endIndex && topic[end] != UInt8(ascii: ".") { end += 1 }
            switch segment {
            case .rest:
                return end > start  // one or more segments remain
            case .one:
                if end == start { return false }
            case .literal(let literal):
                if !literal.elementsEqual(topic[start..<end]) { return false }
            }
            start = end + 1  // past the dot, or one past the end when the topic ended here
        }
        return start == topic.endIndex + 1  // every topic segment was matched
    }

    /// Whether a topic matches this pattern.
    /// - Parameter topic: A topic.
    /// - Returns: `true` when every segment matches.
    public func matches(_ topic: String) -> Bool {
        matches(ArraySlice(topic.utf8))
    }
}
