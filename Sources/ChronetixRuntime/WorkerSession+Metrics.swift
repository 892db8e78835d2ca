internal import ChronetixCore
internal import ChronetixSystem
internal import Histogram
internal import IpcEventBus
internal import ShmDataPort
internal import Synchronization

/// A worker's metrics between snapshots: the processing-time histogram (per batch) and when the next snapshot
/// is due. The per-frame counters stay in the ports, plain fields; a snapshot reads them on the worker's
/// thread when it services the bus, so taking one costs the data path nothing.
struct WorkerMetrics {
    /// How often a snapshot is published while the node runs.
    static let interval: UInt64 = 250_000_000

    /// `CLOCK_MONOTONIC` when the next periodic snapshot is due.
    var nextSnapshot: UInt64 = 0
    /// The snapshots published so far.
    var sequence: UInt64 = 0
    /// Nanoseconds per batch of frames, 1 ns to 100 s at 2 significant digits.
    var processing = Histogram<UInt64>(highestTrackableValue: 100_000_000_000, numberOfSignificantValueDigits: .two)
    private(set) var inputs: [InputPort] = []
    private(set) var outputs: [OutputPort] = []

    mutating func attach(inputs: [InputPort], outputs: [OutputPort]) {
        self.inputs = inputs
        self.outputs = outputs
    }

    /// Records one batch's processing time (`start` 0: no batch was timed).
    @inline(__always)
    mutating func recordProcessing(from start: UInt64, to end: UInt64) {
        guard start != 0 else { return }
        // Outside the histogram's range (over 100 s): not recorded, as an impossible reading would not be.
        _ = processing.record(end > start ? end - start : 0)
    }
}

extension WorkerSession {
    /// The snapshot of everything the worker counted so far.
    func metricsSnapshot(isFinal: Bool, now: UInt64) -> MetricsSnapshot {
        metrics.sequence &+= 1
        let inputs = metrics.inputs.map { input in
            let status = input.consumer.status()
            let slot = input.binding.slot
            let consumer = status.consumers.indices.contains(slot) ? status.consumers[slot] : nil
            let released = consumer?.releasedFrames ?? status.writeFrames
            return MetricsSnapshot.InputMetrics(
                port: input.binding.port,
                edge: input.binding.edge,
                slot: slot,
                frames: input.frames,
                bytes: input.bytes,
                duplicates: input.consumer.resumedDuplicates,
                deadlineMisses: input.deadlineMisses,
                lateDrops: input.lateDrops,
                drops: consumer?.drops ?? 0,
                queueDepth: status.writeFrames > released ? status.writeFrames - released : 0,
                latency: LatencyHistogram(input.latency)
            )
        }
        var outputs: [MetricsSnapshot.OutputMetrics] = []
        for output in metrics.outputs {
            if output.isWrittenByAnotherThread && !isFinal {
                // Frames and bytes as the writing thread last shared them; its ring's wait statistics are that
                // thread's own, so the credit stalls come with the final snapshot.
                outputs.append(
                    MetricsSnapshot.OutputMetrics(
                        port: output.binding.port,
                        edge: output.binding.edge,
                        frames: output.sharedFrames.load(ordering: .relaxed),
                        bytes: output.sharedBytes.load(ordering: .relaxed),
                        creditStalls: 0
                    )
                )
                continue
            }
            outputs.append(
                MetricsSnapshot.OutputMetrics(
                    port: output.binding.port,
                    edge: output.binding.edge,
                    frames: output.frames,
                    bytes: output.bytes,
                    creditStalls: output.creditStalls
                )
            )
        }
        return MetricsSnapshot(
            node: node.id,
            pid: FileSystem.currentProcessID(),
            sequence: metrics.sequence,
            isFinal: isFinal,
            timeNanoseconds: now,
            framesIn: inputs.reduce(0) { $0 &+ $1.frames },
            bytesIn: inputs.reduce(0) { $0 &+ $1.bytes },
            framesOut: outputs.reduce(0) { $0 &+ $1.frames },
            bytesOut: outputs.reduce(0) { $0 &+ $1.bytes },
            errors: errors,
            processing: LatencyHistogram(metrics.processing),
            inputs: inputs,
            outputs: outputs
        )
    }

    /// Publishes a snapshot on the assignment's metrics topic, without waiting: the bus client's writer
    /// thread sends it. A snapshot that cannot be queued is dropped (the next one carries the same counts,
    /// and a bus that is gone is noticed by the next ``service()``).
    func publishMetrics(isFinal: Bool, now: UInt64 = Clock.monotonicNanoseconds()) {
        metrics.nextSnapshot = now &+ WorkerMetrics.interval
        guard let topic = assignment.metricsTopic else { return }
        let snapshot = metricsSnapshot(isFinal: isFinal, now: now)
        do {
            let payload = try RunCoding.encode(snapshot)
            try client.publish(Envelope(id: 0, topic: topic, contentType: RunCoding.contentType, payload: payload))
        } catch {
            if isFinal { log("the final metrics snapshot was not sent: \(error)") }
        }
    }
}
