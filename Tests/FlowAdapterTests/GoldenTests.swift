import ChronetixCBOR
import ChronetixCore
import FlowAdapter
import Foundation
import Testing

@Suite struct GoldenTests {
    @Test func fixturesArePresent() {
        #expect(FixtureFiles.flowFiles.count >= 5)
    }

    @Test(arguments: FixtureFiles.flowFiles)
    func compiledOutputMatchesGoldenFile(_ name: String) throws {
        let compilation = try FlowAdapter.compile(file: FixtureFiles.path(name))
        let json = JSONText.write(try StructuredValueEncoder().encode(compilation.flow))
        let golden = FixtureFiles.goldenPath(for: name)
        if FixtureFiles.regenerate {
            try json.write(toFile: golden, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOfFile: golden, encoding: .utf8)
        #expect(json == expected, "compiled \(name) differs from \(golden); regenerate with CHRONETIX_REGENERATE_GOLDEN=1")
    }

    @Test func yamlAndJSONFormsCompileToTheSameBytes() throws {
        let yaml = try FlowAdapter.compile(file: FixtureFiles.path("sensor-chain.yaml")).flow
        let json = try FlowAdapter.compile(file: FixtureFiles.path("sensor-chain.json")).flow
        #expect(yaml == json)
        let encoder = StructuredValueEncoder()
        #expect(JSONText.write(try encoder.encode(yaml)) == JSONText.write(try encoder.encode(json)))
        #expect(CBOR.encode(try encoder.encode(yaml)) == CBOR.encode(try encoder.encode(json)))
    }

    @Test func compilingTwiceGivesTheSameBytes() throws {
        let first = try FlowAdapter.compile(file: FixtureFiles.path("fan-out-fan-in.yaml")).flow
        let second = try FlowAdapter.compile(file: FixtureFiles.path("fan-out-fan-in.yaml")).flow
        let encoder = StructuredValueEncoder()
        #expect(CBOR.encode(try encoder.encode(first)) == CBOR.encode(try encoder.encode(second)))
    }

    @Test(arguments: FixtureFiles.flowFiles)
    func compiledFlowRoundTripsThroughJSONAndCBOR(_ name: String) throws {
        let flow = try FlowAdapter.compile(file: FixtureFiles.path(name)).flow
        let tree = try StructuredValueEncoder().encode(flow)

        let json = JSONText.write(tree)
        let reparsed = try JSONSourceParser.parse(json).structured
        #expect(try StructuredValueDecoder().decode(CompiledFlow.self, from: reparsed) == flow)

        let cbor = CBOR.encode(tree)
        let decoded = try CBOR.decodeValue(cbor)
        #expect(decoded == tree)
        #expect(try StructuredValueDecoder().decode(CompiledFlow.self, from: decoded) == flow)
    }

    @Test func manifestsCarryResolvedTypesDefaultsAndRoutes() throws {
        let flow = try FlowAdapter.compile(file: FixtureFiles.path("fan-out-fan-in.yaml")).flow
        let source = try #require(flow.node("source"))
        #expect(source.config["seed"] == .integer(42))
        #expect(source.config["rate_hz"] == .double(0))  // default applied
        let fanOut = try #require(flow.routes.edges.first(where: { $0.id == "source/out" }))
        #expect(fanOut.to == [PortReference(node: "left", port: "in"), PortReference(node: "right", port: "in")])
        #expect(fanOut.queue == QueueSpec(capacityBytes: 256 << 10, policy: .block))
        let merged = try #require(flow.routes.edges.first(where: { $0.id == "both/out" }))
        #expect(merged.contentType == .f64)  // merge's `any` output resolved from its inputs
        #expect(flow.schemas == [Schema(contentType: .f64, version: 1)])
        let topics = try #require(flow.routes.topics.first(where: { $0.node == "smooth" }))
        #expect(topics.publishes == ["flow.fan-out-fan-in.smooth.events", "flow.fan-out-fan-in.smooth.metrics"])
        #expect(topics.subscribes == ["flow.fan-out-fan-in.control", "flow.fan-out-fan-in.smooth.control"])
    }

    @Test func processNodesCarryTheirCommandAndDeclaredTypes() throws {
        let flow = try FlowAdapter.compile(file: FixtureFiles.path("process-node.yaml")).flow
        let node = try #require(flow.node("external"))
        #expect(node.artifact == .process)
        #expect(node.origin == .external)
        #expect(node.process?.command == ["python3", "examples/process/passthrough.py", "--verbose"])
        #expect(node.process?.environment == .map([.init("PYTHONUNBUFFERED", "1"), .init("MODE", "fast")]))
        #expect(node.process?.workingDirectory == ".")
        #expect(node.outputs.first?.contentType == .cbor)
        #expect(node.outputs.first?.schemaVersion == 2)
        #expect(node.restart.windowNanoseconds == 30_000_000_000)
        #expect(node.restart.giveUp == .leaveDown)
        #expect(flow.schemas.map(\.contentType) == [.bytes, .cbor])
        let logInput = try #require(flow.node("sink")?.inputs.first)
        #expect(logInput.contentType == .cbor)
        #expect(logInput.schemaVersion == 2)
    }

    @Test func edgeQueuesComeFromTheOutputThenTheNodeThenTheDefaults() throws {
        let flow = try FlowAdapter.compile(file: FixtureFiles.path("bytes-pipeline.yaml")).flow
        let counter = try #require(flow.routes.edges.first(where: { $0.id == "counter/out" }))
        #expect(counter.queue == QueueSpec(capacityBytes: 64 << 10, policy: .dropOldest))
        #expect(counter.to.count == 2 + 1)
        #expect(counter.deadlineNanoseconds == 5_000_000)
        let hold = try #require(flow.routes.edges.first(where: { $0.id == "hold/out" }))
        #expect(hold.queue == QueueSpec(capacityBytes: 16 << 10, policy: .latest))
        #expect(hold.contentType == .bytes)  // delay passes its input's type through
        #expect(flow.node("hold")?.config["delay"] == .integer(1_500_000))
    }

    @Test func lateFramePolicyComesFromTheNodeThenTheDefaults() throws {
        let flow = try FlowAdapter.compile(file: FixtureFiles.path("late-frames.yaml")).flow
        #expect(flow.defaults.onLate == .drop)
        #expect(flow.node("source")?.onLate == .drop)
        #expect(flow.node("hold")?.onLate == .process)
        #expect(flow.node("sink")?.onLate == .drop)
        // Without `defaults.on_late`, nodes process late frames unless they say otherwise.
        let text = "flow: f\nnodes:\n  - { id: s, kind: counter }\n  - { id: d, kind: discard, inputs: { in: s/out }, on_late: drop }\n"
        let plain = try FlowAdapter.compile(text: text, fileName: "f.yaml").flow
        #expect(plain.defaults.onLate == .process)
        #expect(plain.node("s")?.onLate == .process)
        #expect(plain.node("d")?.onLate == .drop)
        let manifest = try StructuredValueEncoder().encode(try #require(plain.node("d")))
        #expect(manifest["on_late"] == .string("drop"))
    }
}
