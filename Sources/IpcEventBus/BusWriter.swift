internal import ChronetixCBOR
internal import ChronetixSystem

/// The sending half of a ``BusClient`` that writes on a thread of its own (``BusClient/Configuration/sending``
/// `.onThread`).
///
/// Callers encode each message into a staging buffer under a lock and return; the writer thread swaps the
/// staging buffer for its own (empty) one and writes all it took in one `send`. So while the thread is busy
/// writing, the messages published meanwhile gather and leave together on its next turn (batching under
/// load, as NATS's flusher and ZeroMQ's I/O thread do), and a message published to an idle writer leaves at
/// once. The thread sends a heartbeat whenever nothing else went out for the heartbeat interval, so the
/// bus hears from the client even while the client's own thread is busy elsewhere (a worker inside its
/// node).
///
/// Bounds: the staging buffer holds at most `stagingLimit` bytes; a caller that would exceed it waits for
/// the thread to take the buffer, for at most the silence limit, then gets `.timedOut`. Nothing is dropped.
///
/// Wake-ups: the thread sleeps on an eventfd only after it found the staging buffer empty and said so under
/// the lock (`writerIsAsleep`); a caller that appends then notifies it, so no message waits for a timeout,
/// and a busy writer costs its callers no system call at all.
// @unchecked Sendable: `state` and `staging` are touched only while `lock` is held (a pthread mutex, so that
// ThreadSanitizer sees the ordering); `writing` is the
// writer thread's alone; `wake` and `progress` are eventfds (thread-safe); `socket` is
// immutable and written by the writer thread alone; `epoll` and `progressEpoll` are each used by one
// thread only (the writer's, and the one client thread, which is the only caller).
final class BusWriter: @unchecked Sendable {
    private struct State {
        /// The writer thread found nothing to send and is about to sleep on `wake`.
        var writerIsAsleep = false
        /// The writer thread holds taken bytes it has not finished writing.
        var writerHoldsBytes = false
        /// A caller waits on `progress` for the writer to take the staging buffer or to finish.
        var callerIsWaiting = false
        /// Why the writer stopped, when it failed; every later call throws it.
        var failure: BusError?
        var isStopping = false
    }

    private let lock = SystemLock()
    /// Guarded by `lock`.
    private var state = State()
    /// What callers queued and the writer has not taken; guarded by `lock`.
    private var staging: OutboundBuffer
    /// What the writer took and is writing; the writer thread's alone.
    private var writing: OutboundBuffer
    private let wake: EventNotifier
    private let progress: EventNotifier
    private let socket: FileDescriptor
    private var epoll: Epoll
    private var progressEpoll: Epoll
    private let stagingLimit: Int
    private let maxFrameBytes: Int
    private let heartbeatInterval: UInt64
    private let silenceLimit: UInt64
    private let busyPoll: UInt64
    /// Whether the host is stopped (SIGSTOP, Ctrl-Z): a full socket then waits for it to go on.
    private let hostIsStopped: @Sendable () -> Bool
    private var thread: SystemThread?

