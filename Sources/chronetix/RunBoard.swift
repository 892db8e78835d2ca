import ChronetixCore
import ChronetixRuntime
import ChronetixSystem
import IpcEventBus
import Synchronization

/// What the coordinator knows about each node of a run, written by the bus's hooks (on the bus thread) and
/// read by the coordinator's main loop, which ``wait(milliseconds:)`` wakes whenever something changed.
final class RunBoard: Sendable {
    struct Node {
        var attachedPID: Int32?
        var connection: UInt64?
        var isReady = false
        var report: WorkerMessage?
        var failure: String?
        /// Why the node's connection closed, if it did.
        var detached: String?
        /// Whether the bus declared the connection gone for missing its heartbeats (a hung worker).
        var missedHeartbeats = false
        /// Starts of the node so far, less one: 0 for the first worker, n after n restarts. Everything above
        /// belongs to the current start only; a predecessor's late messages are not recorded against it.
        var generation = 0
    }

    private let state: Mutex<[String: Node]>
    /// The ExecutionEvent stream, in the order things happened, until ``takeEvents()`` hands it over.
    private let events = Mutex<[ExecutionEvent]>([])
    private let run: String
    private let flow: String
    private let startNanoseconds: UInt64
    private let notifier: EventNotifier
    private let epoll: Mutex<Epoll>
    /// Interruptions so far: SIGINT, SIGTERM, SIGHUP, a standard output that closed (``interrupt(_:)``).
    let interruptions = Atomic<Int>(0)
    /// What interrupted the run first.
    private let firstInterruption = Mutex<String?>(nil)
    private let requestedDrain = Mutex<UInt64?>(nil)
    /// Why the run's bus stopped serving, if it failed (the run cannot go on without it).
    private let busFailure = Mutex<String?>(nil)

    init(nodes: [String], run: String = "", flow: String = "", startNanoseconds: UInt64 = Clock.monotonicNanoseconds()) throws {
        state = Mutex(Dictionary(uniqueKeysWithValues: nodes.map { ($0, Node()) }))
        self.run = run
        self.flow = flow
        self.startNanoseconds = startNanoseconds
        let notifier = try EventNotifier()
        let epoll = try Epoll(capacity: 16)
        try epoll.add(notifier.descriptor, events: .readable, data: 0)
        self.notifier = notifier
        self.epoll = Mutex(epoll)
    }

    /// A snapshot of every node.
    var nodes: [String: Node] { state.withLock { $0 } }

    /// Wakes the main loop.
    func notify() { notifier.notify() }

    /// Wakes the main loop when `descriptor` becomes readable too (a worker's exit descriptor). Called by the
    /// main loop's thread only, as are ``unwatch(_:)`` and ``wait(milliseconds:)``.
    func watch(_ descriptor: Int32) throws(Errno) {
        try epoll.withLock { epoll throws(Errno) in try epoll.add(descriptor, events: .readable, data: 1) }
    }

    /// Stops watching `descriptor` (before it is closed).
    func unwatch(_ descriptor: Int32) {
        epoll.withLock { epoll in try? epoll.remove(descriptor) }
    }

    /// Sleeps until something changed or `milliseconds` passed.
    func wait(milliseconds: Int32) {
        _ = epoll.withLock { epoll in try? epoll.wait(timeoutMilliseconds: milliseconds) }
        notifier.drain()
    }

    /// Claims `node` for a connection: `nil` when it was free, or the pid already holding it.
    func claim(_ node: String, pid: Int32, connection: UInt64) -> Int32? {
        let holder: Int32? = state.withLock { nodes in
            if let pid = nodes[node]?.attachedPID { return pid }
            nodes[node]?.attachedPID = pid
            nodes[node]?.connection = connection
            return nil
        }
        notify()
        return holder
    }

    /// Records a connection's end.
    func detached(connection: UInt64, reason: String, missedHeartbeats: Bool = false) {
        state.withLock { nodes in
            for (id, node) in nodes where node.connection == connection {
                nodes[id]?.detached = reason
                nodes[id]?.missedHeartbeats = missedHeartbeats
            }
        }
        notify()
    }

