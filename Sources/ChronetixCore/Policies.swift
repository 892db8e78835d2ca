/// What a producer does when an edge's queue is full.
public enum QueuePolicy: String, CaseIterable, Hashable, Sendable, Codable {
    /// Wait for room: backpressure, never drops.
    case block
    /// Drop the oldest queued frame to make room; every drop is counted.
    case dropOldest = "drop-oldest"
    /// Keep only the newest frame; every frame replaced is counted as dropped.
    case latest
}

/// The queue of one data edge.
public struct QueueSpec: Hashable, Sendable, Codable {
    /// The ring's data capacity in bytes.
    public var capacityBytes: UInt64
    /// What happens when it is full.
    public var policy: QueuePolicy

    public init(capacityBytes: UInt64, policy: QueuePolicy) {
        self.capacityBytes = capacityBytes
        self.policy = policy
    }

    private enum CodingKeys: String, CodingKey {
        case capacityBytes = "capacity_bytes"
        case policy
    }
}

/// When a failed node is started again.
public enum RestartMode: String, CaseIterable, Hashable, Sendable, Codable {
    case never
    case onFailure = "on-failure"
    case always
}

/// What the coordinator does when a node's circuit breaker opens (too many failures within the window).
public enum GiveUpAction: String, CaseIterable, Hashable, Sendable, Codable {
    /// Stop the whole flow: it ends `failed`.
    case stopFlow = "stop-flow"
    /// Leave the node down and let the rest of the flow run on: its consumers see its streams end, its
    /// producers stop waiting for it; the flow still ends `failed`.
    case leaveDown = "leave-down"
}

/// A node's restart policy: when, how often, how fast, and when to give up.
public struct RestartPolicy: Hashable, Sendable, Codable {
    public var mode: RestartMode
    /// The most restarts allowed over the run.
    public var maxRestarts: Int
    /// The first delay before a restart; it doubles on each restart up to ``backoffMaxNanoseconds``.
    public var backoffBaseNanoseconds: UInt64
    /// The longest delay between restarts.
    public var backoffMaxNanoseconds: UInt64
    /// The circuit breaker's window: a failure when `maxRestarts` restarts happened within it opens the breaker.
    public var windowNanoseconds: UInt64
    /// What an open breaker does.
    public var giveUp: GiveUpAction

    public init(
        mode: RestartMode,
        maxRestarts: Int,
        backoffBaseNanoseconds: UInt64,
        backoffMaxNanoseconds: UInt64,
        windowNanoseconds: UInt64,
        giveUp: GiveUpAction = .stopFlow
    ) {
        self.mode = mode
        self.maxRestarts = maxRestarts
        self.backoffBaseNanoseconds = backoffBaseNanoseconds
        self.backoffMaxNanoseconds = backoffMaxNanoseconds
        self.windowNanoseconds = windowNanoseconds
        self.giveUp = giveUp
    }

    /// The policy applied when a flow says nothing: no restarts.
    public static let `default` = RestartPolicy(
        mode: .never,
        maxRestarts: 3,
        backoffBaseNanoseconds: 100_000_000,
        backoffMaxNanoseconds: 5_000_000_000,
        windowNanoseconds: 60_000_000_000,
        giveUp: .stopFlow
    )

    private enum CodingKeys: String, CodingKey {
        case mode = "policy"
        case maxRestarts = "max"
        case backoffBaseNanoseconds = "backoff_base_ns"
        case backoffMaxNanoseconds = "backoff_max_ns"
        case windowNanoseconds = "window_ns"
        case giveUp = "give_up"
    }
}

/// What a node does when processing one frame throws.
public enum ErrorPolicy: String, CaseIterable, Hashable, Sendable, Codable {
    /// Fail the node; its restart policy applies.
    case propagate
    /// Count the error and go on with the next frame.
    case skipFrame = "skip-frame"
    /// Count the error and emit the node's default frame instead.
    case useDefault = "use-default"
}

/// What a node does with a frame that reaches it after its deadline (its timestamp plus the edge's deadline
/// budget). Either way the frame is counted as received and as a deadline miss on its edge.
public enum LatePolicy: String, CaseIterable, Hashable, Sendable, Codable {
    /// Hand the frame to the node as usual.
    case process
    /// Do not hand it to the node; count it as a late drop on the input.
    case drop
}

/// Where a node's code comes from.
public enum ArtifactKind: String, CaseIterable, Hashable, Sendable, Codable {
    /// A node of Chronetix's standard library, run inside `chronetix-worker`.
    case builtin
    /// An external executable driven by `chronetix-worker` over its stdin and stdout.
    case process
}

/// Who starts a node's worker.
public enum NodeOrigin: String, CaseIterable, Hashable, Sendable, Codable {
    /// The coordinator spawns the worker.
    case `internal`
    /// A person (or another tool) starts the worker and attaches it by hand.
    case external
}

/// What a node is for, used to group nodes in reports and to choose defaults.
public enum NodeCategory: String, CaseIterable, Hashable, Sendable, Codable {
    /// Moves or transforms the flow's data.
    case business
    /// Observes the flow: statistics, logs, discarding sinks.
    case system
    /// Connects the flow to the outside world: files, external programs' I/O.
    case resource
}
