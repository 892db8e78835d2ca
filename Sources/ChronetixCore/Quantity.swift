/// Parsing and printing of the durations and byte sizes written in flow files.
///
/// Durations: a non-negative decimal number and a unit, `ns`, `us`, `ms`, `s` or `m` (`50ms`, `1.5s`),
/// to whole nanoseconds. Sizes: a non-negative integer and a unit, `B`, `KiB`, `MiB` or `GiB` (`1MiB`),
/// to bytes. Both refuse what would overflow 64 bits.
public enum Quantity {
    /// The duration units, smallest first, with their length in nanoseconds.
    public static let durationUnits: [(unit: String, nanoseconds: UInt64)] = [
        ("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000),
    ]

    /// The size units, smallest first, with their length in bytes.
    public static let sizeUnits: [(unit: String, bytes: UInt64)] = [
        ("B", 1), ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30),
    ]

    /// Why a duration or size did not parse.
    public enum Problem: Error, Equatable, Sendable {
        case empty
        case missingUnit(number: String)
        case unknownUnit(String)
        case malformedNumber(String)
        case notWhole(String)
        case tooLarge(String)
    }

    /// Parses a duration like `50ms` or `1.5s` into nanoseconds.
    /// - Throws: ``Problem`` saying what is wrong with the text.
    public static func parseDuration(_ text: String) throws(Problem) -> UInt64 {
        let (number, unit) = try split(text)
        guard let scale = durationUnits.first(where: { $0.unit == unit })?.nanoseconds else {
            throw .unknownUnit(unit)
        }
        return try scaled(number, by: scale, text: text)
    }

    /// Parses a size like `1MiB` or `4096B` into bytes.
    /// - Throws: ``Problem`` saying what is wrong with the text.
    public static func parseSize(_ text: String) throws(Problem) -> UInt64 {
        let (number, unit) = try split(text)
        guard let scale = sizeUnits.first(where: { $0.unit == unit })?.bytes else { throw .unknownUnit(unit) }
        guard !number.contains(".") else { throw .notWhole(text) }
        return try scaled(number, by: scale, text: text)
    }

    /// The shortest exact text for a duration (`50ms`, `1500us`, `0ns`).
    public static func formatDuration(_ nanoseconds: UInt64) -> String {
        format(nanoseconds, units: durationUnits.map { ($0.unit, $0.nanoseconds) }, zero: "0ns")
    }

    /// The shortest exact text for a size (`1MiB`, `1536B`, `0B`).
    public static func formatSize(_ bytes: UInt64) -> String {
        format(bytes, units: sizeUnits.map { ($0.unit, $0.bytes) }, zero: "0B")
    }

    private static func format(_ value: UInt64, units: [(String, UInt64)], zero: String) -> String {
        guard value != 0 else { return zero }
        for (unit, scale) in units.reversed() where value % scale == 0 { return "\(value / scale)\(unit)" }
        return "\(value)\(units[0].0)"
    }

    private static func split(_ text: String) throws(Problem) -> (number: Substring, unit: String) {
        let trimmed = text.trimmingSpaces
        guard !trimmed.isEmpty else { throw .empty }
        guard let unitStart = trimmed.firstIndex(where: { !($0.isASCII && ($0.isNumber || $0 == ".")) }) else {
            throw .missingUnit(number: String(trimmed))
        }
        let number = trimmed[..<unitStart]
        let unit = String(trimmed[unitStart...]).trimmingSpaces
        guard !number.isEmpty else { throw .malformedNumber(String(trimmed)) }
        return (number, String(unit))
    }

    /// number × scale exactly, where number is decimal digits with at most one point.
    private static func scaled(_ number: Substring, by scale: UInt64, text: String) throws(Problem) -> UInt64 {
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty, parts.count == 1 || !parts[1].isEmpty else {
            throw .malformedNumber(text)
        }
        guard let whole = UInt64(parts[0]) else { throw .tooLarge(text) }
        var (total, overflow) = whole.multipliedReportingOverflow(by: scale)
        guard !overflow else { throw .tooLarge(text) }
        if parts.count == 2 {
            // Each fraction digit must land on a whole nanosecond: 1.5us is 1500ns, 1.5ns is refused.
            var remaining = scale
            for digit in parts[1] {
                guard remaining % 10 == 0 else { throw .notWhole(text) }
                remaining /= 10
                let value = UInt64(digit.asciiValue! - UInt8(ascii: "0")) * remaining  // digits were checked by split
                (total, overflow) = total.addingReportingOverflow(value)
                guard !overflow else { throw .tooLarge(text) }
            }
        }
        return total
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    package var trimmingSpaces: String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}
