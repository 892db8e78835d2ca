import ChronetixCBOR
import ChronetixCore
import ChronetixTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The seed of the property tests: `CHRONETIX_TEST_SEED` when set, otherwise a fixed value, so a
/// failure message's seed reproduces the run.
let propertySeed: UInt64 = {
    #if canImport(Glibc)
        if let raw = getenv("CHRONETIX_TEST_SEED"), let seed = UInt64(String(cString: raw)) { return seed }
    #endif
    return 0xC0DE_C0DE_2026
}()

/// Parses `"a1 61 61 01"` or `"a1616101"` into bytes.
func hex(_ text: String) -> [UInt8] {
    let digits = text.filter { !$0.isWhitespace }.map { $0 }
    precondition(digits.count.isMultiple(of: 2), "odd number of hex digits in \(text)")
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

/// Renders bytes as lowercase hex without separators.
func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

/// Structural equality in which NaN equals NaN (CBOR keeps NaN, `==` does not).
func equivalent(_ lhs: StructuredValue, _ rhs: StructuredValue) -> Bool {
    switch (lhs, rhs) {
    case (.double(let a), .double(let b)):
        return (a.isNaN && b.isNaN) || (a == b && a.sign == b.sign)
    case (.array(let a), .array(let b)):
        return a.count == b.count && zip(a, b).allSatisfy { equivalent($0, $1) }
    case (.map(let a), .map(let b)):
        return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && equivalent($0.value, $1.value) }
    default:
        return lhs == rhs
    }
}

extension SplitMix64 {
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }

    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }

    mutating func bytes(maxCount: Int) -> [UInt8] {
        (0..<int(0...maxCount)).map { _ in UInt8.random(in: 0...255, using: &self) }
    }

    mutating func string(maxCount: Int = 24) -> String {
        let pool: [Unicode.Scalar] = ["a", "z", "0", ".", "-", " ", "\u{0}", "ü", "水", "𐅑", "\u{7F}", "\u{FFFD}"]
        var text = String.UnicodeScalarView()
        for _ in 0..<int(0...maxCount) {
            if chance(70) {
                text.append(Unicode.Scalar(UInt8.random(in: 0x20...0x7E, using: &self)))
            } else {
                text.append(pool[int(0...pool.count - 1)])
            }
        }
        return String(text)
    }

    mutating func double() -> Double {
        switch int(0...7) {
        case 0: return Double(bitPattern: next())  // any bit pattern, NaNs included
        case 1: return Double(Float16(bitPattern: UInt16(truncatingIfNeeded: next())))
        case 2: return Double(Float(bitPattern: UInt32(truncatingIfNeeded: next())))
        case 3: return [0.0, -0.0, .infinity, -.infinity, .nan, 1.1, 65504, 5.960464477539063e-8][int(0...7)]
        case 4: return Double(Int64.random(in: -1_000_000...1_000_000, using: &self)) / 8
        default: return Double.random(in: -1e6...1e6, using: &self)
        }
    }

    mutating func integer() -> Int64 {
        switch int(0...4) {
        case 0: return Int64.random(in: -24...23, using: &self)
        case 1: return Int64.random(in: -70_000...70_000, using: &self)
        case 2: return [Int64.min, Int64.max, 0, -1, 255, 256, 65535, 65536, 4_294_967_295, 4_294_967_296][int(0...9)]
        default: return Int64(bitPattern: next())
        }
    }

    /// A random document; containers get rarer with depth.
    mutating func structuredValue(depth: Int = 0) -> StructuredValue {
        let containerChance = depth >= 4 ? 0 : 35 - depth * 8
        if chance(containerChance) {
            let count = int(0...(depth == 0 ? 12 : 5))
            if chance(50) {
                return .array((0..<count).map { _ in structuredValue(depth: depth + 1) })
            }
            var keys = Set<String>()
            var entries: [StructuredValue.Entry] = []
            for _ in 0..<count {
                let key = string(maxCount: 10)
                guard keys.insert(key).inserted else { continue }
                entries.append(.init(key, structuredValue(depth: depth + 1)))
            }
            return .map(entries)
        }
        switch int(0...6) {
        case 0: return .null
        case 1: return .bool(chance(50))
        case 2: return .integer(integer())
        case 3: return .double(double())
        case 4: return .string(string())
        case 5: return .bytes(bytes(maxCount: 40))
        default: return .integer(Int64(int(-30...30)))
        }
    }

    /// A random envelope with each optional field present about half the time.
    mutating func envelope() -> Envelope {
        Envelope(
            id: chance(30) ? UInt64(int(0...30)) : next(),
            topic: string(maxCount: 40),
            contentType: chance(50) ? ContentType.cbor.mediaType : string(maxCount: 30),
            schemaVersion: chance(50) ? 1 : UInt32(truncatingIfNeeded: next()),
            deadlineNanoseconds: chance(50) ? 0 : next(),
            priority: QoSClass(rawValue: UInt8(int(0...3)))!,
            traceParent: chance(50)
                ? TraceParent(
                    traceIDHigh: next(),
                    traceIDLow: next() | 1,
                    parentID: next() | 1,
                    flags: UInt8(int(0...255))
                )
                : nil,
            traceState: chance(40) ? string(maxCount: 30) : nil,
            headers: chance(50) ? (0..<int(1...4)).map { _ in .init(string(maxCount: 8), string(maxCount: 12)) } : [],
            payload: bytes(maxCount: chance(10) ? 3000 : 64)
        )
    }
}

/// A fixed envelope with every optional field set.
let fullEnvelope = Envelope(
    id: 0x1234_5678_9ABC,
    topic: "flow.sensor-chain.gain.events",
    contentType: ContentType.cbor.mediaType,
    schemaVersion: 3,
    deadlineNanoseconds: 1_700_000_000_000,
    priority: .realtime,
    traceParent: TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    traceState: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    headers: [.init("retry", "1"), .init("retry", "2"), .init("origin", "gain")],
    payload: Array(0..<200).map { UInt8(truncatingIfNeeded: $0) }
)

/// A fixed envelope with every optional field absent and an empty payload.
let minimalEnvelope = Envelope(id: 0, topic: "t", contentType: "", schemaVersion: 0, priority: .bestEffort, payload: [])

/// A nested document exercising every kind of value.
let nestedDocument: StructuredValue = .map([
    .init("name", "gain"),
    .init("n", -1000),
    .init("ratio", 1.1),
    .init("half", 1.5),
    .init("flags", [true, false, nil]),
    .init("blob", .bytes([0, 1, 2, 0xFF])),
    .init("nested", .map([.init("deeper", [[1, 2], [.map([.init("x", "ü水𐅑")])]])])),
])

/// The `CodecError` a throwing call produced, or nil when it succeeded (another error is an issue).
func codecError(_ body: () throws -> Void) -> CodecError? {
    do {
        try body()
        return nil
    } catch let error as CodecError {
        return error
    } catch {
        Issue.record("expected a CodecError, got \(error)")
        return nil
    }
}
