import ChronetixCore

/// A flow file read into checked pieces, before the graph is checked. Each piece keeps its positions.
struct ParsedFlow {
    var name: String?
    var version = 1
    var defaults = FlowDefaults.builtIn
    var nodes: [ParsedNode] = []
    var nodesPosition = SourcePosition.start
    /// Whether a node was left out because its own checks failed (not a map, no id, an invalid id): the graph
    /// checks that need every node (is there a source?) then say nothing, the node's own error is the cause.
    var hasRejectedNodes = false
    /// The invalid ids of the nodes left out: inputs that read them are not reported again.
    var rejectedIDs: Set<String> = []
}

struct ParsedInput {
    var port: String
    var position: SourcePosition
    /// nil when the reference was malformed (already reported).
    var from: PortReference?
    var fromPosition: SourcePosition
    /// Declared by `process` nodes; nil means whatever arrives.
    var contentType: ContentType?
    var schemaVersion: UInt32?
}

struct ParsedOutput {
    var name: String
    var position: SourcePosition
    var contentType: ContentType?
    var schemaVersion: UInt32?
    var queue: QueueSpec?
}

struct ParsedNode {
    var id: String
    var position: SourcePosition
    var idPosition: SourcePosition
    var kind: NodeKindSpec?
    var kindPosition: SourcePosition
    var config: StructuredValue = .map([])
    var process: ProcessSpec?
    var inputs: [ParsedInput] = []
    var outputs: [ParsedOutput] = []
    /// QoS, deadline, queue, restart, error and late-frame policy: the flow's defaults overridden by the node's keys.
    var policies: FlowDefaults
    var origin: NodeOrigin = .internal
}

/// Reads a ``SourceNode`` tree into a ``ParsedFlow``, reporting every problem it can see locally
/// (unknown or missing keys, wrong types, bad durations and sizes, unknown kinds, config checks).
struct FlowParser {
    var log: DiagnosticLog

    static let topLevelKeys = ["flow", "version", "description", "defaults", "nodes"]
    static let defaultsKeys = ["qos", "deadline", "queue", "restart", "on_error", "on_late"]
    static let nodeKeys = [
        "id", "kind", "description", "config", "inputs", "outputs", "qos", "deadline", "queue", "restart", "on_error",
        "on_late", "origin",
    ]
    static let queueKeys = ["capacity", "policy"]
    static let restartKeys = ["policy", "max", "backoff", "window", "give_up"]
    static let backoffKeys = ["base", "max"]
    static let outputKeys = ["name", "content_type", "schema_version", "queue"]
    static let inputKeys = ["from", "content_type", "schema_version"]

    /// The smallest and largest queue a flow may ask for; the largest is the largest ring the runtime makes
    /// (a queue is one ring, its capacity rounded up to a power of two of at least 4 KiB).
    static let queueCapacityRange: ClosedRange<UInt64> = 1024...UInt64(RingLimits.maxDataCapacity)

