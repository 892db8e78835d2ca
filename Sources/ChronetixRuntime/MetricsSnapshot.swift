internal import Histogram

/// A worker's figures at one moment, published on its metrics topic (`flow.F.N.metrics`, CBOR through
/// ``RunCoding``) about every 250 ms while its node runs, and once more (``isFinal``) just before its report.
///
/// Every count is cumulative since the worker started, so a lost or late snapshot costs nothing: the next one
/// carries everything. A worker that is replaced starts again from zero under a new ``pid``; the coordinator
/// tells the two apart by it. `docs/metrics.md` says how the coordinator turns these into Prometheus metrics.
public struct MetricsSnapshot: Hashable, Sendable, Codable {
    /// The node's id.
    public var node: String
    /// The worker's pid.
    public var pid: Int32
    /// 1 for the worker's first snapshot, then one more for each.
    public var sequence: UInt64
    /// The last snapshot of this worker (sent before its report).
    public var isFinal: Bool
    /// `CLOCK_MONOTONIC` when it was taken, in nanoseconds (the host's clock, which every process shares).
    public var timeNanoseconds: UInt64
    /// Frames received on all inputs (late drops included) and payload bytes.
    public var framesIn: UInt64
    public var bytesIn: UInt64
    /// Frames committed to all outputs, and payload bytes.
    public var framesOut: UInt64
    public var bytesOut: UInt64
    /// Frames the node could not handle (skipped or replaced under its `on_error`).
    public var errors: UInt64
    /// How long the node took per batch of frames (maps and sinks: from taking the batch's first frame to
    /// handing over its last, outputs published; sources and `process` nodes: empty).
    public var processing: LatencyHistogram
    public var inputs: [InputMetrics]
    public var outputs: [OutputMetrics]

    public init(
        node: String, pid: Int32, sequence: UInt64, isFinal: Bool, timeNanoseconds: UInt64, framesIn: UInt64,
        bytesIn: UInt64, framesOut: UInt64, bytesOut: UInt64, errors: UInt64, processing: LatencyHistogram,
        inputs: [InputMetrics], outputs: [OutputMetrics]
    ) {
        self.node = node
        self.pid = pid
        self.sequence = sequence
        self.isFinal = isFinal
        self.timeNanoseconds = timeNanoseconds
        self.framesIn = framesIn
        self.bytesIn = bytesIn
        self.framesOut = framesOut
        self.bytesOut = bytesOut
        self.errors = errors
        self.processing = processing
        self.inputs = inputs
        self.outputs = outputs
    }

    /// One input port: the reader's half of an edge.
    public struct InputMetrics: Hashable, Sendable, Codable {
        public var port: String
        /// The data edge (`node/output`).
        public var edge: String
        /// The consumer slot of this input in the edge's ring.
        public var slot: Int
        public var frames: UInt64
        public var bytes: UInt64
        /// Frames delivered again after a re-attach.
        public var duplicates: UInt64
        /// Frames received after their deadline.
        public var deadlineMisses: UInt64
        /// Late frames not handed to the node (`on_late: drop`).
        public var lateDrops: UInt64
        /// Frames the ring's policy dropped for this reader (`drop-oldest`, `latest`), from the ring.
        public var drops: UInt64
        /// Frames committed to the ring that this reader has not released yet, when the snapshot was taken.
        public var queueDepth: UInt64
        /// From a frame's timestamp to its receipt here.
        public var latency: LatencyHistogram

        public init(
            port: String, edge: String, slot: Int, frames: UInt64, bytes: UInt64, duplicates: UInt64,
            deadlineMisses: UInt64, lateDrops: UInt64, drops: UInt64, queueDepth: UInt64, latency: LatencyHistogram
        ) {
            self.port = port
            self.edge = edge
            self.slot = slot
            self.frames = frames
            self.bytes = bytes
            self.duplicates = duplicates
            self.deadlineMisses = deadlineMisses
            self.lateDrops = lateDrops
            self.drops = drops
            self.queueDepth = queueDepth
            self.latency = latency
        }
    }

    /// One output port: the writer's half of an edge.
    public struct OutputMetrics: Hashable, Sendable, Codable {
        public var port: String
        public var edge: String
        public var frames: UInt64
        public var bytes: UInt64
        /// Times the writer found no room in the ring and had to wait for the readers (credit stalls), plus
        /// non-blocking sends that found none (`WouldBlock`).
        public var creditStalls: UInt64

