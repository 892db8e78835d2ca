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
package enum YAMLSourceLoader {
    package struct LoadError: Error, Sendable {
        package var position: SourcePosition
        package var message: String
        package var hint: String?
    }

    /// Loads the single document in `text`.
    /// - Throws: ``LoadError`` for a syntax error or a document over the limits.
    package static func load(_ text: String, limits: SourceLimits = .default) throws(LoadError) -> SourceNode {
        try checkFlowNesting(text, limit: limits.maxDepth)
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
            throw LoadError(position: at, message: "'\(text)' is not a finite number", hint: nil)
        default: break
        }
        if let number = integer(text) {
            guard let value = number else {
                throw LoadError(position: at, message: "integer \(text) does not fit in 64 bits", hint: nil)
            }
            return SourceNode(.integer(value), at: at, plainText: text)
        }
        if isFloat(text) {
            guard let value = Double(text), value.isFinite else {
                throw LoadError(position: at, message: "number \(text) is out of range", hint: nil)
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

    /// Refuses text whose `[`/`{` nesting (outside quotes and comments) goes deeper than `limit`, before Yams'
    /// recursive composer could overflow the stack on it. Brackets inside plain scalars may be over-counted,
    /// which only makes the check stricter on very unusual files.
    private static func checkFlowNesting(_ text: String, limit: Int) throws(LoadError) {
        var depth = 0
        var line = 1
        var column = 0
        var quote: UInt8?
        var inComment = false
        var previous: UInt8 = UInt8(ascii: " ")
        for byte in text.utf8 {
            column += byte & 0xC0 == 0x80 ? 0 : 1
            defer { previous = byte }
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 0
                inComment = false
                continue
            }
            if inComment { continue }
            if let open = quote {
                if byte == open && previous != UInt8(ascii: "\\") { quote = nil }
                continue
            }
            switch byte {
            case UInt8(ascii: "#") where previous == UInt8(ascii: " ") || previous == UInt8(ascii: "\t") || column == 1:
                inComment = true
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                quote = byte
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                guard depth <= limit else {
                    throw LoadError(
                        position: SourcePosition(line: line, column: column),
                        message: "nesting deeper than \(limit) levels",
                        hint: nil
                    )
                }
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth = max(0, depth - 1)
            default: break
            }
        }
    }

    private static func describe(_ error: YamlError) -> LoadError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let contextText = context.map { " (\($0.text) at \($0.mark))" } ?? ""
            return LoadError(position: position(mark), message: "YAML syntax: \(problem)\(contextText)", hint: nil)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let names = duplicates.map { "'\($0)'" }.joined(separator: ", ")
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
