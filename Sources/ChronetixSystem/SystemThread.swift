import CChronetix
import Glibc

/// A POSIX thread that runs one closure and is joined exactly once: by ``join()``, or when the value goes
/// away. Wraps `pthread_create(3)` and `pthread_join(3)`.
///
/// Used where a library needs a thread of its own without Foundation (which a worker process does not
/// otherwise load): the bus client's writer. `~Copyable` so that the join happens once.
public struct SystemThread: ~Copyable {
    private let handle: pthread_t

    private final class Start {
        let name: String
        let body: () -> Void
        init(name: String, body: @escaping () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Starts a thread running `body`.
    /// - Parameters:
    ///   - name: The thread's name as `top` and `gdb` show it; cut to the kernel's 15 bytes.
    ///   - body: What the thread runs; the thread ends when it returns.
    /// - Throws: The `Errno` of `pthread_create` (`EAGAIN` when the process is out of threads).
    public init(name: String, _ body: @escaping @Sendable () -> Void) throws(Errno) {
        let start = unsafe Unmanaged.passRetained(Start(name: name, body: body))
        var handle = pthread_t()
        do {
            try SystemCall.returningError("pthread_create") {
                // Safe: the entry point takes back the one retain made above, exactly once.
                unsafe pthread_create(&handle, nil, { context in
                    let start = unsafe Unmanaged<Start>.fromOpaque(context!).takeRetainedValue()
                    // Best effort: a thread without a name works the same.
                    _ = unsafe cx_set_thread_name(String(decoding: start.name.utf8.prefix(15), as: UTF8.self))
                    start.body()
                    return nil
                }, start.toOpaque())
            }
        } catch {
            // The thread was not made, so its entry point never takes the retain back.
            unsafe start.release()
            throw error
        }
        self.handle = handle
    }

    /// Waits for the thread to return.
    public consuming func join() {
        joinOnce()
        discard self
    }

    deinit { joinOnce() }

    private func joinOnce() {
        // EDEADLK (joining oneself) or EINVAL would be a broken invariant of the owner.
        let result = pthread_join(handle, nil)
        precondition(result == 0, "pthread_join failed: \(Errno(rawValue: result))")
    }
}

/// A mutual-exclusion lock over `pthread_mutex_t`.
///
/// Where ThreadSanitizer must see the ordering: it intercepts `pthread_mutex_lock`, but not the futex-based
/// fast path of `Synchronization.Mutex` in the (uninstrumented) standard library, so state guarded by a
/// `Mutex` and handed between threads is reported as racing under `--sanitize=thread`.
// @unchecked Sendable: the mutex lives at a fixed heap address for the lock's lifetime, and
// `pthread_mutex_lock`/`unlock` are thread-safe by definition. @safe: the pointer never leaves the class.
@safe
public final class SystemLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    /// Creates an unlocked, default (non-recursive) mutex.
    public init() {
        unsafe mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        // Safe: initialises the memory just allocated; a default mutex cannot fail to initialise on Linux.
        let result = unsafe pthread_mutex_init(mutex, nil)
        precondition(result == 0, "pthread_mutex_init failed: \(Errno(rawValue: result))")
    }

    deinit {
        unsafe pthread_mutex_destroy(mutex)
        unsafe mutex.deallocate()
    }

    /// Runs `body` while holding the lock.
    /// - Parameter body: The critical section; it must not take this lock again.
    /// - Returns: What `body` returns.
    public func withLock<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        // EDEADLK or EINVAL cannot happen with a default mutex that is not held by this thread.
        unsafe pthread_mutex_lock(mutex)
        defer { unsafe pthread_mutex_unlock(mutex) }
        return try body()
    }
}
