// ShmRing: the ring's hot path in one thread (send, receive, release through a real shared-memory segment),
// for what wall clock cannot show on a noisy machine: allocations per frame (the budget is 0) and
// instructions per frame. Throughput and latency between two processes are `chronetix bench shm`.

import Benchmark
import ChronetixSystem
import ShmDataPort

/// A segment named for this benchmark process, removed when the benchmark ends.
func makeRing(_ label: String, capacity: Int = 1 << 16) throws -> RingSegment {
    let name = RingName.forEdge(runID: "benchmark-\(ProcessIdentity.current.pid)", node: "ring", output: label)
    try? SharedMemory.unlink(name: name)  // a leftover of a crashed earlier run with the same pid; absent is fine
    return try RingSegment(creating: name, configuration: RingConfiguration(dataCapacity: capacity))
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .instructions, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: 1_000,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )

    for size in [8, 512] {
        Benchmark("ShmRing.sendReceive.\(size)") { benchmark in
            let segment = try makeRing("send\(size)")
            let name = segment.name
            defer { try? SharedMemory.unlink(name: name) }  // best effort at exit; a failure leaves nothing to do
            var producer = try RingProducer(attachingTo: segment.name)
            var consumer = try RingConsumer(attachingTo: segment.name)
            let source = [UInt8](repeating: 0xA5, count: size)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let sent = try source.withUnsafeBytes { bytes in try producer.trySend(bytes) }
                precondition(sent != .wouldBlock, "one frame in flight always fits")
                guard let frame = try consumer.tryReceive() else { preconditionFailure("the frame just sent") }
                blackHole(frame.payload.count)
                consumer.release()
            }
        }

        Benchmark("ShmRing.reserveCommit.\(size)") { benchmark in
            let segment = try makeRing("reserve\(size)")
            let name = segment.name
            defer { try? SharedMemory.unlink(name: name) }  // as above
            var producer = try RingProducer(attachingTo: segment.name)
            var consumer = try RingConsumer(attachingTo: segment.name)
            benchmark.startMeasurement()
            for iteration in benchmark.scaledIterations {
                guard let buffer = try producer.tryReserve(capacity: size) else { preconditionFailure("room for one frame") }
                buffer.storeBytes(of: UInt64(iteration), as: UInt64.self)
                producer.commit(length: size)
                guard let frame = try consumer.tryReceive() else { preconditionFailure("the frame just committed") }
                blackHole(frame.payload.load(as: UInt64.self))
                consumer.release()
            }
        }
    }
}
