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
    private let notifier: EventNotifier
    private let epoll: Mutex<Epoll>
    /// SIGINT and SIGTERM received so far.
    let interruptions = Atomic<Int>(0)

    init(nodes: [String]) throws {
        state = Mutex(Dictionary(uniqueKeysWithValues: nodes.map { ($0, Node()) }))
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
        notify()
    }

    /// Records a failure the coordinator saw itself (a worker that exited early, say).
    func fail(_ node: String, _ text: String) {
        state.withLock { nodes in
            if nodes[node]?.failure == nil { nodes[node]?.failure = text }
        }
        notify()
    }
}