    mutating func parse(_ root: SourceNode) -> ParsedFlow {
        var flow = ParsedFlow()
        guard root.entries != nil else {
            log.error(root.position, "a flow file is a map with the keys 'flow' and 'nodes', not \(root.kindDescription)")
            return flow
        }
        checkKeys(root, allowed: Self.topLevelKeys, in: "the flow")
        if let entry = require("flow", in: root, context: "the flow") {
            if let name = string(entry.value, what: "'flow'") {
                if Self.isValidName(name, allowUnderscore: false) {
                    flow.name = name
                } else {
                    log.error(
                        entry.value.position,
                        "flow name \(Quote.quoted(name)) must be 1 to 63 characters of a-z, 0-9 and '-'",
                        hint: "it names shared-memory segments and bus topics"
                    )
                }
            }
        }
        if let entry = root["version"] {
            if case .integer(let version) = entry.value.value {
                if Chronetix.supportedFlowVersions.contains(Int(version)) {
                    flow.version = Int(version)
                } else {
                    log.error(
                        entry.value.position,
                        "flow-file version \(version) is not supported",
                        hint: "this build reads version \(Chronetix.supportedFlowVersions.lowerBound)"
                    )
                }
            } else {
                log.error(entry.value.position, "'version' must be an integer, found \(entry.value.kindDescription)")
            }
        }
        if let entry = root["description"] { _ = string(entry.value, what: "'description'") }  // checked, not kept
        if let entry = root["defaults"] { flow.defaults = parseDefaults(entry.value) }
        if let entry = require("nodes", in: root, context: "the flow") {
            flow.nodesPosition = entry.keyPosition
            if let items = entry.value.items {
                if items.isEmpty { log.error(entry.value.position, "'nodes' is empty: a flow needs at least one node") }
                for item in items {
                    if let node = parseNode(item, defaults: flow.defaults, rejectedIDs: &flow.rejectedIDs) {
                        flow.nodes.append(node)
                    } else {
                        flow.hasRejectedNodes = true
                    }
                }
            } else {
                log.error(entry.value.position, "'nodes' must be a list of nodes, found \(entry.value.kindDescription)")
            }
        }
        return flow
    }

    // MARK: - Sections

    private mutating func parseDefaults(_ node: SourceNode) -> FlowDefaults {
        guard section(node, named: "'defaults'", allowed: Self.defaultsKeys) else { return .builtIn }
        return parsePolicies(node, base: .builtIn)
    }

    /// Reads the keys a node shares with `defaults` (qos, deadline, queue, restart, on_error, on_late) over `base`.
    private mutating func parsePolicies(_ node: SourceNode, base: FlowDefaults) -> FlowDefaults {
        var defaults = base
        if let entry = node["qos"], let qos = qos(entry.value) { defaults.qos = qos }
        if let entry = node["deadline"], let deadline = duration(entry.value, what: "'deadline'") {
            defaults.deadlineNanoseconds = deadline
        }
        if let entry = node["queue"], let queue = parseQueue(entry.value, base: defaults.queue) { defaults.queue = queue }
        if let entry = node["restart"], let restart = parseRestart(entry.value, base: defaults.restart) {
            defaults.restart = restart
        }
        if let entry = node["on_error"], let policy = choice(entry.value, ErrorPolicy.self, what: "'on_error'") {
            defaults.onError = policy
        }
        if let entry = node["on_late"], let policy = choice(entry.value, LatePolicy.self, what: "'on_late'") {
            defaults.onLate = policy
        }
        return defaults
    }

