public import ChronetixCore
public import ChronetixRuntime
import CoreMetrics
public import Prometheus
import Synchronization

/// The coordinator's view of a run's metrics: it takes the workers' ``MetricsSnapshot``s (on the bus thread),
/// keeps the counters and gauges in swift-metrics handles backed by a `PrometheusCollectorRegistry`, keeps
/// the histograms itself, and renders everything in the Prometheus text format (on the HTTP thread) and as
/// progress lines (on the progress thread). `docs/metrics.md` lists every metric.
///
/// Workers send cumulative figures; a counter here grows by the difference from the last snapshot of the same
/// worker. A node whose worker is replaced (a restart: a new pid) starts from zero again, and its counters go
/// on growing from where the old worker left them, as Prometheus counters must.
///
/// Histograms do not go through swift-metrics: its recorders take one observation at a time (and
/// swift-prometheus's histogram then walks its buckets under a lock), so replaying the frames the workers
/// counted would cost the coordinator as much CPU as the data path. The workers send cumulative bucket
/// counts, which are rendered as they are (docs/adr/0004-metrics-from-worker-snapshots.md).
public final class RunMetrics: Sendable {
    /// The registry the swift-metrics handles write to.
    public let registry: PrometheusCollectorRegistry
    private let flow: String
    private let run: String
    private let state: Mutex<State>
    /// How many times each node was restarted so far; read at every scrape. The supervisor provides it.
    private let restartSource = Mutex<@Sendable (String) -> UInt64>({ _ in 0 })

    /// One input of a node: the reader's side of an edge (`SRC/OUT->DST/IN`, as in the summary).
    public struct EdgeFigures: Sendable, Hashable {
        public var key: String
        public var node: String
        public var port: String
        public var frames: UInt64 = 0
        public var bytes: UInt64 = 0
        public var drops: UInt64 = 0
        public var duplicates: UInt64 = 0
        public var deadlineMisses: UInt64 = 0
        public var lateDrops: UInt64 = 0
        public var queueDepth: UInt64 = 0
        public var latency = LatencyHistogram.empty
        /// Frames per second and bytes per second between the last two snapshots (0 before two).
        public var framesPerSecond: Double = 0
        public var bytesPerSecond: Double = 0

        /// An edge with nothing counted yet.
        public init(key: String, node: String, port: String) {
            self.key = key
            self.node = node
            self.port = port
        }
    }

    /// One node's figures.
    public struct NodeFigures: Sendable, Hashable {
        public var node: String
        public var kind: String
        public var pid: Int32?
        public var framesIn: UInt64 = 0
        public var framesOut: UInt64 = 0
        public var errors: UInt64 = 0
        public var processing = LatencyHistogram.empty
        public var isFinal = false
    }

    /// The last snapshot of a node's current worker, and the histogram counts its earlier workers left.
    private struct NodeState {
        var kind: String
        var last: MetricsSnapshot?
        /// Per histogram key: what earlier workers of the node counted (added to the current worker's).
        var carried: [String: LatencyHistogram] = [:]
        /// When the previous snapshot was taken, and its per-input frames and bytes (for rates).
        var previous: (time: UInt64, inputs: [String: (UInt64, UInt64)])?
    }

    private struct State {
        var nodes: [String: NodeState]
        var order: [String]
        /// Input keys per node, in manifest order, and the edge key of each.
        var inputs: [String: [(port: String, edge: String, key: String)]]
        var outputs: [String: [(port: String, edge: String)]]
        var counters: [String: CoreMetrics.Counter] = [:]
        var gauges: [String: CoreMetrics.Recorder] = [:]
        /// The last absolute value each counter was advanced to, and the pid it came from.
        var counted: [String: (value: UInt64, pid: Int32)] = [:]
        /// Rendered as they are: name -> (labels, histogram), in registration order.
        var histograms: [(name: String, labels: [(String, String)], key: String)] = []
        var histogramValues: [String: LatencyHistogram] = [:]
        var rates: [String: (Double, Double)] = [:]
        var restartsCounted: [String: UInt64] = [:]
    }

