internal import ChronetixCore
internal import ChronetixNodes
internal import ChronetixSystem
internal import ShmDataPort

/// Makes the node of the assignment's kind and runs it between its rings.
///
/// Each kind goes through a generic loop specialised for its node type (``runSource(_:session:output:)``,
/// ``runMap(_:session:inputs:output:)``, ``runSink(_:session:inputs:)``), so the per-frame calls into the
/// node are direct calls, not witness-table dispatch.
final class NodeRunner {
    private let body: () throws -> Void
    private let reportBody: () -> NodeReport

    init(session: WorkerSession, inputs: [InputPort], outputs: [OutputPort]) throws {
        let manifest = session.node
        let context = NodeContext(
            nodeID: manifest.id,
            flow: session.assignment.flow,
            inputTypes: inputs.map(\.contentType),
            outputTypes: manifest.outputs.map(\.contentType),
            log: session.log
        )
        let config = NodeConfig(node: manifest.id, manifest.config)
        // Catalogue kinds have at most one output (the compiler checked); `process` nodes have any number.
        let output = outputs.first
        func source<Node: SourceNode>(_ node: Node) throws -> (() throws -> Void, () -> NodeReport) {
            guard let output else { throw NodeError(manifest.id, "a source needs an output") }
            let box = Box(node)
            return ({ try Self.runSource(&box.node, session: session, output: output) }, { box.node.report() })
        }
        func map<Node: MapNode>(_ node: Node) throws -> (() throws -> Void, () -> NodeReport) {
            guard let output else { throw NodeError(manifest.id, "a map needs an output") }
            let box = Box(node)
            return ({ try Self.runMap(&box.node, session: session, inputs: inputs, output: output) }, { box.node.report() })
        }
        func sink<Node: SinkNode>(_ node: Node) -> (() throws -> Void, () -> NodeReport) {
            let box = Box(node)
            return ({ try Self.runSink(&box.node, session: session, inputs: inputs) }, { box.node.report() })
        }
        switch manifest.kind {
        case "sine": (body, reportBody) = try source(SineNode(config: config, context: context))
        case "counter": (body, reportBody) = try source(CounterNode(config: config, context: context))
        case "random": (body, reportBody) = try source(RandomNode(config: config, context: context))
        case "file-reader": (body, reportBody) = try source(FileReaderNode(config: config, context: context))
        case "scale": (body, reportBody) = try map(ScaleNode(config: config, context: context))
        case "filter": (body, reportBody) = try map(FilterNode(config: config, context: context))
        case "window": (body, reportBody) = try map(WindowNode(config: config, context: context))
        case "delay": (body, reportBody) = try map(DelayNode(config: config, context: context))
        case "merge": (body, reportBody) = try map(MergeNode(config: config, context: context))
        case "stats": (body, reportBody) = sink(StatsNode(config: config, context: context))
        case "file-writer": (body, reportBody) = sink(try FileWriterNode(config: config, context: context))
        case "log": (body, reportBody) = sink(try LogNode(config: config, context: context))
        case "discard": (body, reportBody) = sink(DiscardNode(config: config, context: context))
        case "process":
            let runner = try ProcessRunner(session: session, inputs: inputs, outputs: outputs)
            (body, reportBody) = ({ try runner.run() }, { runner.report() })
        default: throw NodeError(manifest.id, "this worker has no node of kind \(manifest.kind)")
        }
    }

    func run() throws { try body() }

    /// The node's own figures, as a map.
    func details() -> StructuredValue {
        .map(reportBody().map { StructuredValue.Entry($0.key, $0.value) })
    }

    private final class Box<Node> {
        var node: Node
        init(_ node: Node) { self.node = node }
    }

    // MARK: - Sources

