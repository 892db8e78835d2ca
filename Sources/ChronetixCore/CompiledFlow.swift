/// The output of `FlowAdapter.compile`: everything the runtime needs to run a flow, checked.
///
/// It is deterministic: the same flow file compiles to the same value, and so to the same JSON and CBOR
/// bytes. `docs/compiled-format.md` describes each field.
public struct CompiledFlow: Hashable, Sendable, Codable {
    /// The compiled-format version (``Chronetix/compiledFormatVersion``).
    public var format: Int
    /// The flow's name.
    public var flow: String
    /// The flow-file format version it was written in.
    public var version: Int
    /// The defaults the flow file set, with Chronetix's own filling the gaps.
    public var defaults: FlowDefaults
    /// One manifest per node, in the order the flow file lists them.
    public var nodes: [NodeManifest]
    /// Bus topics and data edges.
    public var routes: Routes
    /// Each (content type, schema version) used on an edge, once, sorted.
    public var schemas: [Schema]

    public init(
        format: Int = Chronetix.compiledFormatVersion,
        flow: String,
        version: Int,
        defaults: FlowDefaults,
        nodes: [NodeManifest],
        routes: Routes,
        schemas: [Schema]
    ) {
        self.format = format
        self.flow = flow
        self.version = version
        self.defaults = defaults
        self.nodes = nodes
        self.routes = routes
        self.schemas = schemas
    }

    /// The manifest of the node with this id.
    public func node(_ id: String) -> NodeManifest? { nodes.first(where: { $0.id == id }) }
}

/// The flow-wide defaults, as applied.
public struct FlowDefaults: Hashable, Sendable, Codable {
    public var qos: QoSClass
    /// The per-frame processing budget in nanoseconds; 0 means no deadline.
    public var deadlineNanoseconds: UInt64
    public var queue: QueueSpec
    public var restart: RestartPolicy
    public var onError: ErrorPolicy
    /// What a node does with a frame that arrives after its deadline.
    public var onLate: LatePolicy

    public init(
        qos: QoSClass,
        deadlineNanoseconds: UInt64,
        queue: QueueSpec,
        restart: RestartPolicy,
        onError: ErrorPolicy,
        onLate: LatePolicy = .process
    ) {
        self.qos = qos
        self.deadlineNanoseconds = deadlineNanoseconds
        self.queue = queue
        self.restart = restart
        self.onError = onError
        self.onLate = onLate
    }

    /// Chronetix's defaults: normal QoS, no deadline, a 1 MiB blocking queue, no restarts, errors propagate,
    /// late frames are processed.
    public static let builtIn = FlowDefaults(
        qos: .normal,
        deadlineNanoseconds: 0,
        queue: QueueSpec(capacityBytes: 1 << 20, policy: .block),
        restart: .default,
        onError: .propagate,
        onLate: .process
    )

    private enum CodingKeys: String, CodingKey {
        case qos
        case deadlineNanoseconds = "deadline_ns"
        case queue, restart
        case onError = "on_error"
        case onLate = "on_late"
    }
}

/// Everything one worker needs to run one node.
public struct NodeManifest: Hashable, Sendable, Codable {
    public var id: String
    public var kind: String
    public var artifact: ArtifactKind
    public var origin: NodeOrigin
    public var category: NodeCategory
    public var inputs: [PortManifest]
    public var outputs: [PortManifest]
    public var qos: QoSClass
    /// The per-frame processing budget in nanoseconds; 0 means no deadline.
    public var deadlineNanoseconds: UInt64
    public var restart: RestartPolicy
    public var onError: ErrorPolicy
    /// What the node does with a frame that arrives after its deadline.
    public var onLate: LatePolicy
    /// The node's configuration, every key of its kind present (defaults applied), in the catalogue's
    /// order; durations are integer nanoseconds and sizes integer bytes.
    public var config: StructuredValue
    /// For `process` nodes: what to run.
    public var process: ProcessSpec?

    public init(
        id: String,
        kind: String,
        artifact: ArtifactKind,
        origin: NodeOrigin,
        category: NodeCategory,
        inputs: [PortManifest],
        outputs: [PortManifest],
        qos: QoSClass,
        deadlineNanoseconds: UInt64,
        restart: RestartPolicy,
        onError: ErrorPolicy,
        onLate: LatePolicy = .process,
        config: StructuredValue,
        process: ProcessSpec?
    ) {
        self.id = id
        self.kind = kind
        self.artifact = artifact
        self.origin = origin
        self.category = category
        self.inputs = inputs
        self.outputs = outputs
        self.qos = qos
        self.deadlineNanoseconds = deadlineNanoseconds
        self.restart = restart
        self.onError = onError
        self.onLate = onLate
        self.config = config
        self.process = process
    }

