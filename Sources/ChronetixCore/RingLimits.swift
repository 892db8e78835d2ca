/// What one shared-memory ring can be: the limits `ShmDataPort` enforces when it makes a ring, and the flow
/// compiler checks a flow against, so that a flow that validates runs as written.
///
/// Defined here, in the pure core, because FlowAdapter does not depend on ShmDataPort.
public enum RingLimits {
    /// The most readers one ring serves (the fan-out of one edge): the consumer slots of `cx_ring_header`,
    /// `CX_RING_MAX_CONSUMERS` in `CChronetix.h` (a test checks that the two agree).
    public static let maxConsumers = 16
    /// The smallest data area of a ring, in bytes (4 KiB, one page).
    public static let minDataCapacity = 1 << 12
    /// The largest data area of a ring, in bytes (1 GiB).
    public static let maxDataCapacity = 1 << 30
}