    /// Starts the writer thread.
    /// - Parameters:
    ///   - socket: The connection; the writer writes a duplicate of it and never reads.
    ///   - maxFrameBytes: The largest message the bus accepts.
    ///   - heartbeatInterval: Silence after which the writer sends a heartbeat, in nanoseconds.
    ///   - silenceLimit: How long a write may wait for the bus to take bytes, in nanoseconds.
    ///   - busyPoll: How long the writer looks for more work before it sleeps, in nanoseconds.
    ///   - stagingLimit: The most bytes callers may queue ahead of the writer.
    ///   - hostIsStopped: Whether the host is stopped rather than gone (asked when the socket stayed full
    ///     for `silenceLimit`).
    init(
        socket: borrowing FileDescriptor,
        maxFrameBytes: Int,
        heartbeatInterval: UInt64,
        silenceLimit: UInt64,
        busyPoll: UInt64,
        stagingLimit: Int = 4 << 20,
        hostIsStopped: @escaping @Sendable () -> Bool = { false }
    ) throws(BusError) {
        do {
            self.socket = try socket.duplicate()
            wake = try EventNotifier()
            progress = try EventNotifier()
            epoll = try Epoll(capacity: 2)
            progressEpoll = try Epoll(capacity: 1)
            try epoll.add(wake.descriptor, events: .readable, data: 0)
            try epoll.add(self.socket.rawValue, events: [], data: 1)
            try progressEpoll.add(progress.descriptor, events: .readable, data: 0)
        } catch {
            throw BusError(.systemCall, "cannot set up the bus client's writer thread", cause: SystemCallError("eventfd/epoll", nil, error))
        }
        staging = OutboundBuffer(maxFrameBytes: maxFrameBytes)
        writing = OutboundBuffer(maxFrameBytes: maxFrameBytes)
        self.maxFrameBytes = maxFrameBytes
        self.heartbeatInterval = heartbeatInterval
        self.silenceLimit = silenceLimit
        self.busyPoll = busyPoll
        self.stagingLimit = stagingLimit
        self.hostIsStopped = hostIsStopped
        do {
            thread = try SystemThread(name: "chronetix-bus-tx") { [self] in run() }
        } catch {
            throw BusError(.systemCall, "cannot start the bus client's writer thread", cause: SystemCallError("pthread_create", nil, error))
        }
    }

    // MARK: - The caller's side

    /// Queues one message for the writer; waits only when the staging buffer is full.
    /// - Parameter body: Writes exactly one CBOR message.
    /// - Throws: `.messageTooLarge` (nothing queued), the writer's failure, or `.timedOut` when the bus took
    ///   nothing for the silence limit while the buffer was full.
    func enqueue(_ body: (inout CBORWriter) -> Void) throws(BusError) {
        var deadline: UInt64 = 0
        while true {
            var mustWake = false
            let queued: Result<Bool, BusError> = lock.withLock {
                if let failure = state.failure { return .failure(failure) }
                if state.isStopping { return .failure(BusError(.disconnected, "the client closed the connection")) }
                if staging.pendingByteCount >= stagingLimit {
                    state.callerIsWaiting = true
                    return .success(false)
                }
                do throws(BusError) {
                    try staging.appendFrame(body)
                } catch {
                    return .failure(error)
                }
                if state.writerIsAsleep {
                    state.writerIsAsleep = false
                    mustWake = true
                }
                return .success(true)
            }
            if mustWake { wake.notify() }
            if try queued.get() { return }
            if deadline == 0 { deadline = Clock.monotonicNanoseconds() + silenceLimit }
            try waitForProgress(until: deadline, what: "the bus took no bytes for \(silenceLimit / 1_000_000) ms")
        }
    }

    /// Waits until the writer has written everything queued before the call.
    /// - Parameter deadline: A monotonic time in nanoseconds.
    /// - Throws: The writer's failure, or `.timedOut` at `deadline`.
    func drain(until deadline: UInt64) throws(BusError) {
        while true {
            let outcome: Result<Bool, BusError> = lock.withLock {
                if let failure = state.failure { return .failure(failure) }
                if staging.isEmpty && !state.writerHoldsBytes { return .success(true) }
                state.callerIsWaiting = true
                return .success(false)
            }
            if try outcome.get() { return }
            try waitForProgress(until: deadline, what: "the bus took no bytes before the deadline")
        }
    }

    /// The writer's failure, if it stopped on one.
    var failure: BusError? { lock.withLock { state.failure } }

    /// Writes what is queued (for at most `deadline`), then ends the thread and waits for it.
    func stop(drainingUntil deadline: UInt64) {
        try? drain(until: deadline)  // best effort: closing goes ahead whether or not the bus took everything
        lock.withLock { state.isStopping = true }
        wake.notify()
        thread.take()?.join()
    }

    private func waitForProgress(until deadline: UInt64, what: String) throws(BusError) {
        let now = Clock.monotonicNanoseconds()
        guard now < deadline else { throw BusError(.timedOut, what) }
        let milliseconds = Clock.epollMilliseconds(from: now, until: deadline)
        do {
            if try progressEpoll.wait(timeoutMilliseconds: milliseconds) > 0 { progress.drain() }
        } catch {
            throw BusError(.systemCall, "epoll_wait", cause: SystemCallError("epoll_wait", nil, error))
        }
    }

