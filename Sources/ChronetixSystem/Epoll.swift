import CChronetix
import Glibc

/// An epoll instance (`epoll(7)`) and the buffer its waits fill: the readiness loop of the event bus.
///
/// Descriptors are registered by number with a 64-bit `data` value that comes back with each event (a
/// connection index, a generation). Registering does not take ownership: the caller keeps each descriptor
/// open while it is registered, and removes it (or closes it, which removes it) when done.
///
/// The event buffer is allocated once, at `init`, and read through ``event(at:)`` after ``wait(timeoutMilliseconds:)``.
/// The C shims convert glibc's packed `struct epoll_event` (12 bytes on x86-64) into the unpacked
/// `cx_epoll_event`, so no Swift code depends on how a packed C struct is imported.
// @safe: the event buffer is allocated in `init`, freed in `deinit`, never handed out, and indexed only below
// `lastCount`, which never exceeds `capacity`; `~Copyable` makes this value its only owner.
@safe
public struct Epoll: ~Copyable {
    /// The most events one wait reports.
    public let capacity: Int
    private let file: FileDescriptor
    private let events: UnsafeMutablePointer<cx_epoll_event>
    private var lastCount = 0

    /// Creates an epoll instance. Wraps `epoll_create1(2)` with `EPOLL_CLOEXEC`.
    /// - Parameter capacity: The most events one ``wait(timeoutMilliseconds:)`` reports; more ready
    ///   descriptors are reported by the next wait. Positive.
    /// - Throws: The `Errno` of `epoll_create1` (`EMFILE`, `ENOMEM`).
    public init(capacity: Int = 256) throws(Errno) {
        precondition(capacity > 0 && capacity <= Int(Int32.max), "Epoll needs a positive capacity, got \(capacity)")
        file = FileDescriptor(adopting: try SystemCall.value("epoll_create1") { cx_epoll_create() })
        self.capacity = capacity
        // Safe: a fresh allocation owned by this value, initialized at once and freed in `deinit`.
        unsafe events = UnsafeMutablePointer<cx_epoll_event>.allocate(capacity: capacity)
        unsafe events.initialize(repeating: cx_epoll_event(), count: capacity)
    }

    deinit {
        // Safe: the buffer was allocated in `init` and is freed once, here; nothing else refers to it.
        // cx_epoll_event is a trivial C struct: no deinitialization before the memory goes.
        unsafe events.deallocate()
    }

    /// Closes the epoll instance now rather than at the end of the owner's lifetime.
    public consuming func close() {}

    /// The epoll descriptor itself, for nesting it in another epoll instance or polling it.
    public var descriptor: Int32 { file.rawValue }

    /// How many events the last ``wait(timeoutMilliseconds:)`` reported.
    public var count: Int { lastCount }

    /// Starts watching `descriptor`. Wraps `epoll_ctl(2)` `EPOLL_CTL_ADD`.
    /// - Parameters:
    ///   - descriptor: An open descriptor the caller keeps open while it is registered.
    ///   - events: What to report (``Events/error`` and ``Events/hangup`` are always reported).
    ///   - data: The value reported with its events.
    /// - Throws: The `Errno` of `epoll_ctl` (`EEXIST` when it is already registered, `EPERM` for a regular file).
    public func add(_ descriptor: Int32, events: Events, data: UInt64) throws(Errno) {
        try SystemCall.nothing("epoll_ctl") {
            cx_epoll_ctl(file.rawValue, CX_EPOLL_CTL_ADD, descriptor, events.rawValue, data)
        }
    }

    /// Changes what is watched on a registered descriptor and the value reported with it. Wraps `epoll_ctl(2)`
    /// `EPOLL_CTL_MOD`; with ``Events/edgeTriggered``, a modification re-arms the edge, so a descriptor that is
    /// already ready is reported again.
    /// - Parameters:
    ///   - descriptor: A registered descriptor.
    ///   - events: What to report from now on.
    ///   - data: The value reported with its events from now on.
    /// - Throws: The `Errno` of `epoll_ctl` (`ENOENT` when it is not registered).
    public func modify(_ descriptor: Int32, events: Events, data: UInt64) throws(Errno) {
        try SystemCall.nothing("epoll_ctl") {
            cx_epoll_ctl(file.rawValue, CX_EPOLL_CTL_MOD, descriptor, events.rawValue, data)
        }
    }

