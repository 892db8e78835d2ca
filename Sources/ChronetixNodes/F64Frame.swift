/// The binary layout of `f64` frames: multi-channel samples, interleaved by sample.
///
/// ```
/// offset 0   u32 little-endian   channels (at least 1)
/// offset 4   u32 little-endian   samples per channel (at least 1)
/// offset 8   f64 little-endian   channels × samples values: sample 0 of every channel, then sample 1…
/// ```
///
/// A frame is exactly `8 + 8 × channels × samples` bytes; anything else is rejected. The values start 8
/// bytes in, so they are 8-byte aligned whenever the frame is (ring frames are).
///
/// This file is the one place that turns f64 frame bytes into numbers and back.
public enum F64Frame {
    /// The header's size in bytes.
    public static let headerSize = 8

    /// The byte size of a frame of `channels` × `samples`.
    public static func byteCount(channels: Int, samples: Int) -> Int {
        headerSize + 8 * channels * samples
    }

    /// The shape of a frame, read from its header and checked against its length.
    public struct Shape: Hashable, Sendable {
        public var channels: Int
        public var samples: Int

        public init(channels: Int, samples: Int) {
            self.channels = channels
            self.samples = samples
        }

        /// Values in the frame: channels × samples.
        public var count: Int { channels * samples }
        /// The frame's size in bytes.
        public var byteCount: Int { F64Frame.byteCount(channels: channels, samples: samples) }
    }

    /// Reads and checks a frame's header.
    /// - Parameter frame: The frame's bytes.
    /// - Returns: Its shape.
    /// - Throws: `F64Frame.Malformed` when the header is short, a count is zero, or the length disagrees.
    public static func shape(of frame: RawSpan) throws(Malformed) -> Shape {
        guard frame.byteCount >= headerSize else {
            throw Malformed("an f64 frame of \(frame.byteCount) bytes is shorter than its 8-byte header")
        }
        let channels = Int(UInt32(littleEndian: unsafe frame.unsafeLoadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        let samples = Int(UInt32(littleEndian: unsafe frame.unsafeLoadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        guard channels >= 1, samples >= 1 else {
            throw Malformed("an f64 frame declares \(channels) channels × \(samples) samples; both must be at least 1")
        }
        let shape = Shape(channels: channels, samples: samples)
        guard shape.byteCount == frame.byteCount else {
            throw Malformed(
                "an f64 frame of \(channels) channels × \(samples) samples takes \(shape.byteCount) bytes, "
                    + "not \(frame.byteCount)"
            )
        }
        return shape
    }

    /// The value of `channel` at `sample` (both checked against the frame's shape by the caller).
    @inline(__always)
    public static func value(in frame: RawSpan, _ shape: Shape, channel: Int, sample: Int) -> Double {
        precondition(channel < shape.channels && sample < shape.samples, "sample outside the frame")
        return value(in: frame, at: sample * shape.channels + channel)
    }

    /// The `index`th value in storage order (sample-major, interleaved).
    @inline(__always)
    public static func value(in frame: RawSpan, at index: Int) -> Double {
        // RawSpan bounds-checks the offset; every bit pattern is a Double.
        Double(bitPattern: UInt64(littleEndian: unsafe frame.unsafeLoadUnaligned(fromByteOffset: headerSize + 8 * index, as: UInt64.self)))
    }

    /// Writes a frame's header.
    /// - Parameters:
    ///   - shape: The frame's shape.
    ///   - frame: The output bytes, at least `shape.byteCount` long.
    public static func writeHeader(_ shape: Shape, into frame: inout MutableRawSpan) {
        frame.storeBytes(of: UInt32(shape.channels).littleEndian, toByteOffset: 0, as: UInt32.self)
        frame.storeBytes(of: UInt32(shape.samples).littleEndian, toByteOffset: 4, as: UInt32.self)
    }

    /// Writes the `index`th value in storage order.
    @inline(__always)
    public static func setValue(_ value: Double, at index: Int, in frame: inout MutableRawSpan) {
        frame.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: headerSize + 8 * index, as: UInt64.self)
    }

    /// Writes a whole frame, asking `value` for each channel and sample in storage order.
    /// - Returns: The frame's size in bytes.
    @inline(__always)
    public static func write(
        _ shape: Shape,
        into frame: inout MutableRawSpan,
        _ value: (_ channel: Int, _ sample: Int) -> Double
    ) -> Int {
        writeHeader(shape, into: &frame)
        var index = 0
        for sample in 0..<shape.samples {
            for channel in 0..<shape.channels {
                setValue(value(channel, sample), at: index, in: &frame)
                index += 1
            }
        }
        return shape.byteCount
    }

    /// Builds a frame in a new array (tests, the `process` node's adapters).
    public static func make(_ shape: Shape, _ value: (_ channel: Int, _ sample: Int) -> Double) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: shape.byteCount)
        var elements = bytes.mutableSpan
        var span = unsafe elements.mutableBytes  // safe: a byte is a byte, every pattern valid
        _ = write(shape, into: &span, value)
        return bytes
    }

    /// An f64 frame whose header or length is wrong.
    public struct Malformed: Error, CustomStringConvertible, Sendable {
        public var description: String

        init(_ description: String) { self.description = description }
    }
}
