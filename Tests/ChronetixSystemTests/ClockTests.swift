import ChronetixSystem
import Testing

/// `Clock`'s sleeps and conversions.
@Suite(.timeLimit(.minutes(1)))
struct ClockTests {
    @Test func sleepUntilADeadlineReturnsAtOrAfterIt() throws {
        let deadline = Clock.monotonicNanoseconds() + 20_000_000
        try Clock.sleep(untilMonotonicNanoseconds: deadline)
        #expect(Clock.monotonicNanoseconds() >= deadline)
        try Clock.sleep(untilMonotonicNanoseconds: 0)  // a past deadline returns at once
    }

    @Test func relativeSleepWaitsAtLeastThatLong() {
        let start = Clock.monotonicNanoseconds()
        Clock.sleep(nanoseconds: 5_000_000)
        #expect(Clock.monotonicNanoseconds() - start >= 5_000_000)
    }

    @Test func durationsInNanoseconds() {
        #expect(Clock.nanoseconds(.milliseconds(1500)) == 1_500_000_000)
        #expect(Clock.nanoseconds(.seconds(-1)) == 0)
    }
}
