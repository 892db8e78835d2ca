// CBORCodec: the envelope fast path of ChronetixCBOR. The budget (docs/BENCHMARKS.md): encode + decode
// of a 74-byte envelope <= 500 ns, and 0 allocations for encode into a reused CBORWriter.

import Benchmark
import ChronetixCBOR
import ChronetixCore

/// A bus message whose CBOR encoding is exactly 74 bytes: short topic and content type, a 30-byte
/// payload, no optional fields.
let envelope74 = Envelope(
    id: 42,
    topic: "flow.gain.out",
    contentType: ContentType.cbor.mediaType,
    schemaVersion: 1,
    priority: .normal,
    payload: (0..<30).map { UInt8($0) }
)

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .instructions, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: 1_000,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )

    Benchmark("CBOR.encode.envelope74") { benchmark in
        var writer = CBORWriter(capacity: 256)
        envelope74.encode(into: &writer)
        precondition(writer.count == 74, "envelope74 encodes to \(writer.count) bytes, not 74")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            writer.reset()
            envelope74.encode(into: &writer)
            blackHole(writer.count)
        }
    }

    Benchmark("CBOR.decode.envelope74") { benchmark in
        let bytes = CBOR.encode(envelope74)
        precondition(bytes.count == 74, "envelope74 encodes to \(bytes.count) bytes, not 74")
        let roundTripped = try Envelope(cbor: bytes)
        precondition(roundTripped == envelope74, "envelope74 does not round-trip")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try Envelope(cbor: bytes))
        }
    }

    Benchmark("CBOR.encodeDecode.envelope74") { benchmark in
        var writer = CBORWriter(capacity: 256)
        envelope74.encode(into: &writer)
        precondition(writer.count == 74, "envelope74 encodes to \(writer.count) bytes, not 74")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            writer.reset()
            envelope74.encode(into: &writer)
            let decoded = try writer.withUnsafeBytes { bytes throws(CodecError) in try Envelope(unsafeCBOR: bytes) }
            blackHole(decoded)
        }
    }
}
