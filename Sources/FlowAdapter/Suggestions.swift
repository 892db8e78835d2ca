import ChronetixCore
/// "Did you mean" for misspelt keys, kinds, nodes and ports.
package enum Suggestions {
    /// The candidate closest to `word` by edit distance, when it is close enough to be a likely typo.
    package static func closest(to word: String, among candidates: some Sequence<String>) -> String? {
        let limit = word.count <= 3 ? 1 : max(2, word.count / 3)  // short words: only one edit away
        let letters = Array(word.lowercased())
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            // The distance is at least the difference in length: a hostile 100 KB word is compared with nothing.
            guard abs(candidate.count - letters.count) <= limit else { continue }
            let distance = editDistance(letters, Array(candidate.lowercased()))
            if distance <= limit, distance < (best?.distance ?? .max) { best = (candidate, distance) }
        }
        return best?.candidate
    }

    /// A hint naming the closest candidate, or listing them all when few and none is close.
    package static func hint(for word: String, among candidates: [String], listUpTo listLimit: Int = 8) -> String? {
        if let match = closest(to: word, among: candidates) { return "did you mean \(Quote.quoted(match))?" }
        guard !candidates.isEmpty, candidates.count <= listLimit else { return nil }
        return "expected one of: " + candidates.joined(separator: ", ")
    }

    /// Levenshtein distance, with a transposition counted as one edit.
    package static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previousPrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], previousPrevious[j - 2] + 1)
                }
            }
            (previousPrevious, previous, current) = (previous, current, previousPrevious)
        }
        return previous[b.count]
    }
}
