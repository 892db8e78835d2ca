import ChronetixTestSupport
import Foundation
import Testing

/// `chronetix run --metrics-port 0`: the endpoint of a real run, scraped while the flow runs and once more
/// after its end (`--metrics-linger`), against the run's JSON summary.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct MetricsEndpointTests {
    /// `name{labels}` → value, for every sample line of a Prometheus text exposition.
    static func samples(_ text: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            result[String(line[..<space])] = value
        }
        return result
    }

    /// The value of the first sample of metric `name` whose labels contain `labels` (`node="sink"`, say).
    static func value(_ samples: [String: Double], _ name: String, labelled labels: String) -> Double? {
        samples.first { $0.key.hasPrefix(name + "{") && $0.key.contains(labels) }?.value
    }

    /// A number of the JSON summary; fails the test when it is missing.
    static func number(_ value: Any?, sourceLocation: SourceLocation = #_sourceLocation) throws -> Double {
        try #require((value as? NSNumber)?.doubleValue, "not a number: \(String(describing: value))", sourceLocation: sourceLocation)
    }

    static func port(fromURLLine line: String) throws -> UInt16 {
        let url = try #require(line.split(separator: " ").last.map(String.init))
        let port = try #require(url.split(separator: ":").last?.split(separator: "/").first)
        return try #require(UInt16(port))
    }

    /// A `process` node's output is written by another thread of its worker: its frame count still shows
    /// while the flow runs, not only at the end.
    @Test func aProgramsOutputCountsShowWhileItRuns() throws {
        let flow = "metrics-program"
        let file = try TemporaryFile(contents: """
            flow: \(flow)
            version: 1
            nodes:
              - { id: source, kind: counter, config: { size: 64, rate_hz: 500 } }
              - id: cat
                kind: process
                config: { command: [cat] }
                inputs:
                  in: { from: source/out, content_type: bytes }
                outputs:
                  - { name: out, content_type: bytes }
              - { id: sink, kind: stats, inputs: { in: cat/out } }

            """)
        let coordinator = try RunningCoordinator(arguments: [file.path, "--metrics-port", "0"], flow: flow)
        let port = try Self.port(fromURLLine: coordinator.waitForLine(containing: "metrics at http://127.0.0.1:", timeout: 30, inStandardError: true))
        var seen: Double = 0
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let body = try HTTPProbe.get("/metrics", port: port).body
            seen = Self.value(Self.samples(body), "chronetix_output_frames_total", labelled: #"node="cat""#) ?? 0
            if seen > 0 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(seen > 0, "the program's output count during the run: \(seen)")
        kill(coordinator.pid, SIGINT)  // the source runs until stopped; the flow drains
        let run = try coordinator.finish()
        #expect(run.status == 130, "\(run.standardError)")
        let made = try #require(run.node("source")["frames_out"] as? Int)
        #expect(run.node("cat")["frames_out"] as? Int == made)
    }

    @Test func scrapesDuringTheRunAndMatchTheSummaryAtTheEnd() throws {
        let file = try TemporaryFile(contents: """
            flow: metrics-scrape
            version: 1
            nodes:
              - { id: source, kind: sine, config: { channels: 1, samples: 16, rate_hz: 200 }, outputs: [samples] }
              - { id: gain, kind: scale, config: { factor: 2.0 }, inputs: { in: source/samples }, outputs: [out] }
              - { id: sink, kind: stats, inputs: { in: gain/out } }

            """)
        let coordinator = try RunningCoordinator(
            arguments: [file.path, "--metrics-port", "0", "--metrics-linger", "60"], flow: "metrics-scrape"
        )
        let port = try Self.port(fromURLLine: coordinator.waitForLine(containing: "metrics at http://127.0.0.1:", timeout: 30, inStandardError: true))
        let sinkEdge = #"edge="gain/out->sink/in""#
        // During the run: frames arrive, and the counters only grow.
        var seen: [Double] = []
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let response = try HTTPProbe.get("/metrics", port: port)
            #expect(response.status == 200)
            #expect(response.head.contains("Content-Type: text/plain; version=0.0.4"))
            let value = try #require(Self.value(Self.samples(response.body), "chronetix_edge_frames_total", labelled: sinkEdge))
            seen.append(value)
            if seen.filter({ $0 > 0 }).count >= 2 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(seen.filter { $0 > 0 }.count >= 2, "never saw the run under way: \(seen)")
        #expect(seen == seen.sorted())
        // The source runs until stopped: the flow drains, then the summary is written, and the endpoint
        // still serves the final figures.
        kill(coordinator.pid, SIGINT)
        try coordinator.waitForLine(containing: "serving the final metrics", timeout: 60, inStandardError: true)
        let final = try HTTPProbe.get("/metrics", port: port)
        let samples = Self.samples(final.body)
        kill(coordinator.pid, SIGTERM)  // ends the linger
        let run = try coordinator.finish()
        #expect(run.status == 130, "\(run.standardError)")
        // The progress lines are for terminals only: standard output is a pipe here.
        #expect(!run.output.contains("\u{1B}["))
        #expect(!run.output.contains(" f/s"))
        let label = #"flow="metrics-scrape",run=""#
        #expect(samples.keys.allSatisfy { !$0.contains("flow=") || $0.contains(label) })
        for (key, node, port) in [("source/samples->gain/in", "gain", "in"), ("gain/out->sink/in", "sink", "in")] {
            let edge = run.edge(key)
            let tag = "node=\"\(node)\",port=\"\(port)\",edge=\"\(key)\""
            func value(_ name: String, _ extra: String = "") -> Double? { Self.value(samples, name, labelled: tag + extra) }
            let frames = try Self.number(edge["frames"])
            #expect(frames > 0)
            #expect(value("chronetix_edge_frames_total") == frames, "\(key)")
            #expect(try value("chronetix_edge_bytes_total") == Self.number(edge["bytes"]))
            #expect(try value("chronetix_edge_drops_total") == Self.number(edge["drops"]))
            #expect(try value("chronetix_edge_duplicates_total") == Self.number(edge["duplicates"]))
            #expect(try value("chronetix_edge_deadline_misses_total") == Self.number(edge["deadline_misses"]))
            #expect(try value("chronetix_edge_late_drops_total") == Self.number(edge["late_drops"]))
            #expect(value("chronetix_edge_latency_seconds_count") == frames)
            #expect(value("chronetix_edge_latency_seconds_bucket", ",le=\"+Inf\"") == frames)
            let latency = try #require(edge["latency_ns"] as? [String: Any])
            let p99 = try Self.number(latency["p99"])
            let scraped = try #require(value("chronetix_edge_latency_quantile_seconds", ",quantile=\"0.99\""))
            #expect(abs(scraped * 1e9 - p99) < 1, "\(key): p99 \(scraped) s against \(p99) ns")
        }
        for node in ["source", "gain", "sink"] {
            let summary = run.node(node)
            func value(_ name: String) -> Double? { Self.value(samples, name, labelled: "node=\"\(node)\"") }
            #expect(try value("chronetix_node_frames_in_total") == Self.number(summary["frames_in"]), "\(node)")
            #expect(try value("chronetix_node_frames_out_total") == Self.number(summary["frames_out"]), "\(node)")
            #expect(try value("chronetix_node_errors_total") == Self.number(summary["errors"]), "\(node)")
            #expect(value("chronetix_node_restarts_total") == 0)
        }
        #expect(samples.keys.contains { $0.hasPrefix("chronetix_output_credit_stalls_total{") && $0.contains("edge=\"source/samples\"") })
        #expect(samples.keys.contains { $0.hasPrefix("chronetix_node_processing_seconds_count{") && $0.contains("node=\"sink\"") })
    }

    @Test func refusesABadMetricsPortBeforeStarting() throws {
        let file = try TemporaryFile(contents: """
            flow: metrics-bad-port
            version: 1
            nodes:
              - { id: source, kind: counter, config: { size: 16, frames: 10 } }
              - { id: sink, kind: stats, inputs: { in: source/out } }

            """)
        let run = try FlowRunResult.run([file.path, "--metrics-port", "70000"], flow: "metrics-bad-port", expectSummary: false)
        #expect(run.status == 64)
        let name = try FlowRunResult.run([file.path, "--metrics-port", "0", "--metrics-address", "localhost"], flow: "metrics-bad-port", expectSummary: false)
        #expect(name.status == 1)
        #expect(name.standardError.contains("cannot serve the metrics on localhost"))
    }
}