    private enum CodingKeys: String, CodingKey {
        case id, kind, artifact, origin, category, inputs, outputs, qos
        case deadlineNanoseconds = "deadline_ns"
        case restart
        case onError = "on_error"
        case onLate = "on_late"
        case config, process
    }
}

/// One port of a node, with the edge it reads from or writes to.
public struct PortManifest: Hashable, Sendable, Codable {
    public var name: String
    /// The concrete content type (never `any` once compiled).
    public var contentType: ContentType
    public var schemaVersion: UInt32
    /// The id of the data edge (`node/output`).
    public var edge: String

    public init(name: String, contentType: ContentType, schemaVersion: UInt32, edge: String) {
        self.name = name
        self.contentType = contentType
        self.schemaVersion = schemaVersion
        self.edge = edge
    }

    private enum CodingKeys: String, CodingKey {
        case name
        case contentType = "content_type"
        case schemaVersion = "schema_version"
        case edge
    }
}

/// What a `process` node runs.
public struct ProcessSpec: Hashable, Sendable, Codable {
    /// The executable and its arguments.
    public var command: [String]
    /// Extra environment variables, in the flow file's order.
    public var environment: StructuredValue
    /// The working directory; nil means the coordinator's.
    public var workingDirectory: String?

    public init(command: [String], environment: StructuredValue, workingDirectory: String?) {
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
    }

    private enum CodingKeys: String, CodingKey {
        case command
        case environment = "env"
        case workingDirectory = "cwd"
    }
}

/// The bus topics and data edges of a flow.
public struct Routes: Hashable, Sendable, Codable {
    /// Per node, what it publishes and subscribes to on the bus.
    public var topics: [NodeTopics]
    /// One data edge per node output, in node then output order.
    public var edges: [DataEdge]

    public init(topics: [NodeTopics], edges: [DataEdge]) {
        self.topics = topics
        self.edges = edges
    }
}

/// One node's bus topics.
public struct NodeTopics: Hashable, Sendable, Codable {
    public var node: String
    public var publishes: [String]
    public var subscribes: [String]

    public init(node: String, publishes: [String], subscribes: [String]) {
        self.node = node
        self.publishes = publishes
        self.subscribes = subscribes
    }
}

/// A node and one of its ports.
public struct PortReference: Hashable, Sendable, Codable, CustomStringConvertible {
    public var node: String
    public var port: String

    public init(node: String, port: String) {
        self.node = node
        self.port = port
    }

    /// `node/port`, as written in flow files.
    public var description: String { "\(node)/\(port)" }
}

/// One data edge: a producer's output and every input it feeds (one ring, fanned out).
public struct DataEdge: Hashable, Sendable, Codable {
    /// `node/output`.
    public var id: String
    public var from: PortReference
    /// The consuming inputs, in flow-file order; empty when the output is unused.
    public var to: [PortReference]
    public var contentType: ContentType
    public var schemaVersion: UInt32
    public var queue: QueueSpec
    /// The producing node's QoS class, carried as the priority of the edge's frames.
    public var qos: QoSClass
    /// The consumers' deadline budget in nanoseconds (the smallest of them; 0 means none).
    public var deadlineNanoseconds: UInt64

    public init(
        id: String,
        from: PortReference,
        to: [PortReference],
        contentType: ContentType,
        schemaVersion: UInt32,
        queue: QueueSpec,
        qos: QoSClass,
        deadlineNanoseconds: UInt64
    ) {
        self.id = id
        self.from = from
        self.to = to
        self.contentType = contentType
        self.schemaVersion = schemaVersion
        self.queue = queue
        self.qos = qos
        self.deadlineNanoseconds = deadlineNanoseconds
    }

    private enum CodingKeys: String, CodingKey {
        case id, from, to
        case contentType = "content_type"
        case schemaVersion = "schema_version"
        case queue, qos
        case deadlineNanoseconds = "deadline_ns"
    }
}

/// A content type at one schema version.
public struct Schema: Hashable, Sendable, Codable, Comparable {
    public var contentType: ContentType
    public var mediaType: String
    public var version: UInt32

    public init(contentType: ContentType, version: UInt32) {
        self.contentType = contentType
        self.mediaType = contentType.mediaType
        self.version = version
    }

    public static func < (lhs: Schema, rhs: Schema) -> Bool {
        (lhs.contentType.name, lhs.version) < (rhs.contentType.name, rhs.version)
    }

    private enum CodingKeys: String, CodingKey {
        case contentType = "content_type"
        case mediaType = "media_type"
        case version
    }
}
