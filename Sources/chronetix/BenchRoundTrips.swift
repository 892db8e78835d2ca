import ChronetixSystem
import Histogram

/// The round trips of a latency run, as `chronetix bench shm` and `chronetix bench bus` both record them: the
/// first 100 ms are a warm-up and not recorded; then every round trip goes into an HdrHistogram until the
/// measured ones span the run's length.
struct BenchRoundTrips {
    /// The warm-up before anything is recorded.
    static let warmUpNanoseconds: UInt64 = 100_000_000

    /// How long the measured round trips should span, in nanoseconds.
    let limit: UInt64
    /// When the warm-up ends (monotonic nanoseconds).
    let warmUpEnd: UInt64
    /// Round trips measured, and when the first started and the last ended.
    private(set) var count: UInt64 = 0
    private(set) var start: UInt64 = 0
    private(set) var end: UInt64 = 0
    /// Round trips in nanoseconds, 1 ns to 100 s at 3 significant digits.
    private(set) var histogram = Histogram<UInt64>(
        highestTrackableValue: 100_000_000_000,
        numberOfSignificantValueDigits: .three
    )

    /// Starts the warm-up now.
    /// - Parameter limit: How long the measured round trips should span, in nanoseconds.
    init(limit: UInt64) {
        self.limit = limit
        warmUpEnd = Clock.monotonicNanoseconds() &+ Self.warmUpNanoseconds
    }

    /// The measured round trips' span in seconds.
    var seconds: Double { Double(end &- start) / 1e9 }

    /// Records one round trip (unless it began during the warm-up).
    /// - Parameters:
    ///   - sent: When it began (monotonic nanoseconds).
    ///   - received: When it ended.
    /// - Returns: Whether the measured round trips now span the limit: the run is over.
    mutating func record(sent: UInt64, received: UInt64) -> Bool {
        if sent < warmUpEnd { return false }
        if start == 0 { start = sent }
        histogram.record(received &- sent)
        count &+= 1
        end = received
        return received &- start >= limit
    }
}