    static func runSource<Node: SourceNode>(_ node: inout Node, session: WorkerSession, output: OutputPort) throws {
        // The runtime paces sources and counts their frames (`rate_hz`, `frames`); kinds without those keys
        // (file-reader) run at full speed until they have nothing more.
        let config = NodeConfig(node: session.node.id, session.node.config)
        let limit = UInt64(clamping: (try? config.integer("frames")) ?? 0)
        let rate = (try? config.double("rate_hz")) ?? 0
        let interval: UInt64 = rate > 0 ? UInt64(1e9 / rate) : 0
        while !session.isStarted { try session.waitForCommand(milliseconds: 50) }
        var out = PortOutput(port: output, node: session.node.id)
        var produced: UInt64 = 0
        var next = Clock.monotonicNanoseconds()
        var now = next
        let clock = SystemDelayClock()
        while !session.isStopping && (limit == 0 || produced < limit) {
            // A paced source reads the clock for every frame. An unpaced one reads it for every 8th and stamps
            // the 7 after it with the same time: a clock read costs as much as making a small frame, and the
            // stamp is then early by at most the time to make 7 frames (latencies err high, never low).
            if interval > 0 || produced & 7 == 0 { now = Clock.monotonicNanoseconds() }
            if interval > 0 {
                if now < next {
                    output.publish()
                    // In slices of at most 5 ms, so that commands are seen while a slow source waits.
                    try clock.sleep(until: Int64(min(next, now &+ 5_000_000)))
                    try session.serviceIfDue(now: now)
                    continue
                }
                // A source that fell more than a second behind (a stopped terminal, say) does not burst.
                next = max(next &+ interval, now &- 1_000_000_000)
            }
            output.timestamp = Int64(now)
            produced &+= 1
            do {
                guard try node.produce(into: &out) else { break }
            } catch is SourceStopped {
                break
            } catch {
                try session.handle(error, frame: produced - 1)
            }
            if produced & 63 == 0 {
                output.publish()
                try session.serviceIfDue(now: now)
            }
        }
        session.endOutput(output)
    }

    // MARK: - Maps and sinks

    static func runMap<Node: MapNode>(_ node: inout Node, session: WorkerSession, inputs: [InputPort], output: OutputPort) throws {
        var out = PortOutput(port: output, node: session.node.id)
        try consume(session: session, inputs: inputs) { info, payload in
            // A map's frames keep the timestamp of the frame they came from: latency at the sink is end to end.
            output.timestamp = info.timestampNanoseconds
            do {
                try node.process(info, payload, into: &out)
            } catch {
                try session.handle(error, frame: info.sequence)
                if session.node.onError == .useDefault {
                    // The default frame of a map is its input, unchanged.
                    try out.emit(copying: payload)
                }
            }
        } afterBatch: {
            output.publish()
        }
        do {
            try node.finish(into: &out)
        } catch {
            try session.handle(error, frame: nil)
        }
        output.close()
    }

    static func runSink<Node: SinkNode>(_ node: inout Node, session: WorkerSession, inputs: [InputPort]) throws {
        try consume(session: session, inputs: inputs) { info, payload in
            do {
                try node.consume(info, payload)
            } catch {
                try session.handle(error, frame: info.sequence)
            }
        } afterBatch: {}
        do {
            try node.finish()
        } catch {
            try session.handle(error, frame: nil)
        }
    }

    /// Reads every input until each has ended, handing frames over in arrival order: each turn takes up to
    /// 64 frames from each input that has some, calls `afterBatch` (which publishes what they made), then
    /// releases them, so that no frame is released before its results are out. When none has a frame, it waits on one
    /// open input (5 ms with one input, 1 ms each in turn with several), servicing the bus between waits.
    static func consume(
        session: WorkerSession,
        inputs: [InputPort],
        _ handle: (FrameInfo, RawSpan) throws -> Void,
        afterBatch: () throws -> Void
    ) throws {
        var open = inputs.count
        var waitTurn = 0
        let isSink = session.node.outputs.isEmpty
        while open > 0 {
            var received = 0
            // When this turn took its first frame: its batches' processing time ends after `afterBatch`.
            var turnStart: UInt64 = 0
            for input in inputs where !input.isEnded {
                var count = 0
                var now: UInt64 = 0
                while count < 64 {
                    // `receive(timeout: .zero)` for the first frame: it also reports the end of the stream.
                    let result: ReceiveResult
                    do {
                        result = count == 0 ? try unsafe input.consumer.receive(timeout: .zero) : try unsafe input.consumer.tryReceive().map { unsafe .frame($0) } ?? .wouldBlock
                    } catch {
                        try input.producerGone(error, session: session)
                        break
                    }
                    guard case .frame(let frame) = unsafe result else {
                        if case .endOfStream = unsafe result {
                            input.isEnded = true
                            open -= 1
                        }
                        break
                    }
                    // Frames again: a restarted producer attached (checked once per batch).
                    if count == 0 { input.upstreamDown = false }
                    // The receipt time of a frame, for its latency and deadline: read for the first frame of
                    // a batch and every 8th after it (a clock read costs as much as handling a small frame). A
                    // shared reading is older than the frame's receipt by at most the handling of 7 frames, so
                    // latencies err low by that much (and a frame published meanwhile may read as 0 ns).
                    if count & 7 == 0 {
                        now = Clock.monotonicNanoseconds()
                        if turnStart == 0 { turnStart = now }
                    }
                    try unsafe deliver(frame, from: input, session: session, isSink: isSink, now: now, handle)
                    count += 1
                }
                if count > 0 {
                    input.holdsBatch = true
                    received += count
                }
            }
            if received > 0 {
                // What the batch made is published (or, for a process node, written to the program) before
                // the input frames are released: a crash in between delivers them again (duplicates, counted)
                // instead of losing what they made.
                try afterBatch()
                for input in inputs where input.holdsBatch {
                    input.consumer.release()
                    input.holdsBatch = false
                }
                let end = Clock.monotonicNanoseconds()
                session.metrics.recordProcessing(from: turnStart, to: end)
                try session.serviceIfDue(now: end)
                continue
            }
            guard open > 0 else { break }
            // Nothing ready: wait on one open input, in turn.
            let waiting = inputs.filter { !$0.isEnded }
            let input = waiting[waitTurn % waiting.count]
            waitTurn &+= 1
            let result: ReceiveResult
            if waiting.allSatisfy(\.upstreamDown) {
                // Every open input's producer is gone: wait for the coordinator (a restarted producer attaches,
                // or the coordinator ends the stream), listening to the bus meanwhile.
                try session.waitForCommand(milliseconds: 5)
                result = .wouldBlock
            } else if input.upstreamDown {
                result = .wouldBlock
            } else {
                do {
                    result = try unsafe input.consumer.receive(timeout: waiting.count == 1 ? .milliseconds(5) : .milliseconds(1))
                } catch {
                    try input.producerGone(error, session: session)
                    result = .wouldBlock
                }
            }
            switch unsafe result {
            case .frame(let frame):
                let start = Clock.monotonicNanoseconds()
                try unsafe deliver(frame, from: input, session: session, isSink: isSink, now: start, handle)
                try afterBatch()
                input.consumer.release()
                session.metrics.recordProcessing(from: start, to: Clock.monotonicNanoseconds())
            case .endOfStream:
                input.isEnded = true
                open -= 1
            case .wouldBlock:
                break
            }
            try session.serviceIfDue(now: Clock.monotonicNanoseconds())
        }
    }