    /// Creates the metrics of a run; every metric exists (at 0) from the start.
    /// - Parameters:
    ///   - flow: The compiled flow (its nodes and edges name the series).
    ///   - run: The run id (`<flow>-<8 hex digits>`).
    public init(flow: CompiledFlow, run: String) {
        registry = PrometheusCollectorRegistry()
        self.flow = flow.flow
        self.run = run
        var state = State(nodes: [:], order: flow.nodes.map(\.id), inputs: [:], outputs: [:])
        for node in flow.nodes {
            state.nodes[node.id] = NodeState(kind: node.kind)
            state.inputs[node.id] = node.inputs.map { ($0.name, $0.edge, "\($0.edge)->\(node.id)/\($0.name)") }
            state.outputs[node.id] = node.outputs.map { ($0.name, $0.edge) }
        }
        self.state = Mutex(state)
        self.state.withLock { state in
            for id in state.order {
                let kind = state.nodes[id]?.kind ?? ""
                let labels = nodeLabels(id, kind: kind)
                for name in Self.nodeCounters { counter(&state, name, labels) }
                counter(&state, "chronetix_node_restarts_total", labels)
                histogram(&state, "chronetix_node_processing_seconds", labels)
                for input in state.inputs[id] ?? [] {
                    let labels = inputLabels(id, port: input.port, key: input.key)
                    for name in Self.inputCounters { counter(&state, name, labels) }
                    gauge(&state, "chronetix_edge_queue_depth", labels)
                    for quantile in Self.quantiles {
                        gauge(&state, "chronetix_edge_latency_quantile_seconds", labels + [("quantile", quantile)])
                    }
                    histogram(&state, "chronetix_edge_latency_seconds", labels)
                }
                for output in state.outputs[id] ?? [] {
                    let labels = outputLabels(id, port: output.port, edge: output.edge)
                    for name in Self.outputCounters { counter(&state, name, labels) }
                }
            }
        }
    }

    static let nodeCounters = [
        "chronetix_node_frames_in_total", "chronetix_node_bytes_in_total", "chronetix_node_frames_out_total",
        "chronetix_node_bytes_out_total", "chronetix_node_errors_total",
    ]
    static let inputCounters = [
        "chronetix_edge_frames_total", "chronetix_edge_bytes_total", "chronetix_edge_drops_total",
        "chronetix_edge_duplicates_total", "chronetix_edge_deadline_misses_total", "chronetix_edge_late_drops_total",
    ]
    static let outputCounters = [
        "chronetix_output_frames_total", "chronetix_output_bytes_total", "chronetix_output_credit_stalls_total",
    ]
    static let quantiles = ["0.5", "0.95", "0.99"]

    /// Every metric's `# HELP` text (docs/metrics.md says more of each).
    static let help: [String: String] = [
        "chronetix_node_frames_in_total": "Frames received on all the node's inputs (late drops included).",
        "chronetix_node_bytes_in_total": "Payload bytes received on all the node's inputs.",
        "chronetix_node_frames_out_total": "Frames committed to all the node's outputs.",
        "chronetix_node_bytes_out_total": "Payload bytes committed to all the node's outputs.",
        "chronetix_node_errors_total": "Frames skipped or replaced under the node's on_error policy, or that failed it.",
        "chronetix_node_restarts_total": "Workers started for the node after its first.",
        "chronetix_node_processing_seconds": "Time per batch of frames, from taking its first frame to having published its outputs.",
        "chronetix_edge_frames_total": "Frames this reader received on the edge.",
        "chronetix_edge_bytes_total": "Payload bytes this reader received on the edge.",
        "chronetix_edge_drops_total": "Frames the ring's policy dropped for this reader (drop-oldest, latest).",
        "chronetix_edge_duplicates_total": "Frames delivered again to this reader after a re-attach.",
        "chronetix_edge_deadline_misses_total": "Frames this reader received after their deadline.",
        "chronetix_edge_late_drops_total": "Late frames not handed to the node (on_late: drop).",
        "chronetix_edge_queue_depth": "Frames committed to the ring and not yet released by this reader.",
        "chronetix_edge_latency_seconds": "Frame timestamp (made by its source) to its receipt by this reader.",
        "chronetix_edge_latency_quantile_seconds": "Quantiles of the edge's latency, from the reader's HdrHistogram.",
        "chronetix_output_frames_total": "Frames committed to this output.",
        "chronetix_output_bytes_total": "Payload bytes committed to this output.",
        "chronetix_output_credit_stalls_total": "Times the writer found no room in the ring and waited for its readers.",
    ]

    /// Sets where the restart counts come from (the supervisor's count per node id); read at every scrape.
    /// - Parameter source: The restarts of a node so far.
    public func setRestartSource(_ source: @escaping @Sendable (String) -> UInt64) {
        restartSource.withLock { $0 = source }
    }

