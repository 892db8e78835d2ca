import ChronetixCore
/// Reads JSON (RFC 8259) into a ``SourceNode`` tree, keeping the line and column of every value and key.
///
/// Stops at the first syntax error, which it reports with its position. Duplicate keys are kept (the
/// compiler reports them with both positions). Depth and value counts are bounded by ``SourceLimits``.
package struct JSONSourceParser {
    package struct SyntaxError: Error, Sendable {
        package var position: SourcePosition
        package var message: String
    }

    private let bytes: [UInt8]
    private let limits: SourceLimits
    private var index = 0
    private var line = 1
    private var lineStart = 0
    private var values = 0

    private init(_ text: String, limits: SourceLimits) {
        self.bytes = Array(text.utf8)
        self.limits = limits
    }

    /// Parses one JSON document.
    /// - Throws: ``SyntaxError`` at the first problem.
    package static func parse(_ text: String, limits: SourceLimits = .default) throws(SyntaxError) -> SourceNode {
        var parser = JSONSourceParser(text, limits: limits)
        if parser.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { parser.index = 3 }  // a UTF-8 byte order mark
        parser.skipWhitespace()
        let root = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else {
            throw parser.failure("unexpected \(parser.describeCurrent()) after the end of the document")
        }
        return root
    }

    private var position: SourcePosition {
        // Columns count Unicode scalars: count the bytes of this line that do not continue a UTF-8 sequence.
        let column = bytes[lineStart..<min(index, bytes.count)].reduce(1) { $1 & 0xC0 == 0x80 ? $0 : $0 + 1 }
        return SourcePosition(line: line, column: column)
    }

    private func failure(_ message: String) -> SyntaxError { SyntaxError(position: position, message: message) }

    private func describeCurrent() -> String {
        guard index < bytes.count else { return "end of file" }
        let byte = bytes[index]
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(String(byte, radix: 16))"
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"): index += 1
            case UInt8(ascii: "\n"):
                index += 1
                line += 1
                lineStart = index
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws(SyntaxError) -> SourceNode {
        values += 1
        guard values <= limits.maxValues else { throw failure("the document has more than \(limits.maxValues) values") }
        let start = position
        guard index < bytes.count else { throw failure("expected a value, found end of file") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            guard depth < limits.maxDepth else { throw failure("nesting deeper than \(limits.maxDepth) levels") }
            return try parseObject(depth: depth + 1, start: start)
        case UInt8(ascii: "["):
            guard depth < limits.maxDepth else { throw failure("nesting deeper than \(limits.maxDepth) levels") }
            return try parseArray(depth: depth + 1, start: start)
        case UInt8(ascii: "\""):
            return SourceNode(.string(try parseString()), at: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try parseNumber(start: start)
        default:
            for (word, value) in [("true", SourceNode.Value.bool(true)), ("false", .bool(false)), ("null", .null)]
            where bytes[index...].starts(with: word.utf8) {
                index += word.utf8.count
                return SourceNode(value, at: start)
            }
            throw failure("expected a value, found \(describeCurrent())")
        }
    }

    private mutating func parseObject(depth: Int, start: SourcePosition) throws(SyntaxError) -> SourceNode {
        index += 1
        var entries: [SourceEntry] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return SourceNode(.mapping(entries), at: start)
        }
        while true {
            skipWhitespace()
            let keyPosition = position
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw failure("expected a key in double quotes, found \(describeCurrent())")
            }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                throw failure("expected ':' after key \(Quote.quoted(key, mark: "\"")), found \(describeCurrent())")
            }
            index += 1
            skipWhitespace()
            entries.append(SourceEntry(key: key, keyPosition: keyPosition, value: try parseValue(depth: depth)))
            skipWhitespace()
            guard index < bytes.count else { throw failure("the object opened at \(start) is not closed") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { throw failure("expected ',' or '}', found \(describeCurrent())") }
            index += 1
            return SourceNode(.mapping(entries), at: start)
        }
    }

    private mutating func parseArray(depth: Int, start: SourcePosition) throws(SyntaxError) -> SourceNode {
        index += 1
        var items: [SourceNode] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return SourceNode(.sequence(items), at: start)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw failure("the list opened at \(start) is not closed") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else { throw failure("expected ',' or ']', found \(describeCurrent())") }
            index += 1
            return SourceNode(.sequence(items), at: start)
        }
    }

    private mutating func parseString() throws(SyntaxError) -> String {
        index += 1  // the opening quote
        var scalars = String.UnicodeScalarView()
        var run = index  // start of the current run of plain bytes
        func flush(_ end: Int) throws(SyntaxError) {
            guard run < end else { return }
            guard let text = String(validating: bytes[run..<end], as: UTF8.self) else {
                throw SyntaxError(position: position, message: "the string is not valid UTF-8")
            }
            scalars.append(contentsOf: text.unicodeScalars)
        }
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                try flush(index)
                index += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                try flush(index)
                index += 1
                scalars.append(try parseEscape())
                run = index
            case 0..<0x20:
                throw failure("control character 0x\(String(byte, radix: 16)) inside a string (escape it)")
            default:
                index += 1
            }
        }
        throw failure("the string is not closed before the end of the file")
    }

    private mutating func parseEscape() throws(SyntaxError) -> Unicode.Scalar {
        guard index < bytes.count else { throw failure("the string is not closed before the end of the file") }
        let byte = bytes[index]
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try parseHex4()
            if (0xD800..<0xDC00).contains(high) {
                guard bytes[index...].starts(with: Array("\\u".utf8)) else {
                    throw failure("a high surrogate \\u\(String(high, radix: 16)) must be followed by a low one")
                }
                index += 2
                let low = try parseHex4()
                guard (0xDC00..<0xE000).contains(low) else { throw failure("invalid low surrogate") }
                return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!  // in range by construction
            }
            guard let scalar = Unicode.Scalar(high) else { throw failure("a lone low surrogate in \\u escape") }
            return scalar
        default:
            index -= 1
            throw failure("invalid escape '\\\(describeCurrent())'")
        }
    }

    private mutating func parseHex4() throws(SyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count,
            let value = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16),
            bytes[index..<index + 4].allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") })
        else { throw failure("\\u must be followed by four hex digits") }
        index += 4
        return value
    }

    private mutating func parseNumber(start: SourcePosition) throws(SyntaxError) -> SourceNode {
        let begin = index
        func digits() -> Int {
            let first = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - first
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        let integerDigits = digits()
        guard integerDigits > 0 else { throw failure("a number needs digits") }
        guard integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else {
            throw SyntaxError(position: start, message: "numbers must not have leading zeros")
        }
        var isInteger = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            isInteger = false
            guard digits() > 0 else { throw failure("expected digits after the decimal point") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            isInteger = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw failure("expected digits in the exponent") }
        }
        let text = String(decoding: bytes[begin..<index], as: UTF8.self)
        if isInteger {
            guard let number = Int64(text) else {
                throw SyntaxError(position: start, message: "integer \(Quote.shortened(text)) does not fit in 64 bits")
            }
            return SourceNode(.integer(number), at: start)
        }
        guard let number = Double(text), number.isFinite else {
            throw SyntaxError(position: start, message: "number \(Quote.shortened(text)) is out of range")
        }
        return SourceNode(.double(number), at: start)
    }
}