    @inline(__always)
    private static func deliver(
        _ frame: UnsafeRingFrame,
        from input: InputPort,
        session: WorkerSession,
        isSink: Bool,
        now: UInt64,
        _ handle: (FrameInfo, RawSpan) throws -> Void
    ) throws {
        let metadata = unsafe frame.metadata
        let late = unsafe input.account(
            payloadBytes: frame.payload.count,
            timestamp: metadata.timestampNanoseconds,
            deadline: metadata.deadlineNanoseconds,
            now: Int64(now)
        )
        if late && input.dropsLateFrames {
            // `on_late: drop`: received and missed (counted above), but not the node's to handle.
            input.countLateDrop()
            return
        }
        if isSink {
            if session.firstFrame == 0 { session.firstFrame = now }
            session.lastFrame = now
        }
        let info = unsafe FrameInfo(
            sequence: frame.sequenceNumber,
            timestampNanoseconds: metadata.timestampNanoseconds,
            deadlineNanoseconds: metadata.deadlineNanoseconds,
            priority: QoSClass(rawValue: metadata.priority) ?? .normal,
            contentType: input.contentType,
            input: input.index
        )
        let expected = input.contentType.wireCode
        if expected != 0 && metadata.contentType != expected {
            // The compiler checked that the edge's ends agree; a frame that says otherwise is a node bug upstream.
            try session.handle(
                NodeError(session.node.id, "frame \(info.sequence) on \(input.binding.edge) has content type code \(metadata.contentType), but the edge carries \(input.contentType.name) (\(expected))"),
                frame: info.sequence
            )
            return
        }
        // Safe: the payload is valid until the consumer's next release, after `handle` returns; the span
        // cannot escape the closure.
        let payload = unsafe RawSpan(_unsafeBytes: frame.payload)
        try handle(info, payload)
    }
}

extension WorkerSession {
    /// Applies the node's error policy to an error from its code: every policy counts it (the summary's
    /// `errors`); `propagate` then rethrows (the node fails), `skip-frame` and `use-default` go on (the caller
    /// emits the default frame).
    func handle(_ error: any Error, frame: UInt64?) throws {
        if error is WorkerAbort || error is SourceStopped { throw error }
        errors &+= 1
        guard node.onError != .propagate else { throw error }
        if errors <= 10 {
            log("\(frame.map { "frame \($0): " } ?? "")\(error) (\(node.onError.rawValue); error \(errors))")
            if errors == 10 { log("further errors are counted, not logged") }
        }
    }
}
