#if canImport(Glibc)
import Glibc  // sin(3) only: libm arithmetic, not a system call
#endif

/// `sine`: multi-channel sine waves in f64 frames, phase-continuous across frames.
///
/// Channel `c` carries `amplitude × sin(2π × frequency_hz × t + c × π / channels)`, where `t` counts
/// samples at the sample rate `rate_hz × samples` (with `rate_hz` 0, as fast as possible, the samples are
/// spaced as if one frame were one second). The phase is kept as a sample index, so frame N+1 continues
/// exactly where frame N stopped, however many frames have passed.
public struct SineNode: SourceNode {
    public let shape: F64Frame.Shape
    public let frequency: Double
    public let amplitude: Double
    /// Samples per second per channel.
    public let sampleRate: Double
    /// The index of the next sample, per channel.
    public private(set) var nextSample: UInt64 = 0

    public init(config: NodeConfig, context: NodeContext) throws(NodeError) {
        shape = F64Frame.Shape(
            channels: try config.integer("channels", in: 1...4096),
            samples: try config.integer("samples", in: 1...(1 << 24))
        )
        frequency = try config.double("frequency_hz")
        amplitude = try config.double("amplitude")
        let rate = try config.double("rate_hz")
        sampleRate = (rate > 0 ? rate : 1) * Double(shape.samples)
    }

    /// The value of `channel` at sample index `index` (the formula above).
    public func value(channel: Int, index: UInt64) -> Double {
        // The phase comes from the sample index, not from a running sum, so it never drifts: frame N+1
        // starts exactly where frame N ended. Only the fraction of a period goes into `sin`.
        let phase = Double(index) * frequency / sampleRate
        let fraction = phase - phase.rounded(.down)
        let offset = Double(channel) * .pi / Double(shape.channels)
        return amplitude * sin(2 * .pi * fraction + offset)
    }

    public mutating func produce(into output: inout some FrameOutput) throws -> Bool {
        let start = nextSample
        try output.emit(capacity: shape.byteCount) { frame in
            F64Frame.write(shape, into: &frame) { channel, sample in
                value(channel: channel, index: start + UInt64(sample))
            }
        }
        nextSample += UInt64(shape.samples)
        return true
    }
}

/// `counter`: frames of `size` bytes that start with the count (0, 1, 2…) as a little-endian u64; the rest
/// of each frame is zero.
public struct CounterNode: SourceNode {
    public let size: Int
    public private(set) var count: UInt64 = 0

    public init(config: NodeConfig, context: NodeContext) throws(NodeError) {
        size = try config.integer("size", in: 8...(1 << 30))
    }

    public mutating func produce(into output: inout some FrameOutput) throws -> Bool {
        let value = count
        try output.emit(capacity: size) { frame in
            frame.storeBytes(of: value.littleEndian, toByteOffset: 0, as: UInt64.self)
            // The rest is zeroed explicitly (one memset): a ring slot holds whatever was there before.
            ByteCopy.fill(&frame, from: 8, count: size - 8, with: 0)
            return size
        }
        count += 1
        return true
    }
}

/// `random`: uniform samples in [-1, 1) in f64 frames, from a seeded generator (SplitMix64), so the same
/// seed gives the same frames on every machine.
public struct RandomNode: SourceNode {
    public let shape: F64Frame.Shape
    private var state: UInt64

    public init(config: NodeConfig, context: NodeContext) throws(NodeError) {
        shape = F64Frame.Shape(
            channels: try config.integer("channels", in: 1...4096),
            samples: try config.integer("samples", in: 1...(1 << 24))
        )
        state = UInt64(bitPattern: try config.integer("seed"))
    }

    /// The next value in [-1, 1): 53 random bits scaled.
    public mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        mixed ^= mixed >> 31
        return Double(mixed >> 11) * 0x1.0p-52 - 1
    }

    public mutating func produce(into output: inout some FrameOutput) throws -> Bool {
        var generator = self
        try output.emit(capacity: shape.byteCount) { frame in
            F64Frame.write(shape, into: &frame) { _, _ in generator.next() }
        }
        self = generator
        return true
    }
}
