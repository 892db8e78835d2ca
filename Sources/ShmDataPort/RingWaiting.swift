import ChronetixSystem

/// The timing rules both sides of a ring wait by (docs/ring-protocol.md, "Waiting without busy-polling").
@usableFromInline
enum RingWaiting {
    /// Re-checks (with a `pause` each) before a waiting side first reads the clock: under steady traffic the
    /// other side usually moves within a few hundred nanoseconds.
    @inlinable
    static var spinsBeforeClock: Int { 64 }

    /// The longest single futex sleep, which is also how often a waiting side checks its peer's liveness.
    @inlinable
    static var livenessIntervalNanoseconds: UInt64 { 100_000_000 }

    /// The `CLOCK_MONOTONIC` time at which a wait that started at `start` gives up; `nil` waits without limit.
    static func limit(after start: UInt64, timeout: Duration?) -> UInt64? {
        guard let timeout else { return nil }
        let (seconds, attoseconds) = timeout.components
        if seconds < 0 { return start }
        return start &+ UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }

    /// How long the next futex sleep may last: the liveness interval, cut short by `limit`; `nil` when the
    /// limit has passed.
    static func sleepNanoseconds(until limit: UInt64?) -> UInt64? {
        guard let limit else { return livenessIntervalNanoseconds }
        let now = Clock.monotonicNanoseconds()
        if now >= limit { return nil }
        return min(livenessIntervalNanoseconds, limit &- now)
    }
}