    /// Reads one node; nil (after reporting why) when it has no valid id, whose text then goes into `rejectedIDs`.
    private mutating func parseNode(_ node: SourceNode, defaults: FlowDefaults, rejectedIDs: inout Set<String>)
        -> ParsedNode?
    {
        guard node.entries != nil else {
            log.error(node.position, "a node must be a map with 'id' and 'kind', found \(node.kindDescription)")
            return nil
        }
        var id: String?
        var idPosition = node.position
        if let entry = require("id", in: node, context: "this node") {
            idPosition = entry.value.position
            if let text = string(entry.value, what: "'id'") {
                if Self.isValidName(text, allowUnderscore: false) {
                    id = text
                } else {
                    rejectedIDs.insert(text)
                    log.error(
                        entry.value.position,
                        text.utf8.count > Self.maxNameBytes
                            ? "node id \(Quote.quoted(text)) is too long: ids have at most \(Self.maxNameBytes) characters"
                            : "node id \(Quote.quoted(text)) must be 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit",
                        hint: "ids name processes, rings and bus topics"
                    )
                }
            }
        }
        let label = id.map { "node \(Quote.quoted($0))" } ?? "this node"
        checkKeys(node, allowed: Self.nodeKeys, in: label)
        var kind: NodeKindSpec?
        var kindPosition = node.position
        if let entry = require("kind", in: node, context: label) {
            kindPosition = entry.value.position
            if let name = string(entry.value, what: "'kind'") {
                kind = NodeCatalogue.kind(name)
                if kind == nil {
                    log.error(
                        entry.value.position,
                        "unknown node kind \(Quote.quoted(name))",
                        hint: Suggestions.closest(to: name, among: NodeCatalogue.kinds.map(\.name)).map {
                            "did you mean \(Quote.quoted($0))? (`chronetix nodes` lists every kind)"
                        } ?? "`chronetix nodes` lists every kind"
                    )
                }
            }
        }
        var parsed = ParsedNode(
            id: id ?? "",
            position: node.position,
            idPosition: idPosition,
            kind: kind,
            kindPosition: kindPosition,
            policies: parsePolicies(node, base: defaults)
        )
        if let entry = node["description"] { _ = string(entry.value, what: "'description'") }  // checked, not kept
        if let entry = node["origin"], let origin = choice(entry.value, NodeOrigin.self, what: "'origin'") {
            parsed.origin = origin
        }
        if let kind {
            parsed.config = parseConfig(node["config"], kind: kind, node: node, label: label)
            if kind.artifact == .process, case .map = parsed.config, case .array(let command)? = parsed.config["command"] {
                parsed.process = ProcessSpec(
                    command: command.compactMap { if case .string(let word) = $0 { word } else { nil } },
                    environment: parsed.config["env"] ?? .map([]),
                    workingDirectory: { if case .string(let path)? = parsed.config["cwd"] { path } else { nil } }()
                )
            }
        } else if let entry = node["config"], entry.value.entries == nil {
            log.error(entry.value.position, "'config' must be a map, found \(entry.value.kindDescription)")
        }
        if let entry = node["inputs"] { parsed.inputs = parseInputs(entry.value, kind: kind, label: label) }
        if let entry = node["outputs"] {
            parsed.outputs = parseOutputs(entry.value, kind: kind, label: label, defaultQueue: parsed.policies.queue)
        } else if let kind, kind.artifact != .process {
            parsed.outputs = kind.outputs.map {
                ParsedOutput(name: $0.name, position: node.position, contentType: nil, schemaVersion: nil, queue: nil)
            }
        }
        if let kind, kind.artifact != .process {
            // Every fixed output exists whether or not the flow lists it.
            for spec in kind.outputs where !parsed.outputs.contains(where: { $0.name == spec.name }) {
                parsed.outputs.append(
                    ParsedOutput(name: spec.name, position: node.position, contentType: nil, schemaVersion: nil, queue: nil)
                )
            }
        }
        return id == nil ? nil : parsed
    }