    /// Stops watching `descriptor`. Wraps `epoll_ctl(2)` `EPOLL_CTL_DEL`. Closing a descriptor removes it
    /// too, unless a duplicate of it (another process's, after `fork` or `SCM_RIGHTS`) stays open: remove
    /// first, then close.
    /// - Parameter descriptor: A registered descriptor.
    /// - Throws: The `Errno` of `epoll_ctl` (`ENOENT` when it is not registered, `EBADF` when it was closed
    ///   already, which removed it: thrown, not trapped, so that a caller's best-effort removal stays one).
    public func remove(_ descriptor: Int32) throws(Errno) {
        try SystemCall.nothing("epoll_ctl", badDescriptorIsError: true) {
            cx_epoll_ctl(file.rawValue, CX_EPOLL_CTL_DEL, descriptor, 0, 0)
        }
    }

    /// Waits until a watched descriptor is ready or the timeout passes, and records the ready ones.
    ///
    /// Wraps `epoll_wait(2)`. `EINTR` is not retried but reported as 0 events, exactly like a timeout: the
    /// caller's loop checks its stop conditions and waits again (with a recomputed timeout), so a signal
    /// handler that sets a flag gets to be seen.
    /// - Parameter timeoutMilliseconds: The longest wait; 0 polls, -1 waits without limit.
    /// - Returns: How many events were recorded (0 after a timeout or a signal), at most ``capacity``; read
    ///   them with ``event(at:)``.
    /// - Throws: The `Errno` of `epoll_wait`.
    public mutating func wait(timeoutMilliseconds: Int32) throws(Errno) -> Int {
        lastCount = 0
        // Safe: `events` holds `capacity` records, and the kernel writes at most `capacity` of them.
        do {
            lastCount = Int(try SystemCall.value("epoll_wait", retryOnInterrupt: false) {
                unsafe cx_epoll_wait(file.rawValue, events, Int32(capacity), timeoutMilliseconds)
            })
        } catch .interrupted {
            return 0
        }
        return lastCount
    }

    /// One event recorded by the last ``wait(timeoutMilliseconds:)``.
    /// - Parameter index: Below the count that wait returned.
    /// - Returns: What happened and the `data` the descriptor was registered with.
    public func event(at index: Int) -> (events: Events, data: UInt64) {
        precondition(index >= 0 && index < lastCount, "Epoll.event(at: \(index)): the last wait reported \(lastCount)")
        // Safe: `index < lastCount <= capacity` (checked above); the record was written by the last wait.
        let event = unsafe events[index]
        return (Events(rawValue: event.events), event.data)
    }
}

extension Epoll {
    /// Readiness conditions, as bits of `epoll_event.events`.
    public struct Events: OptionSet, Hashable, Sendable {
        /// The bits.
        public var rawValue: UInt32

        /// Wraps bits.
        /// - Parameter rawValue: `EPOLL*` bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// `EPOLLIN`: there is something to read (data, end of file, or a connection to accept).
        public static let readable = Events(rawValue: CX_EPOLL_IN)
        /// `EPOLLOUT`: a write would not block.
        public static let writable = Events(rawValue: CX_EPOLL_OUT)
        /// `EPOLLRDHUP`: the peer shut down its writing side (or closed); reads will reach end of file.
        public static let peerClosedWriting = Events(rawValue: CX_EPOLL_RDHUP)
        /// `EPOLLHUP`: both directions are shut down (always reported, need not be asked for).
        public static let hangup = Events(rawValue: CX_EPOLL_HUP)
        /// `EPOLLERR`: an error is pending on the descriptor (always reported, need not be asked for).
        public static let error = Events(rawValue: CX_EPOLL_ERR)
        /// `EPOLLET`: report a condition once when it arises, not for as long as it holds.
        public static let edgeTriggered = Events(rawValue: CX_EPOLL_ET)
    }
}
