/// Writes a ``StructuredValue`` as JSON text, deterministically.
///
/// Keys keep their order; doubles are written in the shortest form that reads back to the same
/// `Double` and always with a fraction or an exponent (`2.0`, never `2`), so a reader can tell them
/// from integers; byte strings become base64 strings. JSON has no NaN or infinity: a non-finite double
/// is written as `null` (the compiler never produces one).
public enum JSONText {
    /// How the text is laid out.
    public enum Style: Sendable {
        /// One line, no spaces.
        case compact
        /// Two-space indentation, one key or element per line, and a final newline.
        case pretty
    }

    /// The JSON text of `value`.
    public static func write(_ value: StructuredValue, style: Style = .pretty) -> String {
        var out = ""
        write(value, style: style, indent: 0, into: &out)
        if style == .pretty { out += "\n" }
        return out
    }

    private static func write(_ value: StructuredValue, style: Style, indent: Int, into out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .integer(let number): out += String(number)
        case .double(let number): out += format(number)
        case .string(let text): writeString(text, into: &out)
        case .bytes(let bytes): writeString(Base64.encode(bytes), into: &out)
        case .array(let items):
            guard !items.isEmpty else {
                out += "[]"
                return
            }
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                newline(style, indent + 1, into: &out)
                write(item, style: style, indent: indent + 1, into: &out)
            }
            newline(style, indent, into: &out)
            out += "]"
        case .map(let entries):
            guard !entries.isEmpty else {
                out += "{}"
                return
            }
            out += "{"
            for (index, entry) in entries.enumerated() {
                if index > 0 { out += "," }
                newline(style, indent + 1, into: &out)
                writeString(entry.key, into: &out)
                out += style == .pretty ? ": " : ":"
                write(entry.value, style: style, indent: indent + 1, into: &out)
            }
            newline(style, indent, into: &out)
            out += "}"
        }
    }

    private static func newline(_ style: Style, _ indent: Int, into out: inout String) {
        guard style == .pretty else { return }
        out += "\n"
        out += String(repeating: "  ", count: indent)
    }

    /// The shortest round-tripping text of a finite double, always marked as a double.
    public static func format(_ number: Double) -> String {
        guard number.isFinite else { return "null" }
        let text = number.description  // Swift prints the shortest digits that read back exactly
        if text.contains(".") || text.contains("e") { return text }
        return text + ".0"
    }

    private static func writeString(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
