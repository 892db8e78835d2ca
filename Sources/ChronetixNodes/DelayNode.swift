import ChronetixCore
import ChronetixSystem

/// The clock the `delay` node reads and waits on: `CLOCK_MONOTONIC` nanoseconds, the clock of frame
/// timestamps. Tests pass a fake that records the instants it was asked to wait for.
public protocol DelayClock {
    /// The current `CLOCK_MONOTONIC` time in nanoseconds.
    func now() -> Int64
    /// Returns no earlier than `instant` (`CLOCK_MONOTONIC` nanoseconds); at once when it has passed.
    /// - Parameter instant: When to return.
    /// - Throws: A ``NodeError`` when the system cannot wait (the node adds its id to the message).
    func sleep(until instant: Int64) throws(NodeError)
}

/// The system's `CLOCK_MONOTONIC`: read with `clock_gettime(2)` (ChronetixSystem's `Clock`), waited on with `clock_nanosleep(2)`
/// `TIMER_ABSTIME`, so an interrupted sleep resumes toward the same instant without drift.
///
/// Not `ContinuousClock` (on Linux it is `CLOCK_BOOTTIME`) nor `SuspendingClock` (it is
/// `CLOCK_MONOTONIC` on Linux, but its instants do not expose their nanoseconds, and frame timestamps
/// are raw nanoseconds).
public struct SystemDelayClock: DelayClock {
    /// Creates the system clock.
    public init() {}

    /// The current `CLOCK_MONOTONIC` time in nanoseconds.
    public func now() -> Int64 { MonotonicClock.now() }

    /// Sleeps until `instant` with `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`; retries `EINTR`.
    /// - Parameter instant: When to return, in `CLOCK_MONOTONIC` nanoseconds.
    /// - Throws: A ``NodeError`` with the errno text when the call fails for another reason.
    public func sleep(until instant: Int64) throws(NodeError) {
        do {
            try Clock.sleep(untilMonotonicNanoseconds: UInt64(max(instant, 0)))
        } catch {
            throw NodeError("", "clock_nanosleep(CLOCK_MONOTONIC) failed: \(error)")
        }
    }
}

/// `delay`: forwards every frame, unchanged, no earlier than its timestamp plus `delay`.
///
/// The instant is `timestampNanoseconds + delay` on `CLOCK_MONOTONIC`; a frame with no timestamp (0) is
/// held `delay` from when it arrived. Frames arrive in order and their timestamps do not go back, so
/// waiting for each frame in turn before forwarding it keeps the order and holds none longer than
/// needed. A frame whose instant has already passed is forwarded at once.
public struct DelayNode: MapNode {
    /// How long each frame is held, in nanoseconds.
    public let delayNanoseconds: Int64
    /// Frames forwarded so far.
    public private(set) var frames: UInt64 = 0
    /// Frames that had to wait (the others were already due when they arrived).
    public private(set) var waited: UInt64 = 0

    private let node: String
    private let clock: any DelayClock

    /// Makes a delay node on the system's `CLOCK_MONOTONIC`.
    /// - Parameters:
    ///   - config: `delay` (integer nanoseconds, at least 0).
    ///   - context: Where the node runs.
    /// - Throws: A ``NodeError`` when `delay` is missing or negative.
    public init(config: NodeConfig, context: NodeContext) throws(NodeError) {
        try self.init(config: config, context: context, clock: SystemDelayClock())
    }

    /// Makes a delay node on a given clock.
    /// - Parameters:
    ///   - config: `delay` (integer nanoseconds, at least 0).
    ///   - context: Where the node runs.
    ///   - clock: The clock read and waited on.
    /// - Throws: A ``NodeError`` when `delay` is missing or negative.
    public init(config: NodeConfig, context: NodeContext, clock: any DelayClock) throws(NodeError) {
        delayNanoseconds = try config.integer("delay")
        guard delayNanoseconds >= 0 else {
            throw NodeError(config.node, "config key delay is \(delayNanoseconds) ns; it must be at least 0")
        }
        node = config.node
        self.clock = clock
    }

    /// The instant a frame is due: its timestamp (or `arrival` when it has none) plus the delay,
    /// saturating at `Int64.max`.
    /// - Parameters:
    ///   - info: The frame's facts.
    ///   - arrival: When it arrived, in `CLOCK_MONOTONIC` nanoseconds.
    /// - Returns: `CLOCK_MONOTONIC` nanoseconds.
    public func dueInstant(_ info: FrameInfo, arrival: Int64) -> Int64 {
        let base = info.timestampNanoseconds == 0 ? arrival : info.timestampNanoseconds
        let (sum, overflow) = base.addingReportingOverflow(delayNanoseconds)
        return overflow ? .max : sum
    }

    /// Waits until the frame is due, then forwards a copy.
    /// - Parameters:
    ///   - info: The frame's facts.
    ///   - payload: Its bytes.
    ///   - output: Where the copy goes.
    /// - Throws: A ``NodeError`` when the clock cannot wait, or what `output` throws.
    public mutating func process(_ info: FrameInfo, _ payload: RawSpan, into output: inout some FrameOutput) throws {
        let arrival = clock.now()
        let due = dueInstant(info, arrival: arrival)
        if due > arrival {
            do {
                try clock.sleep(until: due)
            } catch {
                throw NodeError(node, "cannot hold frame \(info.sequence) until \(due) ns: \(error.message)")
            }
            waited += 1
        }
        try output.emit(copying: payload)
        frames += 1
    }

    /// What the summary shows: frames forwarded and how many had to wait.
    public func report() -> NodeReport {
        [("frames", .integer(Int64(frames))), ("waited", .integer(Int64(waited)))]
    }
}