    private mutating func parseInputs(_ node: SourceNode, kind: NodeKindSpec?, label: String) -> [ParsedInput] {
        guard let entries = node.entries else {
            log.error(
                node.position,
                "'inputs' must be a map of port to node/output, found \(node.kindDescription)",
                hint: "for example  inputs: { in: source/samples }"
            )
            return []
        }
        var inputs: [ParsedInput] = []
        for entry in entries {
            if let previous = inputs.first(where: { $0.port == entry.key }) {
                log.error(
                    entry.keyPosition,
                    "input port \(Quote.quoted(entry.key)) of \(label) is fed twice (first at \(previous.position))",
                    hint: "a port reads one edge; use a 'merge' node to combine several"
                )
                continue
            }
            if let kind {
                if kind.role == .source {
                    log.error(entry.keyPosition, "\(kind.name) is a source and takes no inputs")
                    continue
                }
                if !kind.hasNamedInputs, !kind.inputs.contains(where: { $0.name == entry.key }) {
                    log.error(
                        entry.keyPosition,
                        "\(kind.name) has no input port \(Quote.quoted(entry.key))",
                        hint: Suggestions.hint(for: entry.key, among: kind.inputs.map(\.name))
                    )
                    continue
                }
            }
            if kind?.hasNamedInputs == true, !Self.isValidPortName(entry.key) {
                log.error(entry.keyPosition, "port name \(Quote.quoted(entry.key)) must be a-z, 0-9, '_' and '-', starting with a letter")
                continue
            }
            var input = ParsedInput(
                port: entry.key,
                position: entry.keyPosition,
                from: nil,
                fromPosition: entry.value.position
            )
            var referenceNode = entry.value
            if entry.value.entries != nil {
                checkKeys(entry.value, allowed: Self.inputKeys, in: "input \(Quote.quoted(entry.key))")
                guard let from = require("from", in: entry.value, context: "input \(Quote.quoted(entry.key))") else { continue }
                referenceNode = from.value
                input.fromPosition = from.value.position
                if let typeEntry = entry.value["content_type"] {
                    if kind?.artifact == .process {
                        input.contentType = contentType(typeEntry.value, allowAny: true)
                    } else {
                        log.error(
                            typeEntry.keyPosition,
                            "only 'process' nodes declare input content types; \(kind?.name ?? "this kind")'s are fixed"
                        )
                    }
                }
                if let versionEntry = entry.value["schema_version"] {
                    input.schemaVersion = schemaVersion(versionEntry.value)
                }
            }
            input.from = portReference(referenceNode)
            inputs.append(input)
        }
        return inputs
    }

    private mutating func parseOutputs(
        _ node: SourceNode,
        kind: NodeKindSpec?,
        label: String,
        defaultQueue: QueueSpec
    ) -> [ParsedOutput] {
        guard let items = node.items else {
            log.error(
                node.position,
                "'outputs' must be a list of output names, found \(node.kindDescription)",
                hint: "for example  outputs: [out]"
            )
            return []
        }
        var outputs: [ParsedOutput] = []
        for item in items {
            var output: ParsedOutput
            if item.entries != nil {
                checkKeys(item, allowed: Self.outputKeys, in: "an output")
                guard let nameEntry = require("name", in: item, context: "an output"),
                    let name = string(nameEntry.value, what: "'name'")
                else { continue }
                output = ParsedOutput(name: name, position: nameEntry.value.position)
                if let typeEntry = item["content_type"] {
                    if kind?.artifact == .process {
                        output.contentType = contentType(typeEntry.value, allowAny: false)
                    } else {
                        log.error(
                            typeEntry.keyPosition,
                            "only 'process' nodes declare output content types; \(kind?.name ?? "this kind")'s are fixed"
                        )
                    }
                }
                if let versionEntry = item["schema_version"] { output.schemaVersion = schemaVersion(versionEntry.value) }
                if let queueEntry = item["queue"] { output.queue = parseQueue(queueEntry.value, base: defaultQueue) }
            } else if let name = string(item, what: "an output name") {
                output = ParsedOutput(name: name, position: item.position)
            } else {
                continue
            }
            guard Self.isValidPortName(output.name) else {
                log.error(output.position, "output name \(Quote.quoted(output.name)) must be a-z, 0-9, '_' and '-', starting with a letter")
                continue
            }
            if let previous = outputs.first(where: { $0.name == output.name }) {
                log.error(output.position, "output \(Quote.quoted(output.name)) of \(label) is listed twice (first at \(previous.position))")
                continue
            }
            if let kind {
                if kind.role == .sink {
                    log.error(output.position, "\(kind.name) is a sink and has no outputs")
                    continue
                }
                if kind.artifact == .process {
                    if output.contentType == nil {
                        log.error(
                            output.position,
                            "output \(Quote.quoted(output.name)) of process \(label) needs a content type",
                            hint: "write it as  { name: \(output.name), content_type: bytes }  (f64, bytes, cbor or arrow)"
                        )
                    }
                } else if !kind.outputs.contains(where: { $0.name == output.name }) {
                    log.error(
                        output.position,
                        "\(kind.name) has no output \(Quote.quoted(output.name))",
                        hint: Suggestions.hint(for: output.name, among: kind.outputs.map(\.name))
                    )
                    continue
                }
            }
            outputs.append(output)
        }
        return outputs
    }

