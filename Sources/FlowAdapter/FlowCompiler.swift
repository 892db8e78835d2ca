import ChronetixCore

/// Checks a parsed flow as a graph (references, cycles, content types, sources) and builds the
/// compiled flow.
struct FlowCompiler {
    var log: DiagnosticLog

    mutating func compile(_ flow: ParsedFlow) -> CompiledFlow? {
        let nodes = uniqueNodes(flow.nodes)
        let byID = Dictionary(nodes.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        checkReferences(nodes, byID: byID, rejectedIDs: flow.rejectedIDs)
        checkConnections(nodes)
        let readers = downstream(nodes, byID: byID)
        checkCycles(nodes, readers: readers)
        checkSources(nodes, flow: flow)
        // Types resolve wherever the graph is acyclic, so a cycle does not hide mismatches elsewhere.
        let outputTypes = resolveTypes(nodes, byID: byID, readers: readers)  // edge id -> type and schema version
        let consumers = consumersByEdge(nodes, byID: byID)
        checkFanOut(nodes, consumers: consumers)
        for node in nodes {
            for output in node.outputs where (consumers["\(node.id)/\(output.name)"] ?? []).isEmpty {
                log.warning(
                    output.position,
                    "output \(Quote.quoted(output.name)) of node \(Quote.quoted(node.id)) is not used",
                    hint: "its frames are counted and dropped; connect it or send it to a 'discard' node"
                )
            }
        }
        guard !log.hasErrors, let name = flow.name else { return nil }
        return build(name: name, flow: flow, nodes: nodes, outputTypes: outputTypes, consumers: consumers)
    }

    // MARK: - Checks

    private mutating func uniqueNodes(_ nodes: [ParsedNode]) -> [ParsedNode] {
        var firstPosition: [String: SourcePosition] = [:]
        var unique: [ParsedNode] = []
        for node in nodes {
            if let first = firstPosition[node.id] {
                log.error(node.idPosition, "duplicate node id \(Quote.quoted(node.id)) (first defined at \(first))")
                continue
            }
            firstPosition[node.id] = node.idPosition
            unique.append(node)
        }
        return unique
    }

    /// Reports inputs that read a node or output that is not there; an input reading a node left out for an
    /// invalid id is not reported again (the id's own error is the cause).
    private mutating func checkReferences(_ nodes: [ParsedNode], byID: [String: ParsedNode], rejectedIDs: Set<String>) {
        for node in nodes {
            for input in node.inputs {
                guard let from = input.from, !rejectedIDs.contains(from.node) else { continue }
                guard let producer = byID[from.node] else {
                    log.error(
                        input.fromPosition,
                        "input \(Quote.quoted(input.port)) of node \(Quote.quoted(node.id)) reads from node \(Quote.quoted(from.node)), which is not in the flow",
                        hint: Suggestions.closest(to: from.node, among: byID.keys.sorted()).map { "did you mean \(Quote.quoted($0))?" }
                    )
                    continue
                }
                if producer.kind != nil, !producer.outputs.contains(where: { $0.name == from.port }) {
                    let names = producer.outputs.map(\.name)
                    log.error(
                        input.fromPosition,
                        "node \(Quote.quoted(producer.id)) (\(producer.kind?.name ?? "?")) has no output \(Quote.quoted(from.port))",
                        hint: Suggestions.closest(to: from.port, among: names).map { "did you mean \(Quote.quoted($0))?" }
                            ?? (names.isEmpty ? "it has no outputs" : "its outputs: " + names.joined(separator: ", "))
                    )
                }
            }
        }
    }

    private mutating func checkConnections(_ nodes: [ParsedNode]) {
        for node in nodes {
            guard let kind = node.kind else { continue }
            if kind.hasNamedInputs {
                if kind.role == .fanIn, node.inputs.isEmpty {
                    log.error(node.kindPosition, "\(kind.name) node \(Quote.quoted(node.id)) needs at least one input")
                }
                continue
            }
            for port in kind.inputs where !node.inputs.contains(where: { $0.port == port.name }) {
                log.error(
                    node.kindPosition,
                    "input \(Quote.quoted(port.name)) of node \(Quote.quoted(node.id)) (\(kind.name)) is not connected",
                    hint: "add  inputs: { \(port.name): NODE/OUTPUT }"
                )
            }
        }
    }

    /// For each producing node, the nodes that read it and where each such input names it, in file order.
    /// A node reading one producer through several inputs appears once per input.
    private func downstream(_ nodes: [ParsedNode], byID: [String: ParsedNode]) -> [String: [(consumer: String, at: SourcePosition)]] {
        var readers: [String: [(consumer: String, at: SourcePosition)]] = [:]
        for consumer in nodes {
            for input in consumer.inputs {
                guard let from = input.from, byID[from.node] != nil else { continue }
                readers[from.node, default: []].append((consumer.id, input.fromPosition))
            }
        }
        return readers
    }

    /// Reports each cycle once, as the path around it.
    ///
    /// Iterative depth-first search: a chain as long as a flow file can hold must not exhaust the stack.
    private mutating func checkCycles(
        _ nodes: [ParsedNode],
        readers: [String: [(consumer: String, at: SourcePosition)]]
    ) {
        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        var reported = Set<[String]>()
        for root in nodes where marks[root.id] == nil {
            // Each frame is a node on the current path and how many of its readers have been followed.
            var path: [(id: String, next: Int)] = [(root.id, 0)]
            marks[root.id] = .visiting
            while let (id, next) = path.last {
                let edges = readers[id] ?? []
                guard next < edges.count else {
                    path.removeLast()
                    marks[id] = .done
                    continue
                }
                path[path.count - 1].next += 1
                let (consumer, position) = edges[next]
                switch marks[consumer] {
                case .visiting:
                    let start = path.firstIndex(where: { $0.id == consumer })!  // visiting means on the path
                    let cycle = path[start...].map(\.id)
                    let rotation = cycle.indices.min(by: { cycle[$0] < cycle[$1] })!  // cycle is not empty
                    if reported.insert(Array(cycle[rotation...] + cycle[..<rotation])).inserted {
                        log.error(
                            position,
                            "the flow has a cycle: \((cycle + [consumer]).joined(separator: " -> "))",
                            hint: "frames must flow one way; break the cycle"
                        )
                    }
                case nil:
                    marks[consumer] = .visiting
                    path.append((consumer, 0))
                case .done:
                    break
                }
            }
        }
    }

    /// Reports a flow without a source; says nothing when a node was left out or has an unknown kind, since
    /// that node may be the source.
    private mutating func checkSources(_ nodes: [ParsedNode], flow: ParsedFlow) {
        guard !nodes.isEmpty, !flow.hasRejectedNodes, nodes.allSatisfy({ $0.kind != nil }) else { return }
        let hasSource = nodes.contains { node in
            node.kind?.role == .source || (node.kind?.role == .process && node.inputs.isEmpty && !node.outputs.isEmpty)
        }
        if !hasSource {
            log.error(
                flow.nodesPosition,
                "the flow has no source: no node produces frames without reading any",
                hint: "add a source such as sine, random, counter or file-reader"
            )
        }
    }

    /// Resolves every output's content type in topological order and checks every input against it.
    ///
    /// Kahn's algorithm: a node is resolved once every node it reads from is. Nodes on or downstream of a
    /// cycle never become ready; the cycle is reported by ``checkCycles``. Each node's types depend only on
    /// its producers, so the order among ready nodes does not change the result.
    private mutating func resolveTypes(
        _ nodes: [ParsedNode],
        byID: [String: ParsedNode],
        readers: [String: [(consumer: String, at: SourcePosition)]]
    ) -> [String: (ContentType, UInt32)] {
        var types: [String: (ContentType, UInt32)] = [:]
        var waitingOn: [String: Int] = [:]  // per node: inputs whose producer is not resolved yet
        for node in nodes {
            waitingOn[node.id] = node.inputs.count { input in input.from.map { byID[$0.node] != nil } ?? false }
        }
        var ready = nodes.filter { waitingOn[$0.id] == 0 }.map(\.id)
        var cursor = 0
        while cursor < ready.count {
            let node = byID[ready[cursor]]!  // ready holds ids of nodes in byID
            cursor += 1
            for (consumer, _) in readers[node.id] ?? [] {
                waitingOn[consumer, default: 0] -= 1
                if waitingOn[consumer] == 0 { ready.append(consumer) }
            }
            guard let kind = node.kind else { continue }
            var inputTypes: [(input: ParsedInput, type: ContentType, version: UInt32)] = []
            for input in node.inputs {
                guard let from = input.from, let (type, version) = types["\(from.node)/\(from.port)"] else { continue }
                let accepted = input.contentType ?? kind.inputs.first(where: { $0.name == input.port || $0.name == "*" })?
                    .contentType ?? .any
                if !accepted.isWildcard, accepted != type {
                    log.error(
                        input.fromPosition,
                        "content type mismatch: input \(Quote.quoted(input.port)) of node \(Quote.quoted(node.id)) (\(kind.name)) accepts "
                            + "\(accepted) but \(from) produces \(type)"
                    )
                    continue
                }
                if let expected = input.schemaVersion, expected != version {
                    log.error(
                        input.fromPosition,
                        "schema version mismatch: input \(Quote.quoted(input.port)) of node \(Quote.quoted(node.id)) expects \(accepted) "
                            + "version \(expected) but \(from) produces version \(version)"
                    )
                    continue
                }
                inputTypes.append((input, type, version))
            }
            if kind.role == .fanIn, let first = inputTypes.first {
                for other in inputTypes.dropFirst() where other.type != first.type || other.version != first.version {
                    log.error(
                        other.input.fromPosition,
                        "merge node \(Quote.quoted(node.id)) mixes content types: \(Quote.quoted(first.input.port)) carries \(first.type) "
                            + "but \(Quote.quoted(other.input.port)) carries \(other.type)",
                        hint: "every input of a merge must carry the same content type"
                    )
                }
            }
            for output in node.outputs {
                let edge = "\(node.id)/\(output.name)"
                if kind.artifact == .process {
                    if let type = output.contentType { types[edge] = (type, output.schemaVersion ?? 1) }
                    continue
                }
                guard let spec = kind.outputs.first(where: { $0.name == output.name }) else { continue }
                if spec.contentType.isWildcard {
                    // The output carries what the inputs carry (delay, merge).
                    if let first = inputTypes.first { types[edge] = (first.type, first.version) }
                } else {
                    types[edge] = (spec.contentType, 1)
                }
            }
        }
        return types
    }

    /// Reports every output read by more inputs than one ring serves, at the first input over the limit.
    private mutating func checkFanOut(_ nodes: [ParsedNode], consumers: [String: [PortReference]]) {
        for node in nodes {
            for output in node.outputs {
                let readers = consumers["\(node.id)/\(output.name)"] ?? []
                guard readers.count > RingLimits.maxConsumers else { continue }
                let first = readers[RingLimits.maxConsumers]
                let position = nodes.first(where: { $0.id == first.node })?.inputs.first(where: { $0.port == first.port })?
                    .fromPosition ?? output.position
                log.error(
                    position,
                    "output \(Quote.quoted(output.name)) of node \(Quote.quoted(node.id)) is read by \(readers.count) inputs, "
                        + "more than the \(RingLimits.maxConsumers) one output's shared-memory ring serves",
                    hint: "let some of the readers read a copy: a 'delay' node with  delay: 0s  passes every frame on"
                )
            }
        }
    }

    private func consumersByEdge(_ nodes: [ParsedNode], byID: [String: ParsedNode]) -> [String: [PortReference]] {
        var consumers: [String: [PortReference]] = [:]
        for node in nodes {
            for input in node.inputs {
                guard let from = input.from, byID[from.node] != nil else { continue }
                consumers[from.description, default: []].append(PortReference(node: node.id, port: input.port))
            }
        }
        return consumers
    }

    // MARK: - Output

    private func build(
        name: String,
        flow: ParsedFlow,
        nodes: [ParsedNode],
        outputTypes: [String: (ContentType, UInt32)],
        consumers: [String: [PortReference]]
    ) -> CompiledFlow {
        let byID = Dictionary(nodes.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var manifests: [NodeManifest] = []
        var topics: [NodeTopics] = []
        var edges: [DataEdge] = []
        for node in nodes {
            let kind = node.kind!  // compile stops before build when any kind is unknown
            let inputs = node.inputs.map { input -> PortManifest in
                let from = input.from!  // a malformed reference is an error, and errors stop before build
                let (type, version) = outputTypes[from.description]!  // every output was resolved without errors
                return PortManifest(name: input.port, contentType: type, schemaVersion: version, edge: from.description)
            }
            let outputs = node.outputs.map { output -> PortManifest in
                let edge = "\(node.id)/\(output.name)"
                let (type, version) = outputTypes[edge] ?? (.bytes, 1)  // an unresolvable output only when unused
                return PortManifest(name: output.name, contentType: type, schemaVersion: version, edge: edge)
            }
            manifests.append(
                NodeManifest(
                    id: node.id,
                    kind: kind.name,
                    artifact: kind.artifact,
                    origin: node.origin,
                    category: kind.category,
                    inputs: inputs,
                    outputs: outputs,
                    qos: node.policies.qos,
                    deadlineNanoseconds: node.policies.deadlineNanoseconds,
                    restart: node.policies.restart,
                    onError: node.policies.onError,
                    onLate: node.policies.onLate,
                    config: node.config,
                    process: node.process
                )
            )
            topics.append(
                NodeTopics(
                    node: node.id,
                    publishes: [Topics.events(flow: name, node: node.id), Topics.metrics(flow: name, node: node.id)],
                    subscribes: [Topics.control(flow: name), Topics.control(flow: name, node: node.id)]
                )
            )
            for (output, port) in zip(node.outputs, outputs) {
                let readers = consumers[port.edge] ?? []
                let deadlines = readers.compactMap { byID[$0.node]?.policies.deadlineNanoseconds }.filter { $0 > 0 }
                edges.append(
                    DataEdge(
                        id: port.edge,
                        from: PortReference(node: node.id, port: output.name),
                        to: readers,
                        contentType: port.contentType,
                        schemaVersion: port.schemaVersion,
                        queue: output.queue ?? node.policies.queue,
                        qos: node.policies.qos,
                        deadlineNanoseconds: deadlines.min() ?? 0
                    )
                )
            }
        }
        let schemas = Set(edges.map { Schema(contentType: $0.contentType, version: $0.schemaVersion) }).sorted()
        return CompiledFlow(
            flow: name,
            version: flow.version,
            defaults: flow.defaults,
            nodes: manifests,
            routes: Routes(topics: topics, edges: edges),
            schemas: schemas
        )
    }
}
