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
    }

    private let state: Mutex<[String: Node]>
    /// The ExecutionEvent stream, in the order things happened, until ``takeEvents()`` hands it over.
    private let events = Mutex<[ExecutionEvent]>([])
    private let run: String
    private let flow: String
    private let startNanoseconds: UInt64
    private let notifier: EventNotifier
    private let epoll: Mutex<Epoll>
    /// SIGINT and SIGTERM received so far.
    let interruptions = Atomic<Int>(0)

    init(nodes: [String], run: String = "", flow: String = "", startNanoseconds: UInt64 = Clock.monotonicNanoseconds()) throws {
        state = Mutex(Dictionary(uniqueKeysWithValues: nodes.map { ($0, Node()) }))
        self.run = run
        self.flow = flow
        self.startNanoseconds = startNanoseconds
        let notifier = try EventNotifier()
        let epoll = try Epoll(capacity: 1)
        try epoll.add(notifier.descriptor, events: .readable, data: 0)
        self.notifier = notifier
        self.epoll = Mutex(epoll)
    }

    /// A snapshot of every node.
    var nodes: [String: Node] { state.withLock { $0 } }

    /// Wakes the main loop.
    func notify() { notifier.notify() }

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
    func detached(connection: UInt64, reason: String) {
        state.withLock { nodes in
            for (id, node) in nodes where node.connection == connection { nodes[id]?.detached = reason }
        }
        notify()
    }

    /// Records a worker's lifecycle message.
    func record(_ message: WorkerMessage) {
        state.withLock { nodes in
            switch message.kind {
            case .ready: nodes[message.node]?.isReady = true
            case .report: nodes[message.node]?.report = message
            case .failed:
                nodes[message.node]?.failure = message.error ?? "failed"
                nodes[message.node]?.report = message
            }
        }
        switch message.kind {
        case .ready: log(.nodeReady, node: message.node, pid: message.pid)
        case .report: log(.nodeCompleted, node: message.node, pid: message.pid, detail: "\(message.framesIn) frames in, \(message.framesOut) out")
        case .failed: log(.nodeFailed, node: message.node, pid: message.pid, detail: message.error ?? "failed")
        }
        notify()
    }

    /// Records a failure the coordinator saw itself (a worker that exited early, say).
    func fail(_ node: String, _ text: String) {
        let first = state.withLock { nodes in
            guard nodes[node]?.failure == nil else { return false }
            nodes[node]?.failure = text
            return true
        }
        if first && !node.isEmpty { log(.nodeFailed, node: node, detail: text) }
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
