import ChronetixSystem
import Glibc
import Testing

/// `Teardown` on real child processes: one that ends on its own, one that ends at SIGTERM, one that ignores it.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct TeardownTests {
    private let teardown = Teardown([
        .wait(.milliseconds(500)), .send(.terminate, allowedDurationToNextStep: .milliseconds(300)),
    ])

    private func shell(_ script: String) throws -> ChildProcess {
        try ChildProcess(path: "/bin/sh", arguments: ["-c", script], environment: [], newProcessGroup: true)
    }

    @Test func aChildThatEndsInTheGracePeriodIsSentNothing() throws {
        let outcome = try teardown.perform(on: shell("exit 3"), toGroup: true)
        #expect(outcome == Teardown.Outcome(termination: .exited(3), lastSignalSent: nil))
    }

    @Test func aChildThatEndsAtTerminateIsNotKilled() throws {
        let outcome = try teardown.perform(on: shell("exec sleep 30"), toGroup: true)
        #expect(outcome.termination == .signaled(.terminate))
        #expect(outcome.lastSignalSent == .terminate)
    }

    @Test func aChildThatIgnoresTerminateIsKilled() throws {
        let start = Clock.monotonicNanoseconds()
        let outcome = try teardown.perform(on: shell("trap '' TERM; exec sleep 30"), toGroup: true)
        #expect(outcome.termination == .signaled(.kill))
        #expect(outcome.lastSignalSent == .kill)
        #expect(Clock.monotonicNanoseconds() - start >= 800_000_000)  // both steps were waited out
    }

    @Test func theGeneralFormSendsEachStepsSignalThenKill() {
        var sent: [Signal] = []
        let steps: [Teardown.Step] = [
            .send(.hangup, allowedDurationToNextStep: .zero), .send(.terminate, allowedDurationToNextStep: .zero),
        ]
        let last = Teardown(steps).perform(send: { sent.append($0) }, hasEnded: { false }, pause: {})
        #expect(sent == [.hangup, .terminate, .kill])
        #expect(last == .kill)
    }
}