    // MARK: - The writer thread

    private func run() {
        var lastSent = Clock.monotonicNanoseconds()
        var pollUntil = lastSent + busyPoll
        var hostSeenStopped: UInt64 = 0
        var hostWasStopped = false
        var isWatchingWritable = false
        while true {
            let now = Clock.monotonicNanoseconds()
            let mayPoll = now < pollUntil
            var tellCaller = false
            let isStopping: Bool = lock.withLock {
                if writing.isEmpty && !staging.isEmpty {
                    swap(&staging, &writing)
                    tellCaller = state.callerIsWaiting
                }
                state.writerHoldsBytes = !writing.isEmpty
                if writing.isEmpty {
                    tellCaller = state.callerIsWaiting
                    if !mayPoll { state.writerIsAsleep = true }
                }
                if tellCaller { state.callerIsWaiting = false }
                return state.isStopping
            }
            if tellCaller { progress.notify() }
            if !writing.isEmpty {
                let isDrained: Bool
                do {
                    isDrained = try writing.flush(to: socket)
                } catch {
                    return fail(BusError(.disconnected, "cannot write to the bus", cause: SystemCallError("send", nil, error)))
                }
                if isDrained {
                    lastSent = Clock.monotonicNanoseconds()
                    pollUntil = lastSent + busyPoll
                    continue
                }
                // The socket is full: wait for room (or for the bus to fall silent); when stopping, the
                // caller has waited as long as it would.
                if isStopping { return }
                // A stopped host is not a gone one: while it is stopped it is looked at every heartbeat
                // interval, and once it goes on, the silence counts from the last time it was seen stopped.
                let quietSince = max(lastSent, hostSeenStopped)
                if now - quietSince >= silenceLimit || hostWasStopped {
                    hostWasStopped = hostIsStopped()
                    if hostWasStopped {
                        hostSeenStopped = now
                    } else if now - quietSince >= silenceLimit {
                        return fail(BusError(.timedOut, "the bus took no bytes for \(silenceLimit / 1_000_000) ms"))
                    }
                }
                if !isWatchingWritable {
                    guard watch(writable: true) else { return }
                    isWatchingWritable = true
                }
                let until = hostWasStopped ? now + heartbeatInterval : max(lastSent, hostSeenStopped) + silenceLimit
                guard sleep(milliseconds: Clock.epollMilliseconds(from: now, until: until)) else { return }
                continue
            }
            if isWatchingWritable {
                guard watch(writable: false) else { return }
                isWatchingWritable = false
            }
            if isStopping { return }
            if now - lastSent >= heartbeatInterval {
                // Cannot fail: a heartbeat is far below any message limit.
                _ = try? writing.appendFrame { writer in BusWire.writeIntegers(.heartbeat, now, into: &writer) }
                continue
            }
            if mayPoll {
                CPU.yield()
                continue
            }
            guard sleep(milliseconds: Clock.epollMilliseconds(from: now, until: lastSent + heartbeatInterval)) else { return }
            lock.withLock { state.writerIsAsleep = false }
            pollUntil = Clock.monotonicNanoseconds() + busyPoll
        }
    }

    /// Sleeps on the eventfd (and the socket, when watched); whether the thread may go on.
    private func sleep(milliseconds: Int32) -> Bool {
        do {
            if try epoll.wait(timeoutMilliseconds: milliseconds) > 0 { wake.drain() }
            return true
        } catch {
            fail(BusError(.systemCall, "epoll_wait", cause: SystemCallError("epoll_wait", nil, error)))
            return false
        }
    }

    private func watch(writable: Bool) -> Bool {
        do {
            try epoll.modify(socket.rawValue, events: writable ? .writable : [], data: 1)
            return true
        } catch {
            fail(BusError(.systemCall, "epoll_ctl", cause: SystemCallError("epoll_ctl", nil, error)))
            return false
        }
    }

    private func fail(_ error: BusError) {
        let tellCaller: Bool = lock.withLock {
            if state.failure == nil { state.failure = error }
            state.writerHoldsBytes = false
            defer { state.callerIsWaiting = false }
            return state.callerIsWaiting
        }
        if tellCaller { progress.notify() }
    }

}
