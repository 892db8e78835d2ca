import ChronetixCore
import Yams

/// Reads YAML into a ``SourceNode`` tree through Yams, with the guards an untrusted file needs.
///
/// - Scalars are resolved by the YAML 1.2 core schema (`true`/`false`, `null`/`~`, decimal, `0x` and
///   `0o` integers, floats, `.inf`, `.nan`); `yes`, `no`, `on` and `off` stay strings. Quoted scalars are
///   always strings.
/// - Aliases are expanded, but the expanded document is capped at ``SourceLimits/maxValues`` values, so
///   a "billion laughs" file is refused instead of exhausting memory.
/// - Flow-collection nesting is checked before Yams sees the text (Yams composes recursively), and the
///   composed tree is checked against ``SourceLimits/maxDepth``.
/// - Complex keys (`? key`) and aliases used as keys (`*name: value`) are refused before Yams sees the
///   text: Yams hashes every key to find duplicates, and hashing an alias of an alias of … takes time
///   exponential in the file's size. Flow files need neither.
package enum YAMLSourceLoader {
    package struct LoadError: Error, Sendable {
        package var position: SourcePosition
        package var message: String
        package var hint: String?
    }

    /// Loads the single document in `text`.
    /// - Throws: ``LoadError`` for a syntax error or a document over the limits.
    package static func load(_ text: String, limits: SourceLimits = .default) throws(LoadError) -> SourceNode {
        try prescreen(text, nestingLimit: limits.maxDepth)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw describe(error)
        } catch {
            throw LoadError(position: .start, message: "the YAML could not be read: \(error)", hint: nil)
        }
        guard let root else { return SourceNode(.null, at: .start) }
        var budget = limits.maxValues
        return try convert(root, depth: 0, limits: limits, budget: &budget)
    }

    private static func position(_ mark: Mark?) -> SourcePosition {
        guard let mark else { return .start }
        return SourcePosition(line: mark.line, column: mark.column)
    }

    private static func convert(
        _ node: Node,
        depth: Int,
        limits: SourceLimits,
        budget: inout Int
    ) throws(LoadError) -> SourceNode {
        budget -= 1
        guard budget >= 0 else {
            throw LoadError(
                position: position(node.mark),
                message: "the document expands to more than \(limits.maxValues) values",
                hint: "YAML aliases (*name) copy what they point to; this file multiplies them"
            )
        }
        guard depth <= limits.maxDepth else {
            throw LoadError(
                position: position(node.mark),
                message: "nesting deeper than \(limits.maxDepth) levels",
                hint: nil
            )
        }
        switch node {
        case .scalar(let scalar):
            return try resolve(scalar)
        case .alias(let alias):
            throw LoadError(position: position(alias.mark), message: "unresolved alias", hint: nil)
        case .sequence(let sequence):
            var items: [SourceNode] = []
            for item in sequence {
                items.append(try convert(item, depth: depth + 1, limits: limits, budget: &budget))
            }
            return SourceNode(.sequence(items), at: position(sequence.mark))
        case .mapping(let mapping):
            var entries: [SourceEntry] = []
            for (key, value) in mapping {
                guard case .scalar(let keyScalar) = key else {
                    throw LoadError(
                        position: position(key.mark),
                        message: "a key must be a plain string",
                        hint: nil
                    )
                }
                let converted = try convert(value, depth: depth + 1, limits: limits, budget: &budget)
                entries.append(
                    SourceEntry(key: keyScalar.string, keyPosition: position(keyScalar.mark), value: converted)
                )
            }
            return SourceNode(.mapping(entries), at: position(mapping.mark))
        }
    }

    /// Resolves a scalar by the YAML 1.2 core schema.
    private static func resolve(_ scalar: Node.Scalar) throws(LoadError) -> SourceNode {
        let at = position(scalar.mark)
        let text = scalar.string
        guard scalar.style == .plain else {
            return SourceNode(.string(text), at: at)
        }
        switch text {
        case "", "~", "null", "Null", "NULL": return SourceNode(.null, at: at, plainText: text)
        case "true", "True", "TRUE": return SourceNode(.bool(true), at: at, plainText: text)
        case "false", "False", "FALSE": return SourceNode(.bool(false), at: at, plainText: text)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN":
            throw LoadError(position: at, message: "\(Quote.quoted(text)) is not a finite number", hint: nil)
        default: break
        }
        if let number = integer(text) {
            guard let value = number else {
                throw LoadError(position: at, message: "integer \(Quote.shortened(text)) does not fit in 64 bits", hint: nil)
            }
            return SourceNode(.integer(value), at: at, plainText: text)
        }
        if isFloat(text) {
            guard let value = Double(text), value.isFinite else {
                throw LoadError(position: at, message: "number \(Quote.shortened(text)) is out of range", hint: nil)
            }
            return SourceNode(.double(value), at: at, plainText: text)
        }
        return SourceNode(.string(text), at: at, plainText: text)
    }

    /// nil when `text` is not an integer; `.some(nil)` when it is one that does not fit.
    private static func integer(_ text: String) -> Int64?? {
        var body = Substring(text)
        var sign: Int64 = 1
        if let first = body.first, first == "-" || first == "+" {
            sign = first == "-" ? -1 : 1
            body = body.dropFirst()
        }
        var radix = 10
        if body.hasPrefix("0x") {
            radix = 16
            body = body.dropFirst(2)
        } else if body.hasPrefix("0o") {
            radix = 8
            body = body.dropFirst(2)
        }
        guard !body.isEmpty, body.allSatisfy({ $0.isASCII && $0.isHexDigit && Int(String($0), radix: radix) != nil })
        else { return nil }
        guard let magnitude = Int64(body, radix: radix) else {
            if sign == -1, let exact = Int64(text, radix: radix) { return .some(exact) }  // Int64.min
            return .some(nil)
        }
        return .some(sign * magnitude)
    }

    private static func isFloat(_ text: String) -> Bool {
        // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
        var characters = Array(text.utf8)[...]
        if let first = characters.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            characters = characters.dropFirst()
        }
        func digits() -> Int {
            let count = characters.prefix(while: { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }).count
            characters = characters.dropFirst(count)
            return count
        }
        let whole = digits()
        var fraction = 0
        if characters.first == UInt8(ascii: ".") {
            characters = characters.dropFirst()
            fraction = digits()
        }
        guard whole + fraction > 0 else { return false }
        if let first = characters.first, first == UInt8(ascii: "e") || first == UInt8(ascii: "E") {
            characters = characters.dropFirst()
            if let sign = characters.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
                characters = characters.dropFirst()
            }
            guard digits() > 0 else { return false }
        }
        return characters.isEmpty
    }

    /// Refuses, before Yams' composer sees it, text whose `[`/`{` nesting (outside quotes and comments) goes
    /// deeper than `limit` (the composer recurses and could overflow the stack), and text with complex keys
    /// or aliases as keys (see the type's documentation). Brackets inside plain scalars may be over-counted,
    /// which only makes the check stricter on very unusual files.
    private static func prescreen(_ text: String, nestingLimit limit: Int) throws(LoadError) {
        let bytes = Array(text.utf8)
        var depth = 0
        var line = 1
        var lineStart = 0
        var quote: UInt8?
        var lastSignificant: UInt8?  // the last non-blank byte on this line outside quotes; nil at its start
        func position(_ index: Int) -> SourcePosition {
            SourcePosition(line: line, column: bytes[lineStart..<index].reduce(1) { $1 & 0xC0 == 0x80 ? $0 : $0 + 1 })
        }
        func isBlank(_ index: Int) -> Bool {
            index >= bytes.count || [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r")]
                .contains(bytes[index])
        }
        /// Whether a token may start here: at the start of a line's content, or after an indicator.
        var atTokenStart: Bool {
            guard let last = lastSignificant else { return true }
            return [UInt8(ascii: "-"), UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: ","), UInt8(ascii: ":"),
                UInt8(ascii: "?")].contains(last)
        }
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            defer { index += 1 }
            if byte == UInt8(ascii: "\n") {
                line += 1
                lineStart = index + 1
                lastSignificant = nil
                if quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") { continue }  // quoted scalars may span lines
                continue
            }
            if let open = quote {
                if byte == UInt8(ascii: "\\"), open == UInt8(ascii: "\"") {
                    index += 1  // skip the escaped byte
                } else if byte == open {
                    quote = nil
                    lastSignificant = byte
                }
                continue
            }
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                continue
            case UInt8(ascii: "#") where index == lineStart || isBlank(index - 1):
                // A comment runs to the end of the line.
                while index + 1 < bytes.count, bytes[index + 1] != UInt8(ascii: "\n") { index += 1 }
                continue
            case UInt8(ascii: "\"") where atTokenStart, UInt8(ascii: "'") where atTokenStart:
                // A quote opens a quoted scalar only where a token starts: `it's` is a plain scalar.
                quote = byte
            case UInt8(ascii: "?") where atTokenStart && isBlank(index + 1):
                throw LoadError(
                    position: position(index),
                    message: "complex keys ('? key') are not supported in flow files",
                    hint: "write keys as plain strings"
                )
            case UInt8(ascii: "*") where atTokenStart:
                // An alias: its name runs to a blank or a flow indicator; a ':' after it makes it a key.
                let start = index
                var end = index + 1
                while end < bytes.count, !isBlank(end), ![UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}")]
                    .contains(bytes[end])
                {
                    end += 1
                }
                var next = end
                while next < bytes.count, bytes[next] == UInt8(ascii: " ") || bytes[next] == UInt8(ascii: "\t") {
                    next += 1
                }
                if next < bytes.count, bytes[next] == UInt8(ascii: ":"), isBlank(next + 1) || next + 1 < bytes.count
                    && [UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}")].contains(bytes[next + 1])
                {
                    throw LoadError(
                        position: position(start),
                        message: "an alias may not be used as a key",
                        hint: "aliases as keys can make a small file take exponential time to read; write the key out"
                    )
                }
                index = end - 1
                lastSignificant = UInt8(ascii: "a")  // an alias is a scalar-like token
                continue
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                guard depth <= limit else {
                    throw LoadError(position: position(index), message: "nesting deeper than \(limit) levels", hint: nil)
                }
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth = max(0, depth - 1)
            default:
                break
            }
            lastSignificant = byte
        }
    }

    private static func describe(_ error: YamlError) -> LoadError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let contextText = context.map { " (\($0.text) at \($0.mark))" } ?? ""
            return LoadError(position: position(mark), message: "YAML syntax: \(problem)\(contextText)", hint: nil)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let names = duplicates.map { "\(Quote.quoted($0))" }.joined(separator: ", ")
            return LoadError(
                position: position(context.mark),
                message: "key \(names) appears more than once in the same map",
                hint: "under 'inputs' this would feed one port twice; give each port one source (use 'merge' to combine)"
            )
        case .reader(let problem, let offset, _, _):
            return LoadError(
                position: .start,
                message: "the file is not readable as YAML: \(problem)\(offset.map { " at byte \($0)" } ?? "")",
                hint: nil
            )
        default:
            return LoadError(position: .start, message: "the YAML could not be read: \(error)", hint: nil)
        }
    }
}
