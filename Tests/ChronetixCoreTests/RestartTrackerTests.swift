import ChronetixCore
import Testing

/// Which ends restart a node, after what delay, and when the circuit breaker opens.
struct RestartTrackerTests {
    private static let ms: UInt64 = 1_000_000
    private func policy(_ mode: RestartMode, max: Int = 3, window: UInt64 = 60_000 * ms) -> RestartPolicy {
        RestartPolicy(mode: mode, maxRestarts: max, backoffBaseNanoseconds: 100 * Self.ms, backoffMaxNanoseconds: 350 * Self.ms, windowNanoseconds: window)
    }

    @Test func neverRestartsNothing() {
        var tracker = RestartTracker(policy: policy(.never))
        #expect(tracker.decide(after: .failed, isSource: true, now: 0) == .stayDown)
        #expect(tracker.decide(after: .completed, isSource: true, now: 0) == .stayDown)
        #expect(tracker.restarts == 0)
    }

    @Test func failuresBackOffExponentiallyUpToTheMaximumThenOpenTheBreaker() {
        var tracker = RestartTracker(policy: policy(.onFailure))
        #expect(tracker.decide(after: .failed, isSource: false, now: 1 * Self.ms) == .restart(afterNanoseconds: 100 * Self.ms))
        #expect(tracker.decide(after: .failed, isSource: false, now: 2 * Self.ms) == .restart(afterNanoseconds: 200 * Self.ms))
        #expect(tracker.decide(after: .failed, isSource: false, now: 3 * Self.ms) == .restart(afterNanoseconds: 350 * Self.ms))
        #expect(tracker.decide(after: .failed, isSource: false, now: 4 * Self.ms) == .giveUp(restartsInWindow: 3))
        #expect(tracker.restarts == 3)
    }

    @Test func restartsOlderThanTheWindowNoLongerCount() {
        var tracker = RestartTracker(policy: policy(.onFailure, max: 2, window: 1_000 * Self.ms))
        #expect(tracker.decide(after: .failed, isSource: false, now: 0) == .restart(afterNanoseconds: 100 * Self.ms))
        #expect(tracker.decide(after: .failed, isSource: false, now: 500 * Self.ms) == .restart(afterNanoseconds: 200 * Self.ms))
        // The first restart left the window: one within it, so the delay is the second step's and not a give-up.
        #expect(tracker.decide(after: .failed, isSource: false, now: 1_200 * Self.ms) == .restart(afterNanoseconds: 200 * Self.ms))
        #expect(tracker.decide(after: .failed, isSource: false, now: 1_300 * Self.ms) == .giveUp(restartsInWindow: 2))
        // Long after: the breaker's count starts over, at the base delay.
        #expect(tracker.decide(after: .failed, isSource: false, now: 10_000 * Self.ms) == .restart(afterNanoseconds: 100 * Self.ms))
        #expect(tracker.restarts == 4)
    }

    @Test func maxZeroGivesUpAtTheFirstFailure() {
        var tracker = RestartTracker(policy: policy(.always, max: 0))
        #expect(tracker.decide(after: .failed, isSource: true, now: 0) == .giveUp(restartsInWindow: 0))
    }

    @Test func onlySourcesUnderAlwaysRestartAfterCompleting() {
        var onFailure = RestartTracker(policy: policy(.onFailure))
        #expect(onFailure.decide(after: .completed, isSource: true, now: 0) == .stayDown)
        var always = RestartTracker(policy: policy(.always, max: 1))
        #expect(always.decide(after: .completed, isSource: false, now: 0) == .stayDown)
        // Completions do not count towards the breaker.
        for step in 1...5 {
            #expect(always.decide(after: .completed, isSource: true, now: UInt64(step) * Self.ms) == .restart(afterNanoseconds: 100 * Self.ms))
        }
        #expect(always.decide(after: .failed, isSource: true, now: 6 * Self.ms) == .restart(afterNanoseconds: 100 * Self.ms))
        #expect(always.restarts == 6)
    }

    @Test func hugeBaseDelaysDoNotOverflow() {
        let policy = RestartPolicy(mode: .onFailure, maxRestarts: 100, backoffBaseNanoseconds: 1 << 40, backoffMaxNanoseconds: .max, windowNanoseconds: .max)
        var tracker = RestartTracker(policy: policy)
        var last: UInt64 = 0
        for step in 0..<40 {
            guard case .restart(let delay) = tracker.decide(after: .failed, isSource: false, now: UInt64(step)) else {
                Issue.record("expected a restart")
                return
            }
            #expect(delay >= last)
            last = delay
        }
        #expect(last == .max)
    }
}