    private mutating func parseQueue(_ node: SourceNode, base: QueueSpec) -> QueueSpec? {
        guard section(node, named: "'queue'", allowed: Self.queueKeys, example: "queue: { capacity: 1MiB, policy: block }")
        else { return nil }
        var queue = base
        if let entry = node["capacity"], let bytes = size(entry.value, what: "'capacity'", range: Self.queueCapacityRange) {
            queue.capacityBytes = bytes
        }
        if let entry = node["policy"], let policy = choice(entry.value, QueuePolicy.self, what: "queue 'policy'") {
            queue.policy = policy
        }
        return queue
    }

    private mutating func parseRestart(_ node: SourceNode, base: RestartPolicy) -> RestartPolicy? {
        guard section(node, named: "'restart'", allowed: Self.restartKeys, example: "restart: { policy: on-failure, max: 3 }")
        else { return nil }
        var restart = base
        if let entry = node["policy"], let mode = choice(entry.value, RestartMode.self, what: "restart 'policy'") {
            restart.mode = mode
        }
        if let entry = node["max"], let count = integer(entry.value, what: "restart 'max'", range: 0...1_000_000) {
            restart.maxRestarts = Int(count)
        }
        if let entry = node["window"], let window = duration(entry.value, what: "restart 'window'") {
            restart.windowNanoseconds = window
        }
        if let entry = node["give_up"], let action = choice(entry.value, GiveUpAction.self, what: "restart 'give_up'") {
            restart.giveUp = action
        }
        if let entry = node["backoff"] {
            if entry.value.entries != nil {
                checkKeys(entry.value, allowed: Self.backoffKeys, in: "'backoff'")
                if let base = entry.value["base"], let value = duration(base.value, what: "backoff 'base'") {
                    restart.backoffBaseNanoseconds = value
                }
                if let maximum = entry.value["max"], let value = duration(maximum.value, what: "backoff 'max'") {
                    restart.backoffMaxNanoseconds = value
                }
                if restart.backoffBaseNanoseconds > restart.backoffMaxNanoseconds {
                    log.error(
                        entry.value.position,
                        "backoff 'base' (\(Quantity.formatDuration(restart.backoffBaseNanoseconds))) is longer than its "
                            + "'max' (\(Quantity.formatDuration(restart.backoffMaxNanoseconds)))"
                    )
                }
            } else {
                log.error(entry.value.position, "'backoff' must be a map with 'base' and 'max', found \(entry.value.kindDescription)")
            }
        }
        return restart
    }

    private mutating func parseConfig(_ entry: SourceEntry?, kind: NodeKindSpec, node: SourceNode, label: String)
        -> StructuredValue
    {
        var given: [SourceEntry] = []
        if let entry {
            if let entries = entry.value.entries {
                given = entries
            } else if case .null = entry.value.value {
                given = []
            } else {
                log.error(entry.value.position, "'config' must be a map, found \(entry.value.kindDescription)")
            }
        }
        var seen = Set<String>()
        for item in given {
            if !seen.insert(item.key).inserted {
                log.error(item.keyPosition, "config key \(Quote.quoted(item.key)) is given twice")
            }
            if kind.configKey(item.key) == nil {
                let hint: String
                if let match = Suggestions.closest(to: item.key, among: kind.config.map(\.name)) {
                    hint = "did you mean \(Quote.quoted(match))?"
                } else if kind.config.isEmpty {
                    hint = "\(kind.name) takes no config"
                } else {
                    hint = "\(kind.name) takes: " + kind.config.map(\.name).joined(separator: ", ")
                }
                log.error(item.keyPosition, "\(kind.name) has no config key \(Quote.quoted(item.key))", hint: hint)
            }
        }
        var values: [StructuredValue.Entry] = []
        for spec in kind.config {
            if let item = given.first(where: { $0.key == spec.name }) {
                if case .null = item.value.value, spec.defaultValue == .null {
                    values.append(.init(spec.name, .null))
                } else if let value = configValue(item.value, spec: spec, kind: kind) {
                    values.append(.init(spec.name, value))
                }
            } else if let value = spec.defaultValue {
                values.append(.init(spec.name, value))
            } else {
                log.error(
                    entry?.keyPosition ?? node.position,
                    "\(label) (\(kind.name)) needs config key \(Quote.quoted(spec.name)) (\(spec.type.summary): \(spec.summary))"
                )
            }
        }
        return .map(values)
    }

