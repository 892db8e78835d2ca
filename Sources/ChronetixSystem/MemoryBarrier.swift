// The one file of ChronetixSystem that re-exports a C declaration: `lightBarrier()` must inline into the
// ring's hot path in another module, and an inlinable body may only use publicly imported declarations.
public import CChronetix
import Glibc
import Synchronization

/// Asymmetric memory barriers (`membarrier(2)`), so the hot side of a sleep/wake handshake pays nothing.
///
/// A waiter that is about to sleep announces itself and re-checks the other side's counter; the other side
/// publishes its counter and then checks for the announcement. Both need a StoreLoad barrier between their
/// store and their load, or each can miss the other's store and the waiter sleeps through new data. The
/// classic fix puts a full fence on both sides, which taxes every published frame. Here the publishing side
/// only stops the compiler (``lightBarrier(asymmetric:)``) and the rare side about to sleep pays for both
/// (``heavyBarrier(asymmetric:)``): `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)` makes every running thread
/// of every registered process execute a full barrier before it returns. Either the publisher's store was
/// before that barrier (and the waiter's re-check sees it) or its load is after it (and sees the announcement).
///
/// When the kernel lacks the command (or a seccomp profile forbids it), both sides fall back to full fences.
public enum MemoryBarrier {
    /// Whether this process registered for expedited global barriers, so its light barriers may be
    /// compiler-only. Computed once per process.
    public static let isAsymmetric: Bool = {
        // MEMBARRIER_CMD_QUERY = 0, MEMBARRIER_CMD_GLOBAL_EXPEDITED = 1 << 1,
        // MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED = 1 << 2 (linux/membarrier.h).
        let supported = cx_membarrier(0, 0)
        guard supported >= 0, supported & (1 << 1) != 0, supported & (1 << 2) != 0 else { return false }
        return cx_membarrier(1 << 2, 0) == 0
    }()

    /// The hot side's barrier, placed between publishing a counter and loading the peer's "waiting" word.
    /// - Parameter asymmetric: ``isAsymmetric``, cached by the caller so the hot path reads no global.
    @inlinable
    public static func lightBarrier(asymmetric: Bool) {
        if asymmetric {
            cx_compiler_barrier()
        } else {
            fullFence()
        }
    }

    /// The waiting side's barrier, placed between announcing that it will sleep and re-checking the
    /// peer's counter. With asymmetric barriers this is a `membarrier(2)` system call.
    /// - Parameter asymmetric: ``isAsymmetric``.
    public static func heavyBarrier(asymmetric: Bool) {
        fullFence()
        if asymmetric {
            // MEMBARRIER_CMD_GLOBAL_EXPEDITED cannot fail once this process registered (checked above).
            let result = cx_membarrier(1 << 1, 0)
            precondition(result == 0, "membarrier(GLOBAL_EXPEDITED) failed: \(Errno.current)")
        }
    }

    @usableFromInline
    static func fullFence() {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
    }
}
