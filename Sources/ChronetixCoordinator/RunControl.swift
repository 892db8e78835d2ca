import ChronetixCore
import ChronetixRuntime
import IpcEventBus
import ChronetixSystem

/// What a running coordinator answers on `flow.F.run.status`: the run as it stands.
public struct RunStatusReport: Hashable, Sendable, Codable {
    public var run: String
    public var flow: String
    public var pid: Int32
    /// `starting` (waiting for every node to be ready), `running`, `stopping`.
    public var phase: String
    public var uptimeNanoseconds: UInt64
    public var nodes: [Node]
    public var edges: [Edge]

    public struct Node: Hashable, Sendable, Codable {
        public var id: String
        public var kind: String
        /// `starting`, `ready`, `completed`, `failed`, `restarting`, `left-down`.
        public var state: String
        public var pid: Int32?
        public var restarts: Int
        public var framesIn: UInt64
        public var framesOut: UInt64

        public init(id: String, kind: String, state: String, pid: Int32?, restarts: Int, framesIn: UInt64, framesOut: UInt64) {
            self.id = id
            self.kind = kind
            self.state = state
            self.pid = pid
            self.restarts = restarts
            self.framesIn = framesIn
            self.framesOut = framesOut
        }

        private enum CodingKeys: String, CodingKey {
            case id, kind, state, pid, restarts
            case framesIn = "frames_in"
            case framesOut = "frames_out"
        }
    }

    public struct Edge: Hashable, Sendable, Codable {
        /// `SRC/OUT->DST/IN`.
        public var key: String
        public var frames: UInt64
        public var bytes: UInt64
        public var framesPerSecond: Double
        public var bytesPerSecond: Double
        public var drops: UInt64
        public var late: UInt64
        public var queueDepth: UInt64
        public var latencyP50Nanoseconds: UInt64
        public var latencyP99Nanoseconds: UInt64

        public init(
            key: String, frames: UInt64, bytes: UInt64, framesPerSecond: Double, bytesPerSecond: Double, drops: UInt64, late: UInt64,
            queueDepth: UInt64, latencyP50Nanoseconds: UInt64, latencyP99Nanoseconds: UInt64
        ) {
            self.key = key
            self.frames = frames
            self.bytes = bytes
            self.framesPerSecond = framesPerSecond
            self.bytesPerSecond = bytesPerSecond
            self.drops = drops
            self.late = late
            self.queueDepth = queueDepth
            self.latencyP50Nanoseconds = latencyP50Nanoseconds
            self.latencyP99Nanoseconds = latencyP99Nanoseconds
        }

        private enum CodingKeys: String, CodingKey {
            case key, frames, bytes
            case framesPerSecond = "frames_per_second"
            case bytesPerSecond = "bytes_per_second"
            case drops, late
            case queueDepth = "queue_depth"
            case latencyP50Nanoseconds = "latency_p50_ns"
            case latencyP99Nanoseconds = "latency_p99_ns"
        }
    }

    public init(run: String, flow: String, pid: Int32, phase: String, uptimeNanoseconds: UInt64, nodes: [Node], edges: [Edge]) {
        self.run = run
        self.flow = flow
        self.pid = pid
        self.phase = phase
        self.uptimeNanoseconds = uptimeNanoseconds
        self.nodes = nodes
        self.edges = edges
    }

    private enum CodingKeys: String, CodingKey {
        case run, flow, pid, phase
        case uptimeNanoseconds = "uptime_ns"
        case nodes, edges
    }
}

/// What `chronetix stop` asks on `flow.F.run.stop`: a graceful stop, as SIGINT to the coordinator.
public struct RunStopRequest: Hashable, Sendable, Codable {
    /// The drain timeout for this stop; nil: the run's own (`--drain-timeout`).
    public var drainTimeoutNanoseconds: UInt64?
    /// Who asked (for the stop's cause): `chronetix stop (pid N)`.
    public var requester: String

    public init(drainTimeoutNanoseconds: UInt64?, requester: String) {
        self.drainTimeoutNanoseconds = drainTimeoutNanoseconds
        self.requester = requester
    }

    private enum CodingKeys: String, CodingKey {
        case drainTimeoutNanoseconds = "drain_timeout_ns"
        case requester
    }
}

/// A connection to a running coordinator's bus, as an observer with the run's token (from its record):
/// status, stop, and later taps.
public final class RunConnection {
    public let record: RunRecord
    private let client: BusClient

    /// Attaches to the run's bus.
    /// - Parameter name: The tool's name on the bus (`ps`, `stop`).
    /// - Throws: ``CoordinatorError/unreachable(_:)``.
    public init(_ record: RunRecord, name: String) throws(CoordinatorError) {
        self.record = record
        var configuration = BusClient.Configuration(socketPath: record.socket, role: "observer", name: name, token: record.token)
        configuration.handshakeTimeout = .seconds(2)
        do {
            client = try BusClient(configuration: configuration)
        } catch {
            throw .unreachable("cannot attach to run \(record.run) (pid \(record.pid)) at \(record.socket): \(error)")
        }
    }

    deinit { client.close() }

    /// The run's status.
    /// - Throws: ``CoordinatorError/unreachable(_:)`` when it does not answer within `timeout`.
    public func status(timeout: Duration = .seconds(2)) throws(CoordinatorError) -> RunStatusReport {
        let reply = try request(Topics.runStatus(flow: record.flow), payload: [], timeout: timeout)
        do {
            return try RunCoding.decode(RunStatusReport.self, from: reply.payload)
        } catch {
            throw .unreachable("run \(record.run) answered its status with something that is not one: \(error)")
        }
    }

    /// Asks the run to stop gracefully.
    /// - Throws: ``CoordinatorError/refused(_:)``, ``CoordinatorError/unreachable(_:)``.
    public func stop(_ request: RunStopRequest, timeout: Duration = .seconds(2)) throws(CoordinatorError) {
        let payload: [UInt8]
        do {
            payload = try RunCoding.encode(request)
        } catch {
            throw .refused("cannot encode the stop request: \(error)")
        }
        _ = try self.request(Topics.runStop(flow: record.flow), payload: payload, timeout: timeout)
    }

    private func request(_ topic: String, payload: [UInt8], timeout: Duration) throws(CoordinatorError) -> Envelope {
        do {
            return try client.request(Envelope(id: 0, topic: topic, contentType: RunCoding.contentType, payload: payload), timeout: timeout)
        } catch where error.code == .remoteError {
            throw .refused("run \(record.run): \(error)")
        } catch {
            throw .unreachable("run \(record.run) did not answer on \(topic): \(error)")
        }
    }
}