    // MARK: - Labels and registration

    private func nodeLabels(_ node: String, kind: String) -> [(String, String)] {
        [("flow", flow), ("run", run), ("node", node), ("kind", kind)]
    }

    private func inputLabels(_ node: String, port: String, key: String) -> [(String, String)] {
        [("flow", flow), ("run", run), ("node", node), ("port", port), ("edge", key)]
    }

    private func outputLabels(_ node: String, port: String, edge: String) -> [(String, String)] {
        [("flow", flow), ("run", run), ("node", node), ("port", port), ("edge", edge)]
    }

    private static func key(_ name: String, _ labels: [(String, String)]) -> String {
        name + "{" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }

    // The handlers come from the registry itself rather than through `PrometheusMetricsFactory`, which has
    // no way to pass a metric's help text; the swift-metrics API on top is the same.

    private func counter(_ state: inout State, _ name: String, _ labels: [(String, String)]) {
        let handler = registry.makeCounter(descriptor: Self.descriptor(name), labels: labels)
        state.counters[Self.key(name, labels)] = CoreMetrics.Counter(label: name, dimensions: labels, handler: handler)
    }

    private func gauge(_ state: inout State, _ name: String, _ labels: [(String, String)]) {
        let handler = registry.makeGauge(descriptor: Self.descriptor(name), labels: labels)
        let gauge = CoreMetrics.Recorder(label: name, dimensions: labels, aggregate: false, handler: handler)
        gauge.record(0)
        state.gauges[Self.key(name, labels)] = gauge
    }

