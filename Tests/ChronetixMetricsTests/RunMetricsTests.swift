import ChronetixCore
import ChronetixMetrics
import ChronetixRuntime
import Testing

/// The snapshot's wire form and what the coordinator makes of a series of snapshots.
@Suite struct RunMetricsTests {
    static func histogram(_ counts: [UInt64], count: UInt64, p99: UInt64 = 0) -> LatencyHistogram {
        var cumulative: [UInt64] = []
        var running: UInt64 = 0
        for value in counts + Array(repeating: 0, count: LatencyHistogram.standardBounds.count - counts.count) {
            running += value
            cumulative.append(running)
        }
        return LatencyHistogram(
            bounds: LatencyHistogram.standardBounds, cumulativeCounts: cumulative, count: count,
            sumNanoseconds: count * 1_500, p50: 1_000, p95: 2_000, p99: p99
        )
    }

    static func snapshot(node: String = "sink", pid: Int32 = 100, sequence: UInt64, frames: UInt64, drops: UInt64 = 0, time: UInt64) -> MetricsSnapshot {
        MetricsSnapshot(
            node: node, pid: pid, sequence: sequence, isFinal: false, timeNanoseconds: time, framesIn: frames,
            bytesIn: frames * 8, framesOut: 0, bytesOut: 0, errors: 1, processing: histogram([frames], count: frames),
            inputs: [
                MetricsSnapshot.InputMetrics(
                    port: "in", edge: "source/out", slot: 0, frames: frames, bytes: frames * 8, duplicates: 0,
                    deadlineMisses: 2, lateDrops: 0, drops: drops, queueDepth: 7,
                    latency: histogram([0, frames], count: frames, p99: 2_500_000)
                )
            ],
            outputs: []
        )
    }

    @Test func snapshotRoundTripsThroughCBOR() throws {
        let original = Self.snapshot(sequence: 3, frames: 1234, drops: 5, time: 99)
        let bytes = try RunCoding.encode(original)
        #expect(try RunCoding.decode(MetricsSnapshot.self, from: bytes) == original)
        #expect(original.processing.isWellFormed)
    }

    @Test func malformedHistogramsAreRecognised() {
        var histogram = Self.histogram([1, 2], count: 3)
        #expect(histogram.isWellFormed)
        histogram.cumulativeCounts[0] = 10
        #expect(!histogram.isWellFormed)
        histogram = Self.histogram([1, 2], count: 2)
        #expect(!histogram.isWellFormed)
        histogram = Self.histogram([1], count: 1)
        histogram.bounds.removeLast()
        #expect(!histogram.isWellFormed)
    }

    @Test func everyMetricHasOneHelpLineBeforeItsType() throws {
        let metrics = RunMetrics(flow: CompiledFlow.testFlow, run: "demo-00000001")
        metrics.record(Self.snapshot(sequence: 1, frames: 10, drops: 1, time: 1_000_000_000))
        let lines = String(decoding: metrics.exposition(), as: UTF8.self).split(separator: "\n").map(String.init)
        let types = lines.filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        #expect(types.count >= 19, "\(types)")
        for name in types {
            let help = lines.filter { $0.hasPrefix("# HELP \(name) ") }
            #expect(help.count == 1, "\(name): \(help)")
            let helpIndex = try #require(lines.firstIndex { $0.hasPrefix("# HELP \(name) ") })
            #expect(lines[helpIndex + 1].hasPrefix("# TYPE \(name) "), "\(name)")
        }
        #expect(lines.contains("# HELP chronetix_edge_drops_total Frames the ring's policy dropped for this reader (drop-oldest, latest)."))
    }

