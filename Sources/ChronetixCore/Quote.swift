/// How diagnostics show a value taken from a flow file (an id, a kind, a key, a port, a number, a
/// suggestion): whole when it is short, else its start and its length, so that a hostile 100 KB id costs
/// a diagnostic one line, not 100 KB of output.
package enum Quote {
    /// The most characters of a value a diagnostic repeats.
    package static let maxCharacters = 40

    /// `'text'`, or for a longer value its first ``maxCharacters`` characters: `'aaaa…' (100000 characters)`.
    /// - Parameters:
    ///   - text: The value as the file gave it.
    ///   - mark: The quotation mark on each side (`"` for JSON keys).
    /// - Returns: The text to interpolate into a message.
    package static func quoted(_ text: some StringProtocol, mark: Character = "'") -> String {
        let (start, count) = cut(text)
        guard let count else { return "\(mark)\(start)\(mark)" }
        return "\(mark)\(start)…\(mark) (\(count) characters)"
    }

    /// The text without quotes (a number, a piece of a value), shortened as ``quoted(_:mark:)`` does:
    /// `9999… (500000 characters)`.
    /// - Parameter text: The value as the file gave it.
    /// - Returns: The text to interpolate into a message.
    package static func shortened(_ text: some StringProtocol) -> String {
        let (start, count) = cut(text)
        guard let count else { return start }
        return "\(start)… (\(count) characters)"
    }

    /// The first ``maxCharacters`` characters and, when that is not all, the whole length.
    private static func cut(_ text: some StringProtocol) -> (start: String, count: Int?) {
        let start = text.prefix(maxCharacters)
        guard start.endIndex != text.endIndex else { return (String(text), nil) }
        return (String(start), text.count)
    }
}