    /// The whole name as `metricName`, with no unit to add (the names carry theirs), and its help text.
    private static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help[name] ?? "")
    }

    private func histogram(_ state: inout State, _ name: String, _ labels: [(String, String)]) {
        let key = Self.key(name, labels)
        state.histograms.append((name, labels, key))
        state.histogramValues[key] = .empty
    }

    /// Moves a counter to `value`, the worker's cumulative figure. `resets`: the figure starts again at 0 with
    /// a new worker (per-worker counts); otherwise it is the ring's own and only grows.
    private func advance(_ state: inout State, _ name: String, _ labels: [(String, String)], to value: UInt64, pid: Int32, resets: Bool = true) {
        let key = Self.key(name, labels)
        guard let counter = state.counters[key] else { return }
        let last = state.counted[key]
        var delta: UInt64
        if let last, last.pid == pid || !resets {
            delta = value > last.value ? value - last.value : 0
        } else {
            delta = value  // a new worker counts from zero
        }
        state.counted[key] = (max(value, last.map { resets && $0.pid != pid ? 0 : $0.value } ?? 0), pid)
        if delta > 0 {
            delta = min(delta, UInt64(Int64.max))
            counter.increment(by: Int64(delta))
        }
    }

    // MARK: - Snapshots in

    /// Takes a worker's snapshot. Ignores one that does not fit the flow (a node, port or edge it does not
    /// have, a malformed histogram) or that is older than the last one of the same worker.
    /// - Parameter snapshot: The decoded snapshot; its node must be the publisher's (the caller checks).
    public func record(_ snapshot: MetricsSnapshot) {
        state.withLock { state in
            guard var node = state.nodes[snapshot.node] else { return }
            if let last = node.last, last.pid == snapshot.pid, last.sequence >= snapshot.sequence { return }
            let histograms = [snapshot.processing] + snapshot.inputs.map(\.latency)
            guard histograms.allSatisfy(\.isWellFormed) else { return }
            let pid = snapshot.pid
            let isNewWorker = node.last.map { $0.pid != pid } ?? false
            let labels = nodeLabels(snapshot.node, kind: node.kind)
            let values = [snapshot.framesIn, snapshot.bytesIn, snapshot.framesOut, snapshot.bytesOut, snapshot.errors]
            for (name, value) in zip(Self.nodeCounters, values) {
                advance(&state, name, labels, to: value, pid: pid)
            }
            var histogramsNow: [String: LatencyHistogram] = [:]
            histogramsNow[Self.key("chronetix_node_processing_seconds", labels)] = snapshot.processing
            let known = state.inputs[snapshot.node] ?? []
            var rates: [String: (UInt64, UInt64)] = [:]
            for input in snapshot.inputs {
                guard let binding = known.first(where: { $0.port == input.port && $0.edge == input.edge }) else { continue }
                let labels = inputLabels(snapshot.node, port: input.port, key: binding.key)
                advance(&state, "chronetix_edge_frames_total", labels, to: input.frames, pid: pid)
                advance(&state, "chronetix_edge_bytes_total", labels, to: input.bytes, pid: pid)
                advance(&state, "chronetix_edge_drops_total", labels, to: input.drops, pid: pid, resets: false)
                advance(&state, "chronetix_edge_duplicates_total", labels, to: input.duplicates, pid: pid)
                advance(&state, "chronetix_edge_deadline_misses_total", labels, to: input.deadlineMisses, pid: pid)
                advance(&state, "chronetix_edge_late_drops_total", labels, to: input.lateDrops, pid: pid)
                state.gauges[Self.key("chronetix_edge_queue_depth", labels)]?.record(Double(input.queueDepth))
                let percentiles = [input.latency.p50, input.latency.p95, input.latency.p99]
                for (quantile, value) in zip(Self.quantiles, percentiles) {
                    let key = Self.key("chronetix_edge_latency_quantile_seconds", labels + [("quantile", quantile)])
                    state.gauges[key]?.record(Double(value) / 1e9)
                }
                histogramsNow[Self.key("chronetix_edge_latency_seconds", labels)] = input.latency
                rates[binding.key] = (input.frames, input.bytes)
            }
            let outputs = state.outputs[snapshot.node] ?? []
            for output in snapshot.outputs where outputs.contains(where: { $0.port == output.port && $0.edge == output.edge }) {
                let labels = outputLabels(snapshot.node, port: output.port, edge: output.edge)
                advance(&state, "chronetix_output_frames_total", labels, to: output.frames, pid: pid)
                advance(&state, "chronetix_output_bytes_total", labels, to: output.bytes, pid: pid)
                advance(&state, "chronetix_output_credit_stalls_total", labels, to: output.creditStalls, pid: pid)
            }
            // Histograms: what the node's earlier workers counted, plus the current worker's figures.
            for (key, histogram) in histogramsNow {
                if isNewWorker, let previous = node.last.flatMap({ Self.histogram(key, in: $0, state: state) }) {
                    node.carried[key] = Self.sum(node.carried[key], previous)
                }
                state.histogramValues[key] = Self.sum(node.carried[key], histogram)
            }
            // Rates over the time between this snapshot and the previous one of the same worker.
            if let previous = node.previous, !isNewWorker, snapshot.timeNanoseconds > previous.time {
                let seconds = Double(snapshot.timeNanoseconds - previous.time) / 1e9
                for (key, now) in rates {
                    let before = previous.inputs[key] ?? (0, 0)
                    state.rates[key] = (
                        Double(now.0 &- min(before.0, now.0)) / seconds, Double(now.1 &- min(before.1, now.1)) / seconds
                    )
                }
            }
            node.previous = (snapshot.timeNanoseconds, rates)
            node.last = snapshot
            state.nodes[snapshot.node] = node
        }
    }

    /// The histogram of `key` in an earlier snapshot of the node.
    private static func histogram(_ key: String, in snapshot: MetricsSnapshot, state: State) -> LatencyHistogram? {
        if key.hasPrefix("chronetix_node_processing_seconds") { return snapshot.processing }
        for input in snapshot.inputs {
            guard let binding = state.inputs[snapshot.node]?.first(where: { $0.port == input.port && $0.edge == input.edge }) else {
                continue
            }
            if key.contains("edge=\(binding.key)") { return input.latency }
        }
        return nil
    }

    /// Two histograms over the same bounds added (`nil` counts as empty); different bounds keep `b`.
    static func sum(_ a: LatencyHistogram?, _ b: LatencyHistogram) -> LatencyHistogram {
        guard let a, a.bounds == b.bounds else { return b }
        return LatencyHistogram(
            bounds: b.bounds,
            cumulativeCounts: zip(a.cumulativeCounts, b.cumulativeCounts).map { $0 &+ $1 },
            count: a.count &+ b.count,
            sumNanoseconds: a.sumNanoseconds &+ b.sumNanoseconds,
            p50: b.p50, p95: b.p95, p99: b.p99
        )
    }

    // MARK: - Reading

    /// The per-node figures, in flow order.
    public var nodes: [NodeFigures] {
        state.withLock { state in
            state.order.compactMap { id in
                guard let node = state.nodes[id] else { return nil }
                var figures = NodeFigures(node: id, kind: node.kind, pid: node.last?.pid)
                if let last = node.last {
                    figures.framesIn = last.framesIn
                    figures.framesOut = last.framesOut
                    figures.errors = last.errors
                    figures.processing = last.processing
                    figures.isFinal = last.isFinal
                }
                return figures
            }
        }
    }

    /// The per-edge figures (one per reader of an edge), in flow order, as of each reader's last snapshot.
    public var edges: [EdgeFigures] {
        state.withLock { state in
            var result: [EdgeFigures] = []
            for id in state.order {
                for binding in state.inputs[id] ?? [] {
                    var figures = EdgeFigures(key: binding.key, node: id, port: binding.port)
                    if let input = state.nodes[id]?.last?.inputs.first(where: { $0.port == binding.port && $0.edge == binding.edge }) {
                        figures.frames = input.frames
                        figures.bytes = input.bytes
                        figures.drops = input.drops
                        figures.duplicates = input.duplicates
                        figures.deadlineMisses = input.deadlineMisses
                        figures.lateDrops = input.lateDrops
                        figures.queueDepth = input.queueDepth
                        figures.latency = input.latency
                    }
                    if let rate = state.rates[binding.key] {
                        figures.framesPerSecond = rate.0
                        figures.bytesPerSecond = rate.1
                    }
                    result.append(figures)
                }
            }
            return result
        }
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    public func exposition() -> [UInt8] {
        let restarts = restartSource.withLock { $0 }
        var histograms: [(name: String, labels: [(String, String)], value: LatencyHistogram)] = []
        state.withLock { state in
            for id in state.order {
                let labels = nodeLabels(id, kind: state.nodes[id]?.kind ?? "")
                let value = restarts(id)
                let counted = state.restartsCounted[id] ?? 0
                if value > counted, let counter = state.counters[Self.key("chronetix_node_restarts_total", labels)] {
                    counter.increment(by: Int64(min(value - counted, UInt64(Int64.max))))
                    state.restartsCounted[id] = value
                }
            }
            histograms = state.histograms.map { ($0.name, $0.labels, state.histogramValues[$0.key] ?? .empty) }
        }
        var buffer = registry.emitToBuffer()
        var lastName = ""
        for histogram in histograms {
            if histogram.name != lastName {
                if let help = Self.help[histogram.name] { buffer.append(contentsOf: "# HELP \(histogram.name) \(help)\n".utf8) }
                buffer.append(contentsOf: "# TYPE \(histogram.name) histogram\n".utf8)
                lastName = histogram.name
            }
            PrometheusText.appendHistogram(histogram.name, labels: histogram.labels, histogram.value, to: &buffer)
        }
        return buffer
    }
}

