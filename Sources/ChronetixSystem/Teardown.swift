import Glibc

/// How to end a process that is asked to stop, written once as data: the signals to send and how long each gets
/// before the next step, then `SIGKILL` (as swift-subprocess's `TeardownStep`).
///
/// ```swift
/// // Up to 5 s to end on its own, SIGTERM, up to 1 s more, then SIGKILL.
/// let teardown = Teardown([.wait(.seconds(5)), .send(.terminate, allowedDurationToNextStep: .seconds(1))])
/// let outcome = try teardown.perform(on: child)
/// ```
public struct Teardown: Hashable, Sendable {
    /// One step: a signal to send (or none), then the time the process gets to end before the next step.
    public struct Step: Hashable, Sendable {
        /// The signal sent when the step starts; `nil` only waits.
        public var signal: Signal?
        /// How long the process gets to end before the next step.
        public var allowedDurationToNextStep: Duration

        /// Sends `signal`, then gives the process `allowedDurationToNextStep` to end.
        /// - Parameters:
        ///   - signal: The signal.
        ///   - allowedDurationToNextStep: The time before the next step.
        /// - Returns: The step.
        public static func send(_ signal: Signal, allowedDurationToNextStep: Duration) -> Step {
            Step(signal: signal, allowedDurationToNextStep: allowedDurationToNextStep)
        }

        /// Sends nothing and gives the process `duration` to end on its own (a grace period).
        /// - Parameter duration: The time before the next step.
        /// - Returns: The step.
        public static func wait(_ duration: Duration) -> Step {
            Step(signal: nil, allowedDurationToNextStep: duration)
        }
    }

    /// The steps, in order; ``Signal/kill`` follows the last.
    public var steps: [Step]

    /// A teardown of these steps, then `SIGKILL`.
    /// - Parameter steps: The steps.
    public init(_ steps: [Step]) { self.steps = steps }

    /// `SIGTERM`, up to `allowedDuration` to end, then `SIGKILL`.
    /// - Parameter allowedDuration: The time `SIGTERM` gets.
    /// - Returns: The teardown.
    public static func gracefulShutDown(allowedDuration: Duration) -> Teardown {
        Teardown([.send(.terminate, allowedDurationToNextStep: allowedDuration)])
    }

    /// How a teardown ended.
    public struct Outcome: Hashable, Sendable {
        /// An outcome from its fields.
        /// - Parameters:
        ///   - termination: How the process ended.
        ///   - lastSignalSent: The last signal sent.
        public init(termination: ChildProcess.Termination, lastSignalSent: Signal?) {
            self.termination = termination
            self.lastSignalSent = lastSignalSent
        }

        /// How the process ended.
        public var termination: ChildProcess.Termination
        /// The last signal the teardown sent before the process ended (``Signal/kill`` when it got that far),
        /// `nil` when it ended within the first steps' waits, before any signal.
        public var lastSignalSent: Signal?
    }

    /// Performs the steps on a process, or on a set of them, through the caller's own operations: the
    /// general form, for a caller that reaps its children itself (the coordinator's board).
    /// - Parameters:
    ///   - send: Sends a signal to whatever has not ended yet.
    ///   - hasEnded: Whether everything has ended.
    ///   - pause: Waits a little (and reaps) before `hasEnded` is asked again.
    /// - Returns: The last signal sent: ``Signal/kill`` when the steps ran out, which is sent then, and `nil`
    ///   when everything ended before any signal.
    /// - Throws: What `pause` throws; the teardown stops there.
    @discardableResult
    public func perform<Failure: Error>(
        send: (Signal) -> Void,
        hasEnded: () -> Bool,
        pause: () throws(Failure) -> Void
    ) throws(Failure) -> Signal? {
        var last: Signal?
        for step in steps {
            if let signal = step.signal {
                send(signal)
                last = signal
            }
            // Saturating: a duration too long to add waits without limit rather than not at all.
            let (sum, overflow) = Clock.monotonicNanoseconds().addingReportingOverflow(
                Clock.nanoseconds(step.allowedDurationToNextStep)
            )
            let deadline = overflow ? UInt64.max : sum
            while !hasEnded() && Clock.monotonicNanoseconds() < deadline { try pause() }
            if hasEnded() { return last }
        }
        send(.kill)
        return .kill
    }

    /// Performs the steps on a child process (to the child alone, or with `toGroup` to its whole process group)
    /// and reaps it: polls it every 2 ms (`waitpid(2)` with `WNOHANG`), and after `SIGKILL` waits without limit.
    /// - Parameters:
    ///   - child: A child not yet reaped.
    ///   - toGroup: Whether the signals go to the child's process group (``ChildProcess/sendToGroup(signal:)``).
    /// - Returns: How the child ended and the last signal it was sent.
    /// - Throws: The `Errno` of `waitpid` (`ECHILD` when it was reaped elsewhere).
    public func perform(on child: ChildProcess, toGroup: Bool = false) throws(Errno) -> Outcome {
        var termination: ChildProcess.Termination?
        var failure: Errno?
        let last = perform(
            send: { signal in
                if toGroup { child.sendToGroup(signal: signal) } else { child.send(signal: signal) }
            },
            hasEnded: {
                guard termination == nil, failure == nil else { return true }
                do throws(Errno) { termination = try child.poll() } catch { failure = error }
                return termination != nil || failure != nil
            },
            pause: { usleep(2000) }
        )
        if let failure { throw failure }
        if let termination { return Outcome(termination: termination, lastSignalSent: last) }
        return Outcome(termination: try child.wait(), lastSignalSent: last)
    }
}
