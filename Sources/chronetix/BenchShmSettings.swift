import ArgumentParser
import ShmDataPort

/// How the two sides of `chronetix bench shm` handle payloads.
enum BenchShmMode: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// The consumer copies every payload out (the producer copies every payload in, in both modes).
    case copy
    /// The consumer reads each frame in place: its sequence number, as the C reference's `+inplace` consumer.
    case zeroCopy = "zero-copy"
}

/// The ring's wait strategy, as the command spells it.
enum BenchShmWait: String, ExpressibleByArgument, CaseIterable, Sendable {
    case spin, sleep, adaptive

    /// The ring's strategy: `adaptive` spins 20 µs, then sleeps on the futex.
    var strategy: WaitStrategy {
        switch self {
        case .spin: .spin
        case .sleep: .sleep
        case .adaptive: .adaptive
        }
    }
}

/// A byte count written as digits with an optional binary suffix: `4096`, `4K`, `1M`, `1G` (case-insensitive,
/// an optional `iB` or `B` after the letter).
struct ByteCount: ExpressibleByArgument, Hashable, Sendable {
    var value: Int

    init(_ value: Int) { self.value = value }

    init?(argument: String) {
        var text = Substring(argument.lowercased())
        if text.hasSuffix("ib") {
            text = text.dropLast(2)
        } else if text.hasSuffix("b") {
            text = text.dropLast()
        }
        var shift = 0
        switch text.last {
        case "k": shift = 10
        case "m": shift = 20
        case "g": shift = 30
        default: break
        }
        if shift > 0 { text = text.dropLast() }
        guard !text.isEmpty, text.allSatisfy(\.isASCIIDigit), let number = Int(text), number <= Int.max >> shift else {
            return nil
        }
        value = number << shift
    }

    var defaultValueDescription: String { ByteCount.format(value) }

    /// `512`, `4K`, `1M`: the shortest exact spelling.
    static func format(_ bytes: Int) -> String {
        if bytes >= 1 << 30, bytes % (1 << 30) == 0 { return "\(bytes >> 30)G" }
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20)M" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10)K" }
        return "\(bytes)"
    }
}

/// A comma-separated list of byte counts: `8,64,4K,1M`.
struct ByteCountList: ExpressibleByArgument, Hashable, Sendable {
    var values: [Int]

    init(_ values: [Int]) { self.values = values }

    init?(argument: String) {
        var values: [Int] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let count = ByteCount(argument: String(part)) else { return nil }
            values.append(count.value)
        }
        guard !values.isEmpty else { return nil }
        self.values = values
    }

    var defaultValueDescription: String { values.map(ByteCount.format).joined(separator: ",") }
}

/// The geometry the bench gives each ring, matching the C reference (`shared/peers/limits/shm_ring.c`).
enum BenchShmGeometry {
    /// Bytes of a frame header in the ring (`CX_RING_FRAME_HEADER_SIZE`).
    static let frameHeader = 32
    /// The ring's default frame alignment.
    static let defaultAlignment = 8
    /// The smallest payload: every payload starts with its 8-byte sequence number.
    static let minimumSize = 8

    /// The bytes one frame of `size` payload bytes occupies in the ring.
    static func slot(_ size: Int, alignment: Int) -> Int { (frameHeader + size + alignment - 1) & ~(alignment - 1) }

    /// The throughput ring: max(256 KiB, pow2ceil(4 × slot)), as the C reference sizes its ring.
    static func throughputRing(_ size: Int, alignment: Int) -> Int {
        max(256 << 10, powerOfTwo(atLeast: 4 * slot(size, alignment: alignment)))
    }

    /// The latency rings: max(64 KiB, pow2ceil(4 × slot)), as the C reference sizes its ping-pong rings.
    static func latencyRing(_ size: Int, alignment: Int) -> Int {
        max(64 << 10, powerOfTwo(atLeast: 4 * slot(size, alignment: alignment)))
    }

    /// The largest payload a ring of `ring` bytes carries (half the data area less a frame header).
    static func maximumPayload(ring: Int) -> Int { ring / 2 - frameHeader }

    static func powerOfTwo(atLeast value: Int) -> Int {
        var power = 1
        while power < value { power <<= 1 }
        return power
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