/// The pieces of the Prometheus text format the registry does not write for us.
enum PrometheusText {
    /// `name_bucket{labels,le="…"} N` per bound, then `+Inf`, `_sum` (seconds) and `_count`.
    static func appendHistogram(_ name: String, labels: [(String, String)], _ histogram: LatencyHistogram, to buffer: inout [UInt8]) {
        let prefix = labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",")
        let separator = prefix.isEmpty ? "" : ","
        for (bound, count) in zip(histogram.bounds, histogram.cumulativeCounts) {
            buffer.append(contentsOf: "\(name)_bucket{\(prefix)\(separator)le=\"\(seconds(bound))\"} \(count)\n".utf8)
        }
        buffer.append(contentsOf: "\(name)_bucket{\(prefix)\(separator)le=\"+Inf\"} \(histogram.count)\n".utf8)
        buffer.append(contentsOf: "\(name)_sum{\(prefix)} \(seconds(histogram.sumNanoseconds))\n".utf8)
        buffer.append(contentsOf: "\(name)_count{\(prefix)} \(histogram.count)\n".utf8)
    }

    /// Nanoseconds as decimal seconds, without a float's rounding: `2500` is `0.0000025`.
    static func seconds(_ nanoseconds: UInt64) -> String {
        let whole = nanoseconds / 1_000_000_000
        var fraction = String(nanoseconds % 1_000_000_000)
        guard fraction != "0" else { return "\(whole)" }
        fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction)"
    }

    /// A label value escaped as the format asks: backslash, double quote and line feed.
    static func escape(_ value: String) -> String {
        var result = ""
        for character in value {
            switch character {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            default: result.append(character)
            }
        }
        return result
    }
}