    @Test func countersFollowSnapshotsAcrossAWorkerReplacement() throws {
        let metrics = RunMetrics(flow: CompiledFlow.testFlow, run: "demo-00000001")
        metrics.record(Self.snapshot(sequence: 1, frames: 10, drops: 1, time: 1_000_000_000))
        metrics.record(Self.snapshot(sequence: 2, frames: 30, drops: 2, time: 2_000_000_000))
        // Out of order: ignored.
        metrics.record(Self.snapshot(sequence: 1, frames: 10, drops: 1, time: 1_000_000_000))
        var text = String(decoding: metrics.exposition(), as: UTF8.self)
        let edge = #"flow="demo",run="demo-00000001",node="sink",port="in",edge="source/out->sink/in""#
        #expect(text.contains("chronetix_edge_frames_total{\(edge)} 30\n"))
        #expect(text.contains("chronetix_edge_drops_total{\(edge)} 2\n"))
        #expect(text.contains("chronetix_edge_queue_depth{\(edge)} 7.0\n"))
        #expect(text.contains("chronetix_edge_latency_seconds_bucket{\(edge),le=\"0.0000025\"} 30\n"))
        #expect(text.contains("chronetix_edge_latency_seconds_bucket{\(edge),le=\"+Inf\"} 30\n"))
        #expect(text.contains("chronetix_edge_latency_seconds_count{\(edge)} 30\n"))
        #expect(text.contains("chronetix_edge_latency_seconds_sum{\(edge)} 0.000045\n"))
        #expect(text.contains("chronetix_edge_latency_quantile_seconds{\(edge),quantile=\"0.99\"} 0.0025\n"))
        #expect(text.contains("# TYPE chronetix_edge_latency_seconds histogram\n"))
        #expect(metrics.edges.first?.framesPerSecond == 20)
        // A new worker (pid) counts from zero again: the counters go on from 30, the histograms add up.
        metrics.record(Self.snapshot(pid: 200, sequence: 1, frames: 5, drops: 3, time: 3_000_000_000))
        text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains("chronetix_edge_frames_total{\(edge)} 35\n"))
        // Drops are the ring's own count, which a new worker does not reset.
        #expect(text.contains("chronetix_edge_drops_total{\(edge)} 3\n"))
        #expect(text.contains("chronetix_edge_latency_seconds_count{\(edge)} 35\n"))
        #expect(text.contains(#"chronetix_node_errors_total{flow="demo",run="demo-00000001",node="sink",kind="stats"} 2"#))
    }

    @Test func restartsComeFromTheSupervisor() {
        let metrics = RunMetrics(flow: CompiledFlow.testFlow, run: "demo-00000001")
        let node = #"flow="demo",run="demo-00000001",node="sink",kind="stats""#
        #expect(String(decoding: metrics.exposition(), as: UTF8.self).contains("chronetix_node_restarts_total{\(node)} 0\n"))
        metrics.setRestartSource { $0 == "sink" ? 2 : 0 }
        #expect(String(decoding: metrics.exposition(), as: UTF8.self).contains("chronetix_node_restarts_total{\(node)} 2\n"))
    }

    @Test func ignoresSnapshotsThatDoNotFitTheFlow() {
        let metrics = RunMetrics(flow: CompiledFlow.testFlow, run: "demo-00000001")
        metrics.record(Self.snapshot(node: "nobody", sequence: 1, frames: 10, time: 1))
        var bad = Self.snapshot(sequence: 1, frames: 10, time: 1)
        bad.inputs[0].latency.cumulativeCounts[0] = 1000
        metrics.record(bad)
        #expect(metrics.edges.map(\.frames) == [0])
    }

    @Test func progressLinesShowEachEdge() {
        var edge = RunMetrics.EdgeFigures(key: "source/out->sink/in", node: "sink", port: "in")
        edge.frames = 1200
        edge.framesPerSecond = 1000
        edge.bytesPerSecond = 4_100_000
        edge.latency.p99 = 1_250_000
        edge.drops = 3
        edge.deadlineMisses = 4
        let lines = ProgressDisplay.lines(edges: [edge], nodes: [], columns: 200)
        #expect(lines == ["source/out->sink/in       1200 frames    1000 f/s    4.1 MB/s  p99   1.3 ms  drops 3  late 4"])
        #expect(ProgressDisplay.lines(edges: [edge], nodes: [], columns: 30) == [String(lines[0].prefix(29))])
    }
}

extension CompiledFlow {
    /// `source` (counter) → `sink` (stats) over edge `source/out`: only what RunMetrics reads.
    static var testFlow: CompiledFlow {
        func node(_ id: String, _ kind: String, inputs: [PortManifest], outputs: [PortManifest]) -> NodeManifest {
            NodeManifest(
                id: id, kind: kind, artifact: .builtin, origin: .internal, category: .business, inputs: inputs,
                outputs: outputs, qos: .normal, deadlineNanoseconds: 0, restart: .default, onError: .propagate,
                config: .map([]), process: nil
            )
        }
        let port = { (name: String) in PortManifest(name: name, contentType: .f64, schemaVersion: 1, edge: "source/out") }
        return CompiledFlow(
            flow: "demo", version: 1, defaults: .builtIn,
            nodes: [node("source", "counter", inputs: [], outputs: [port("out")]), node("sink", "stats", inputs: [port("in")], outputs: [])],
            routes: Routes(topics: [], edges: []), schemas: []
        )
    }
}
