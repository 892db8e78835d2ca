/// The restart bookkeeping of one node under its ``RestartPolicy``: which ends restart it, after what delay,
/// and when the circuit breaker opens. Pure arithmetic on the times it is given, so that it can be tested
/// without processes or clocks.
///
/// - A **failure** (crash, hang, failure report, exit without a report) restarts the node under `on-failure`
///   and `always`. The delay is `base × 2^(n−1)`, capped at `max` of the backoff, where `n` counts the failure
///   restarts within the last `window` including this one: a node that fails again soon waits longer, one
///   that ran well for a window starts over at `base`. When `max` restarts already happened within the
///   window, the breaker opens instead (``Decision/giveUp(restartsInWindow:)``).
/// - A **completion** (the node ended by itself and reported) restarts only a source under `always`, after
///   `base`; completions do not count towards the breaker, so a source that loops runs for the whole flow.
public struct RestartTracker: Sendable {
    /// What to do after a node's worker ended.
    public enum Decision: Hashable, Sendable {
        /// Start the node again after this delay.
        case restart(afterNanoseconds: UInt64)
        /// The node's end is final: a completion, or a failure under `never`.
        case stayDown
        /// The circuit breaker opened: `restartsInWindow` restarts within the window already; the policy's
        /// ``RestartPolicy/giveUp`` applies.
        case giveUp(restartsInWindow: Int)
    }

    /// How a node's worker ended.
    public enum End: Hashable, Sendable {
        case completed
        case failed
    }

    public let policy: RestartPolicy
    /// Restarts so far, of either kind.
    public private(set) var restarts = 0
    /// When the failure restarts within the window happened (`CLOCK_MONOTONIC`), oldest first.
    private var recentFailureRestarts: [UInt64] = []

    public init(policy: RestartPolicy) {
        self.policy = policy
    }

    /// Decides what follows an end at `now`, and counts the restart when there is one.
    /// - Parameters:
    ///   - end: How the worker ended.
    ///   - isSource: Whether the node has no inputs (only sources are restarted after completing).
    ///   - now: `CLOCK_MONOTONIC` in nanoseconds.
    public mutating func decide(after end: End, isSource: Bool, now: UInt64) -> Decision {
        switch end {
        case .completed:
            guard policy.mode == .always && isSource else { return .stayDown }
            restarts += 1
            return .restart(afterNanoseconds: policy.backoffBaseNanoseconds)
        case .failed:
            guard policy.mode != .never else { return .stayDown }
            recentFailureRestarts.removeAll { now &- $0 >= policy.windowNanoseconds }
            let count = recentFailureRestarts.count
            guard count < policy.maxRestarts else { return .giveUp(restartsInWindow: count) }
            recentFailureRestarts.append(now)
            restarts += 1
            return .restart(afterNanoseconds: Self.delay(policy, restartsInWindow: count + 1))
        }
    }

    /// `base × 2^(n−1)`, capped at the backoff's `max` (and safe from overflow).
    static func delay(_ policy: RestartPolicy, restartsInWindow n: Int) -> UInt64 {
        let shift = min(max(n - 1, 0), 63)
        let base = policy.backoffBaseNanoseconds
        guard shift < base.leadingZeroBitCount else { return policy.backoffMaxNanoseconds }
        return min(base << UInt64(shift), policy.backoffMaxNanoseconds)
    }
}