    /// One config value checked against its key's type; nil (and an error logged) when it does not fit.
    mutating func configValue(_ node: SourceNode, spec: ConfigKeySpec, kind: NodeKindSpec) -> StructuredValue? {
        let what = "config \(Quote.quoted(spec.name)) of \(kind.name)"
        switch spec.type {
        case .integer(let range):
            return integer(node, what: what, range: range).map { .integer($0) }
        case .number(let range):
            let number: Double
            switch node.value {
            case .integer(let value): number = Double(value)
            case .double(let value): number = value
            default:
                log.error(node.position, "\(what) must be a number, found \(node.kindDescription)")
                return nil
            }
            guard range.contains(number) else {
                log.error(node.position, "\(what) must be \(spec.type.summary), found \(JSONText.format(number))")
                return nil
            }
            return .double(number)
        case .string:
            return string(node, what: what).map { .string($0) }
        case .bool:
            guard case .bool(let flag) = node.value else {
                log.error(
                    node.position,
                    "\(what) must be true or false, found \(node.kindDescription)",
                    hint: node.text.map { ["yes", "no", "on", "off"].contains($0.lowercased()) } == true
                        ? "YAML 1.2 reads \(Quote.quoted(node.text ?? "")) as a string: write true or false" : nil
                )
                return nil
            }
            return .bool(flag)
        case .choice(let words):
            guard let text = string(node, what: what) else { return nil }
            guard words.contains(text) else {
                log.error(node.position, "\(what) must be one of \(words.joined(separator: ", ")), found \(Quote.quoted(text))",
                    hint: Suggestions.closest(to: text, among: words).map { "did you mean \(Quote.quoted($0))?" })
                return nil
            }
            return .string(text)
        case .duration:
            return duration(node, what: what).map { .integer(Int64($0)) }  // duration() keeps it within Int64
        case .size(let range):
            return size(node, what: what, range: range).map { .integer(Int64($0)) }  // ranges end far below Int64.max
        case .stringList:
            guard let items = node.items else {
                log.error(node.position, "\(what) must be a list of strings, found \(node.kindDescription)")
                return nil
            }
            guard !items.isEmpty else {
                log.error(node.position, "\(what) must not be empty")
                return nil
            }
            var words: [StructuredValue] = []
            for item in items {
                guard let word = string(item, what: "each item of \(what)") else { return nil }
                words.append(.string(word))
            }
            return .array(words)
        case .stringMap:
            guard let entries = node.entries else {
                log.error(node.position, "\(what) must be a map of strings, found \(node.kindDescription)")
                return nil
            }
            var pairs: [StructuredValue.Entry] = []
            for entry in entries {
                guard let value = string(entry.value, what: "\(Quote.quoted(entry.key)) in \(what)") else { return nil }
                pairs.append(.init(entry.key, .string(value)))
            }
            return .map(pairs)
        }
    }

    // MARK: - Scalars

    private mutating func string(_ node: SourceNode, what: String) -> String? {
        switch node.value {
        case .string(let text): return text
        case .integer, .double, .bool:
            if let plain = node.plainText { return plain }  // `path: 2024` in YAML is fine as a string
        default: break
        }
        log.error(node.position, "\(what) must be a string, found \(node.kindDescription)")
        return nil
    }

