import ChronetixCore
import ChronetixSystem

/// `stats`: counts frames and bytes, measures the rate between the first and the last frame, and keeps a
/// checksum of every payload (FNV-1a 64 over the bytes, frame after frame), so two runs can be compared.
/// The counts appear in the summary.
public struct StatsNode: SinkNode {
    public private(set) var frames: UInt64 = 0
    public private(set) var bytes: UInt64 = 0
    public private(set) var checksum: UInt64 = Self.offsetBasis
    public private(set) var firstTimestamp: Int64 = 0
    public private(set) var lastTimestamp: Int64 = 0
    /// How to read the clock when a frame arrives (CLOCK_MONOTONIC nanoseconds); injectable for tests.
    let now: @Sendable () -> Int64

    static let offsetBasis: UInt64 = 0xCBF2_9CE4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01B3

    public init(config: NodeConfig, context: NodeContext, now: @escaping @Sendable () -> Int64 = MonotonicClock.now) {
        self.now = now
    }

    public mutating func consume(_ info: FrameInfo, _ payload: RawSpan) throws {
        let arrival = now()
        if frames == 0 { firstTimestamp = arrival }
        lastTimestamp = arrival
        frames += 1
        bytes += UInt64(payload.byteCount)
        var hash = checksum
        for offset in 0..<payload.byteCount {
            hash = (hash ^ UInt64(unsafe payload.unsafeLoad(fromByteOffset: offset, as: UInt8.self))) &* Self.prime
        }
        checksum = hash
    }

    /// Frames per second between the first and the last arrival; 0 with fewer than two frames.
    public var framesPerSecond: Double {
        guard frames > 1, lastTimestamp > firstTimestamp else { return 0 }
        return Double(frames - 1) * 1e9 / Double(lastTimestamp - firstTimestamp)
    }

    public func report() -> NodeReport {
        [
            ("frames", .integer(Int64(frames))),
            ("bytes", .integer(Int64(bytes))),
            ("frames_per_second", .double(framesPerSecond)),
            ("checksum", .string(String(checksum, radix: 16))),
        ]
    }
}

/// `discard`: counts frames and bytes and drops them.
public struct DiscardNode: SinkNode {
    public private(set) var frames: UInt64 = 0
    public private(set) var bytes: UInt64 = 0

    public init(config: NodeConfig, context: NodeContext) {}

    @inline(__always)
    public mutating func consume(_ info: FrameInfo, _ payload: RawSpan) throws {
        frames += 1
        bytes += UInt64(payload.byteCount)
    }

    public func report() -> NodeReport {
        [("frames", .integer(Int64(frames))), ("bytes", .integer(Int64(bytes)))]
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds, the clock of frame timestamps and deadlines.
public enum MonotonicClock {
    @Sendable public static func now() -> Int64 {
        // CLOCK_MONOTONIC nanoseconds fit Int64 for 292 years of uptime.
        Int64(truncatingIfNeeded: Clock.monotonicNanoseconds())
    }
}
