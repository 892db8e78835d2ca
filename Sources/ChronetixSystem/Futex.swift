import CChronetix
import Glibc

/// Shared futex words (`futex(2)` without `FUTEX_PRIVATE_FLAG`), so a waiter and a waker may be in
/// different processes that map the same memory.
public enum Futex {
    /// How a wait ended.
    public enum WaitResult: Sendable, Hashable {
        /// Woken, or the word no longer held the expected value; the caller re-checks its condition.
        case woken
        /// The timeout ran out.
        case timedOut
        /// A signal interrupted the wait.
        case interrupted
    }

    /// Sleeps while the 32-bit word at `word` equals `expected`. Wraps `futex(2)` `FUTEX_WAIT`
    /// (shared); `EAGAIN` (the word already differed) is reported as `.woken`, `EINTR` as `.interrupted`
    /// and is not retried: the caller's loop re-checks its condition either way.
    /// - Parameters:
    ///   - word: The address of a 4-byte aligned word in shared memory.
    ///   - expected: The value the caller saw; the kernel sleeps only if the word still holds it.
    ///   - timeoutNanoseconds: The longest sleep; `nil` sleeps until woken.
    /// - Returns: How the wait ended.
    /// - Warning: `word` must stay mapped for the whole call.
    public static func wait(
        on word: UnsafeMutableRawPointer,
        expected: UInt32,
        timeoutNanoseconds: UInt64?
    ) -> WaitResult {
        let pointer = unsafe word.assumingMemoryBound(to: UInt32.self)
        var timeout = timespec(
            tv_sec: Int((timeoutNanoseconds ?? 0) / 1_000_000_000),
            tv_nsec: Int((timeoutNanoseconds ?? 0) % 1_000_000_000)
        )
        do {
            // The shim reports EAGAIN (the word already differed) as 0. Safe: `timeout` lives for the call.
            _ = try SystemCall.value("futex", retryOnInterrupt: false) {
                timeoutNanoseconds == nil
                    ? unsafe cx_futex_wait(pointer, expected, nil) : unsafe cx_futex_wait(pointer, expected, &timeout)
            }
            return .woken
        } catch .timedOut {
            return .timedOut
        } catch .interrupted {
            return .interrupted
        } catch {
            // EINVAL: the word is not aligned, a broken invariant of the caller (EFAULT traps in SystemCall).
            preconditionFailure("futex(FUTEX_WAIT) failed: \(error)")
        }
    }

    /// Wakes up to `count` processes sleeping on `word`. Wraps `futex(2)` `FUTEX_WAKE` (shared).
    /// - Parameters:
    ///   - word: The address of the futex word.
    ///   - count: The most waiters to wake (`Int32.max` for all).
    /// - Returns: How many were woken.
    /// - Warning: `word` must stay mapped for the whole call.
    @discardableResult
    public static func wake(on word: UnsafeMutableRawPointer, count: Int32) -> Int {
        do {
            return Int(try SystemCall.value("futex") { unsafe cx_futex_wake(word.assumingMemoryBound(to: UInt32.self), count) })
        } catch {
            // FUTEX_WAKE fails only for a bad address or operation: a broken invariant of the caller.
            preconditionFailure("futex(FUTEX_WAKE) failed: \(error)")
        }
    }
}

/// Clocks read through `clock_gettime(2)` (a vDSO call: no system call on x86-64).
public enum Clock {
    /// `CLOCK_MONOTONIC` in nanoseconds: the clock shared by every process on the host, used for frame
    /// timestamps, deadlines and benchmark intervals.
    public static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        _ = unsafe clock_gettime(CLOCK_MONOTONIC, &now)  // cannot fail for a valid clock id and pointer
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    /// A duration in whole nanoseconds; negative durations are 0.
    public static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// An `epoll_wait` timeout from `now` to `deadline` (monotonic nanoseconds): whole milliseconds rounded
    /// up, at most 60 s (the caller loops), 0 when the deadline has passed, -1 (forever) for `UInt64.max`.
    public static func epollMilliseconds(from now: UInt64, until deadline: UInt64) -> Int32 {
        guard deadline > now else { return 0 }
        if deadline == UInt64.max { return -1 }
        return Int32(min((deadline - now + 999_999) / 1_000_000, 60_000))
    }

    /// `CLOCK_REALTIME` in nanoseconds since the Unix epoch, for reports people read.
    public static func realtimeNanoseconds() -> UInt64 {
        var now = timespec()
        _ = unsafe clock_gettime(CLOCK_REALTIME, &now)  // cannot fail for a valid clock id and pointer
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}

/// CPU hints for spin-waiting.
public enum CPU {
    /// Tells the core that this thread is spin-waiting (`pause` on x86-64), which saves power and lets the
    /// sibling hyper-thread run.
    public static func relax() { cx_cpu_relax() }

    /// Offers the CPU to another runnable thread (`sched_yield(2)`); returns at once when there is none.
    public static func yield() { _ = sched_yield() }

    /// Pins the calling thread to one CPU. Wraps `sched_setaffinity(2)`. Used by benchmarks.
    /// - Parameter cpu: The CPU number.
    /// - Throws: The `Errno` of `sched_setaffinity`.
    public static func pinCurrentThread(to cpu: Int) throws(Errno) {
        try SystemCall.nothing("sched_setaffinity") { cx_pin_to_cpu(Int32(cpu)) }
    }

    /// The number of CPUs online (`sysconf(_SC_NPROCESSORS_ONLN)`).
    public static var onlineCount: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
}