    /// Starts `node` over for its next worker: everything known about the previous one is forgotten (the
    /// coordinator keeps what it needs), and the node may be claimed again.
    func restart(_ node: String) {
        state.withLock { nodes in
            guard let old = nodes[node] else { return }
            var fresh = Node()
            fresh.generation = old.generation + 1
            nodes[node] = fresh
        }
        notify()
    }

    /// The restarts of `node` so far (its generation).
    func restartCount(of node: String) -> Int {
        state.withLock { $0[node]?.generation ?? 0 }
    }

    /// Records a worker's lifecycle message, if `connection` is the node's current one: a message from a
    /// predecessor (sent before it died, handled after its replacement attached) is not the replacement's.
    /// - Returns: Whether it was recorded.
    @discardableResult
    func record(_ message: WorkerMessage, connection: UInt64) -> Bool {
        let current = state.withLock { nodes in
            guard nodes[message.node]?.connection == connection else { return false }
            switch message.kind {
            case .ready: nodes[message.node]?.isReady = true
            case .report: nodes[message.node]?.report = message
            case .failed:
                nodes[message.node]?.failure = message.error ?? "failed"
                nodes[message.node]?.report = message
            }
            return true
        }
        guard current else { return false }
        switch message.kind {
        case .ready: log(.nodeReady, node: message.node, pid: message.pid)
        case .report: log(.nodeCompleted, node: message.node, pid: message.pid, detail: "\(message.framesIn) frames in, \(message.framesOut) out")
        case .failed: log(.nodeFailed, node: message.node, pid: message.pid, detail: message.error ?? "failed")
        }
        notify()
        return true
    }

    /// Records an interruption (a stop asked for from outside) and wakes the main loop: the first stops the
    /// run gracefully, the second cuts what still runs.
    /// - Parameter cause: What it was, for the stop's record (`SIGINT`, `SIGHUP`, `standard output closed`).
    func interrupt(_ cause: String) {
        firstInterruption.withLock { $0 = $0 ?? cause }
        interruptions.add(1, ordering: .relaxed)
        notify()
    }

    /// What interrupted the run first, if anything did.
    var interruptionCause: String? { firstInterruption.withLock { $0 } }

    /// A stop asked for over the bus (`chronetix stop`): as an interruption, with its own drain timeout.
    func requestStop(cause: String, drainTimeoutNanoseconds: UInt64?) {
        if let drainTimeoutNanoseconds { requestedDrain.withLock { $0 = $0 ?? drainTimeoutNanoseconds } }
        interrupt(cause)
    }

    /// The drain timeout a stop request asked for, if one did.
    var requestedDrainTimeout: UInt64? { requestedDrain.withLock { $0 } }

    /// Where the run is, for status requests: 0 starting, 1 running, 2 stopping (written by the main loop).
    let phase = Atomic<UInt8>(0)

    /// Records that the bus failed: the run stops.
    func busFailed(_ text: String) {
        busFailure.withLock { $0 = $0 ?? text }
        notify()
    }

    /// Why the bus failed, if it did.
    var busFailureReason: String? { busFailure.withLock { $0 } }

    /// Records a failure the coordinator saw itself (a worker that exited early, say).
    func fail(_ node: String, _ text: String, pid: Int32? = nil) {
        let first = state.withLock { nodes in
            guard nodes[node]?.failure == nil else { return false }
            nodes[node]?.failure = text
            return true
        }
        if first { log(.nodeFailed, node: node, pid: pid, detail: text) }
        notify()
    }

    // MARK: - The ExecutionEvent stream

    /// Adds an event, stamped now.
    func log(_ kind: ExecutionEvent.Kind, node: String? = nil, pid: Int32? = nil, detail: String? = nil) {
        let event = ExecutionEvent(
            kind: kind, run: run, flow: flow, node: node, timeNanoseconds: Clock.realtimeNanoseconds(),
            elapsedNanoseconds: Clock.monotonicNanoseconds() &- startNanoseconds, pid: pid, detail: detail
        )
        events.withLock { $0.append(event) }
    }

    /// The events since the last call, oldest first.
    func takeEvents() -> [ExecutionEvent] {
        events.withLock { events in
            defer { events.removeAll() }
            return events
        }
    }
}