        public init(port: String, edge: String, frames: UInt64, bytes: UInt64, creditStalls: UInt64) {
            self.port = port
            self.edge = edge
            self.frames = frames
            self.bytes = bytes
            self.creditStalls = creditStalls
        }
    }
}

/// A latency distribution as it travels: cumulative counts over fixed bounds (what a Prometheus histogram
/// exposes), with the percentiles and the sum taken from the worker's HdrHistogram (2 significant digits).
///
/// The bounds are sent with the counts, so a reader never depends on this build's ``standardBounds``.
/// Counts are exact in number; the bucket a value lands in is decided at the HdrHistogram's resolution (a
/// value within 1% of a bound may count on either side of it). ``sumNanoseconds`` is the histogram's mean
/// times its count, within the same 1%.
public struct LatencyHistogram: Hashable, Sendable, Codable {
    /// Upper bounds of the buckets in nanoseconds, ascending (Prometheus `le`, without `+Inf`).
    public var bounds: [UInt64]
    /// `cumulativeCounts[i]`: the observations at or below `bounds[i]`.
    public var cumulativeCounts: [UInt64]
    /// Every observation (the `+Inf` bucket).
    public var count: UInt64
    /// The observations' sum, in nanoseconds.
    public var sumNanoseconds: UInt64
    /// Percentiles in nanoseconds (0 when there is no observation).
    public var p50: UInt64
    public var p95: UInt64
    public var p99: UInt64

    /// 1 µs to 10 s in 1-2.5-5 steps: 22 buckets, from a frame handed over in shared memory to a stuck node.
    public static let standardBounds: [UInt64] = [
        1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
        1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000, 250_000_000, 500_000_000,
        1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000,
    ]

    /// No observation, over ``standardBounds``.
    public static let empty = LatencyHistogram(
        bounds: standardBounds, cumulativeCounts: Array(repeating: 0, count: standardBounds.count), count: 0,
        sumNanoseconds: 0, p50: 0, p95: 0, p99: 0
    )

    public init(
        bounds: [UInt64], cumulativeCounts: [UInt64], count: UInt64, sumNanoseconds: UInt64, p50: UInt64, p95: UInt64,
        p99: UInt64
    ) {
        self.bounds = bounds
        self.cumulativeCounts = cumulativeCounts
        self.count = count
        self.sumNanoseconds = sumNanoseconds
        self.p50 = p50
        self.p95 = p95
        self.p99 = p99
    }

    /// Whether the fields agree: as many counts as bounds, bounds ascending, counts non-decreasing and at most
    /// ``count``. The coordinator ignores a histogram that does not (a peer is not trusted).
    public var isWellFormed: Bool {
        guard bounds.count == cumulativeCounts.count, bounds.count <= 64 else { return false }
        for index in bounds.indices.dropFirst() {
            guard bounds[index - 1] < bounds[index], cumulativeCounts[index - 1] <= cumulativeCounts[index] else {
                return false
            }
        }
        return (cumulativeCounts.last ?? 0) <= count
    }

    /// The distribution of an HdrHistogram over ``standardBounds``: one pass over its recorded values.
    init(_ histogram: Histogram<UInt64>) {
        let bounds = Self.standardBounds
        var perBucket = [UInt64](repeating: 0, count: bounds.count)
        var index = 0
        for recorded in histogram.recordedValues() {
            // `value` is the highest value equivalent to the recorded ones at the histogram's resolution.
            while index < bounds.count && recorded.value > bounds[index] { index += 1 }
            guard index < bounds.count else { break }
            perBucket[index] &+= recorded.count
        }
        var running: UInt64 = 0
        let cumulative = perBucket.map { count in
            running &+= count
            return running
        }
        let count = histogram.totalCount
        self.init(
            bounds: bounds,
            cumulativeCounts: cumulative,
            count: count,
            sumNanoseconds: count == 0 ? 0 : UInt64(histogram.mean * Double(count)),
            p50: count == 0 ? 0 : histogram.valueAtPercentile(50),
            p95: count == 0 ? 0 : histogram.valueAtPercentile(95),
            p99: count == 0 ? 0 : histogram.valueAtPercentile(99)
        )
    }
}
