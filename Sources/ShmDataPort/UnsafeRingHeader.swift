public import Synchronization

/// Typed access to the fields of a mapped ring header (`cx_ring_header`), by the offsets in ``RingLayout``.
///
/// Every field two processes share is reached as an `Atomic` through a pointer; each load and store at the
/// call site names its ordering and says what it pairs with (docs/ring-protocol.md lists them all).
///
/// - Warning: Holds the address of a mapping it does not own; valid only while the owning ``RingMapping`` lives.
@unsafe
@usableFromInline
struct UnsafeRingHeader {
    @usableFromInline let base: UnsafeMutableRawPointer

    @inlinable
    init(base: UnsafeMutableRawPointer) { unsafe self.base = base }

    /// The 64-bit field at `offset`, as an atomic.
    @inlinable
    func u64(_ offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        // The mapping is page-aligned and every 64-bit field's offset is a multiple of 8 (checked in C).
        unsafe (base + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// The 32-bit field at `offset`, as an atomic.
    @inlinable
    func u32(_ offset: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        unsafe (base + offset).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// The address of a 32-bit futex word, for `Futex.wait` and `Futex.wake`.
    @inlinable
    func futexWord(_ offset: Int) -> UnsafeMutableRawPointer { unsafe base + offset }

    /// The offset of consumer slot `index`'s first byte.
    @inlinable
    static func consumer(_ index: Int) -> Int { RingLayout.Header.consumers + index * RingLayout.Consumer.stride }

    // Configuration fields are written once, before the magic is published with a releasing store; readers
    // load the magic with an acquiring load first, so these relaxed loads see the creator's values.

    @inlinable
    func loadU64(_ offset: Int) -> UInt64 { unsafe u64(offset).pointee.load(ordering: .relaxed) }

    @inlinable
    func loadU32(_ offset: Int) -> UInt32 { unsafe u32(offset).pointee.load(ordering: .relaxed) }

    @inlinable
    func loadI32(_ offset: Int) -> Int32 { unsafe Int32(bitPattern: loadU32(offset)) }
}
