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
            let pointer = unsafe word.assumingMemoryBound(to: UInt32.self)
            return Int(try SystemCall.value("futex") { unsafe cx_futex_wake(pointer, count) })
        } catch {
            // FUTEX_WAKE fails only for a bad address or operation: a broken invariant of the caller.
            preconditionFailure("futex(FUTEX_WAKE) failed: \(error)")
        }
    }
}