    private mutating func integer(_ node: SourceNode, what: String, range: ClosedRange<Int64>) -> Int64? {
        guard case .integer(let value) = node.value else {
            log.error(node.position, "\(what) must be an integer, found \(node.kindDescription)")
            return nil
        }
        guard range.contains(value) else {
            log.error(node.position, "\(what) must be \(ConfigType.integer(range).summary), found \(value)")
            return nil
        }
        return value
    }

    private mutating func choice<T: RawRepresentable & CaseIterable>(_ node: SourceNode, _ type: T.Type, what: String)
        -> T? where T.RawValue == String
    {
        guard let text = string(node, what: what) else { return nil }
        if let value = T(rawValue: text) { return value }
        let words = T.allCases.map(\.rawValue)
        log.error(
            node.position,
            "\(what) must be one of \(words.joined(separator: ", ")), found \(Quote.quoted(text))",
            hint: Suggestions.closest(to: text, among: words).map { "did you mean \(Quote.quoted($0))?" }
        )
        return nil
    }

    private mutating func qos(_ node: SourceNode) -> QoSClass? {
        guard let text = string(node, what: "'qos'") else { return nil }
        if let value = QoSClass(name: text) { return value }
        let words = QoSClass.allCases.map(\.name)
        log.error(
            node.position,
            "'qos' must be one of \(words.joined(separator: ", ")), found \(Quote.quoted(text))",
            hint: Suggestions.closest(to: text, among: words).map { "did you mean \(Quote.quoted($0))?" }
        )
        return nil
    }

    private mutating func duration(_ node: SourceNode, what: String) -> UInt64? {
        if case .integer(0) = node.value { return 0 }
        guard case .string(let text) = node.value else {
            log.error(
                node.position,
                "\(what) must be a duration like 50ms, found \(node.kindDescription)",
                hint: node.plainText.map(Quote.shortened).map { "add a unit: \($0)ms, \($0)s, ... (ns, us, ms, s, m)" }
            )
            return nil
        }
        let nanoseconds: UInt64
        do {
            nanoseconds = try Quantity.parseDuration(text)
        } catch {
            log.error(node.position, "\(what): \(Self.describe(error, text: text, units: "ns, us, ms, s, m"))")
            return nil
        }
        // Compiled documents hold signed 64-bit integers: refuse what would not fit there (about 292 years).
        guard nanoseconds <= UInt64(Int64.max) else {
            log.error(node.position, "\(what): \(Quote.quoted(text)) is too long (at most \(Int64.max)ns, about 292 years)")
            return nil
        }
        return nanoseconds
    }

    private mutating func size(_ node: SourceNode, what: String, range: ClosedRange<UInt64>) -> UInt64? {
        let bytes: UInt64
        switch node.value {
        case .integer(let value) where value >= 0: bytes = UInt64(value)
        case .string(let text):
            do {
                bytes = try Quantity.parseSize(text)
            } catch {
                log.error(node.position, "\(what): \(Self.describe(error, text: text, units: "B, KiB, MiB, GiB"))")
                return nil
            }
        default:
            log.error(node.position, "\(what) must be a size like 64KiB or a number of bytes, found \(node.kindDescription)")
            return nil
        }
        guard range.contains(bytes) else {
            log.error(
                node.position,
                "\(what) must be between \(Quantity.formatSize(range.lowerBound)) and "
                    + "\(Quantity.formatSize(range.upperBound)), found \(Quantity.formatSize(bytes))"
            )
            return nil
        }
        return bytes
    }

