import IpcEventBus
import Testing

struct TopicPatternTests {
    @Test(arguments: [
        ("flow.sensor-chain.*.events", "flow.sensor-chain.gain.events", true),
        ("flow.sensor-chain.*.events", "flow.sensor-chain.gain.metrics", false),
        ("flow.sensor-chain.*.events", "flow.sensor-chain.events", false),
        ("flow.sensor-chain.*.events", "flow.sensor-chain.a.b.events", false),
        ("metrics.>", "metrics.gain", true),
        ("metrics.>", "metrics.gain.latency.p99", true),
        ("metrics.>", "metrics", false),
        ("metrics.>", "metricsx.gain", false),
        ("*", "a", true),
        ("*", "a.b", false),
        ("*.>", "a.b", true),
        ("*.>", "a", false),
        (">", "a.b.c", true),
        ("a.b", "a.b", true),
        ("a.b", "a.bc", false),
        ("a.b", "a.b.c", false),
        ("a.b.c", "a.b", false),
        ("a.*.c", "a.x.c", true),
    ])
    func matches(pattern: String, topic: String, expected: Bool) throws {
        #expect(try TopicPattern(pattern).matches(topic) == expected)
    }

    @Test(arguments: ["", "a..b", ".a", "a.", "a.>.b", "a.b*", "a.*b", "a b", "a.\u{7F}", String(repeating: "a.", count: 40) + "a"])
    func rejectsMalformedPatterns(pattern: String) {
        #expect(throws: BusError.self) { try TopicPattern(pattern) }
    }

    @Test func topicsMayNotUseWildcards() {
        #expect(Topic.problem(in: Array("a.*".utf8)) != nil)
        #expect(Topic.problem(in: Array("a.>".utf8)) != nil)
        #expect(Topic.problem(in: Array("flow.demo.gain.events".utf8)) == nil)
        #expect(Topic.problem(in: Array(String(repeating: "x", count: 257).utf8)) != nil)
    }
}
