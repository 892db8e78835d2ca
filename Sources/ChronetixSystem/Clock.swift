import Glibc

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

    /// Sleeps until `CLOCK_MONOTONIC` reaches `deadline`. Wraps `clock_nanosleep(2)` with `TIMER_ABSTIME`;
    /// retries `EINTR` (an absolute sleep resumes by repeating the same call).
    /// - Parameter deadline: When to return, in monotonic nanoseconds; a past one returns at once.
    /// - Throws: The `Errno` of `clock_nanosleep` (`EINVAL`).
    public static func sleep(untilMonotonicNanoseconds deadline: UInt64) throws(Errno) {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        // Safe: `time` is a local that outlives the call; no remainder is asked for (nil).
        try SystemCall.returningError("clock_nanosleep") {
            unsafe clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &time, nil)
        }
    }

    /// Sleeps for at least `nanoseconds` of `CLOCK_MONOTONIC` (``sleep(untilMonotonicNanoseconds:)`` from now).
    /// For the short pauses of polling loops; a sleep cannot fail for a valid deadline.
    /// - Parameter nanoseconds: How long.
    public static func sleep(nanoseconds: UInt64) {
        let (deadline, overflow) = monotonicNanoseconds().addingReportingOverflow(nanoseconds)
        // EINVAL needs a negative or out-of-range time, which a deadline below UInt64.max is not.
        do { try sleep(untilMonotonicNanoseconds: overflow ? UInt64(Int.max) : deadline) } catch {
            preconditionFailure("clock_nanosleep failed: \(error)")
        }
    }

    /// `CLOCK_REALTIME` in nanoseconds since the Unix epoch, for reports people read.
    public static func realtimeNanoseconds() -> UInt64 {
        var now = timespec()
        _ = unsafe clock_gettime(CLOCK_REALTIME, &now)  // cannot fail for a valid clock id and pointer
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}
