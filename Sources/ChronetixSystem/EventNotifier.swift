import CChronetix
import Glibc

/// An eventfd (`eventfd(2)`): a counter in the kernel that any thread can bump to wake an epoll loop.
///
/// Register ``descriptor`` with ``Epoll`` for ``Epoll/Events/readable``; another thread calls ``notify()``,
/// and the loop, once woken, calls ``drain()``. Notifications before a drain coalesce into one wake-up.
///
/// `Sendable` because the only stored value is the descriptor number, set once in `init` and never changed,
/// and `write(2)`/`read(2)` on an eventfd are atomic in the kernel: any number of threads may notify while the
/// loop drains. `~Copyable` so that the descriptor is closed exactly once; share it between threads by
/// reference (a class or a global that owns it).
public struct EventNotifier: ~Copyable, Sendable {
    /// The eventfd descriptor, to register with epoll; owned by this value.
    public let descriptor: Int32

    /// Creates an eventfd with a zero counter. Wraps `eventfd(2)` with `EFD_NONBLOCK | EFD_CLOEXEC`.
    /// - Throws: The `Errno` of `eventfd` (`EMFILE`, `ENFILE`, `ENOMEM`).
    public init() throws(Errno) {
        descriptor = try SystemCall.value("eventfd") { cx_eventfd() }
    }

    deinit { FileDescriptor(adopting: descriptor).close() }

    /// Closes the eventfd now rather than at the end of the owner's lifetime.
    public consuming func close() {}

    /// Makes the descriptor readable, waking a loop that waits on it. Wraps `write(2)` of the value 1;
    /// `EAGAIN` (the counter is at its maximum, so a wake-up is pending anyway) is success, and `EINTR` is
    /// retried. Never blocks.
    public func notify() {
        var one: UInt64 = 1
        do {
            // Safe: `write` reads the 8 bytes of `one`, which lives across the call.
            _ = try SystemCall.value("write") { unsafe Glibc.write(descriptor, &one, MemoryLayout<UInt64>.size) }
        } catch {
            // EINVAL: the descriptor is not this eventfd any more, a broken invariant (EBADF traps in SystemCall).
            precondition(error == .wouldBlock, "write(eventfd \(descriptor)) failed: \(error)")
        }
    }

    /// Resets the counter, so the descriptor is no longer readable. Wraps `read(2)`; `EAGAIN` (nothing
    /// pending) is reported as 0, and `EINTR` is retried. Never blocks.
    /// - Returns: How many notifications were pending (summed), 0 when none was.
    @discardableResult
    public func drain() -> UInt64 {
        var value: UInt64 = 0
        do {
            // Safe: `read` fills the 8 bytes of `value`, which lives across the call.
            _ = try SystemCall.value("read") { unsafe Glibc.read(descriptor, &value, MemoryLayout<UInt64>.size) }
        } catch {
            // EINVAL: the descriptor is not this eventfd any more, a broken invariant (EBADF traps in SystemCall).
            precondition(error == .wouldBlock, "read(eventfd \(descriptor)) failed: \(error)")
            return 0
        }
        return value
    }
}