    private mutating func contentType(_ node: SourceNode, allowAny: Bool) -> ContentType? {
        guard let text = string(node, what: "'content_type'") else { return nil }
        let names = ContentType.all.filter { allowAny || !$0.isWildcard }.map(\.name)
        guard let type = ContentType(name: text), names.contains(text) else {
            log.error(
                node.position,
                "'content_type' must be one of \(names.joined(separator: ", ")), found \(Quote.quoted(text))",
                hint: Suggestions.closest(to: text, among: names).map { "did you mean \(Quote.quoted($0))?" }
            )
            return nil
        }
        return type
    }

    private mutating func schemaVersion(_ node: SourceNode) -> UInt32? {
        integer(node, what: "'schema_version'", range: 1...Int64(UInt32.max)).map { UInt32($0) }
    }

    private mutating func portReference(_ node: SourceNode) -> PortReference? {
        guard let text = string(node, what: "an input") else { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            log.error(node.position, "input \(Quote.quoted(text)) must name node/output", hint: "for example  source/samples")
            return nil
        }
        return PortReference(node: String(parts[0]), port: String(parts[1]))
    }

    static func describe(_ problem: Quantity.Problem, text: String, units: String) -> String {
        switch problem {
        case .empty: "is empty"
        case .missingUnit(let number): "\(Quote.quoted(text)) has no unit (write \(Quote.shortened(number)) followed by one of \(units))"
        case .unknownUnit(let unit): "unknown unit \(Quote.quoted(unit)) in \(Quote.quoted(text)) (units: \(units))"
        case .malformedNumber: "\(Quote.quoted(text)) is not a number followed by a unit (units: \(units))"
        case .notWhole: "\(Quote.quoted(text)) is not a whole number of the smallest unit"
        case .tooLarge: "\(Quote.quoted(text)) is too large"
        }
    }

    // MARK: - Keys

    /// Checks that a section is a map and reports its unknown keys; false (after reporting) when it is not a map.
    private mutating func section(_ node: SourceNode, named name: String, allowed: [String], example: String? = nil)
        -> Bool
    {
        guard node.entries != nil else {
            log.error(
                node.position,
                "\(name) must be a map, found \(node.kindDescription)",
                hint: example.map { "for example  \($0)" }
            )
            return false
        }
        checkKeys(node, allowed: allowed, in: name)
        return true
    }

    /// Reports every key of `node` not in `allowed`, with a did-you-mean, and every key given twice.
    private mutating func checkKeys(_ node: SourceNode, allowed: [String], in context: String) {
        guard let entries = node.entries else { return }
        var seen: [String: SourcePosition] = [:]
        for entry in entries {
            if let first = seen[entry.key] {
                log.error(entry.keyPosition, "key \(Quote.quoted(entry.key)) is given twice in \(context) (first at \(first))")
            } else {
                seen[entry.key] = entry.keyPosition
            }
            guard !allowed.contains(entry.key) else { continue }
            log.error(
                entry.keyPosition,
                "unknown key \(Quote.quoted(entry.key)) in \(context)",
                hint: Suggestions.hint(for: entry.key, among: allowed)
            )
        }
    }

    private mutating func require(_ key: String, in node: SourceNode, context: String) -> SourceEntry? {
        if let entry = node[key] { return entry }
        log.error(node.position, "\(context) is missing the required key \(Quote.quoted(key))")
        return nil
    }

    /// The longest flow name, node id or port name.
    static let maxNameBytes = 63

    static func isValidName(_ text: String, allowUnderscore: Bool) -> Bool {
        let utf8 = Array(text.utf8)
        guard (1...maxNameBytes).contains(utf8.count) else { return false }
        func allowed(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "-") || (allowUnderscore && byte == UInt8(ascii: "_"))
        }
        return utf8.allSatisfy(allowed) && utf8[0] != UInt8(ascii: "-")
    }

    static func isValidPortName(_ text: String) -> Bool {
        guard let first = text.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else { return false }
        return isValidName(text, allowUnderscore: true)
    }
}

extension ParsedOutput {
    init(name: String, position: SourcePosition) {
        self.init(name: name, position: position, contentType: nil, schemaVersion: nil, queue: nil)
    }
}
