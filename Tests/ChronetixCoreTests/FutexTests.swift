import CChronetix
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The futex shim between two threads of this process (the ring uses it between processes).
@Suite(.serialized) struct FutexTests {
    /// What the waiting thread shares with the test.
    final class WaitContext: @unchecked Sendable {  // `word` is only touched through atomics and the futex
        let word = UnsafeMutablePointer<Atomic<UInt32>>.allocate(capacity: 1)
        let finished = Atomic<Bool>(false)

        init() { word.initialize(to: Atomic(0)) }
        deinit { word.deallocate() }

        var value: UInt32 { word.pointee.load(ordering: .acquiring) }
        func set(_ value: UInt32) { word.pointee.store(value, ordering: .releasing) }
        /// The futex word: an `Atomic<UInt32>` is laid out as a plain UInt32.
        var address: UnsafeMutablePointer<UInt32> { UnsafeMutableRawPointer(word).assumingMemoryBound(to: UInt32.self) }
        func wait() { _ = cx_futex_wait(address, 0, nil) }  // the caller's loop re-checks the word
        func wake() { _ = cx_futex_wake(address, 1) }  // the caller's loop re-checks completion
    }

    @Test(.timeLimit(.minutes(1)))
    func aWaiterIsWokenByAWake() {
        let context = WaitContext()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let context = Unmanaged<WaitContext>.fromOpaque(raw!).takeRetainedValue()  // passed retained below
            while context.value == 0 { context.wait() }
            context.finished.store(true, ordering: .releasing)
            return nil
        }, Unmanaged.passRetained(context).toOpaque())
        #expect(rc == 0)
        usleep(20_000)  // usually lets the waiter block first; the test holds either way
        context.set(1)
        // Once the word is 1 the kernel will not let the waiter block again, so waking until it is done ends.
        while !context.finished.load(ordering: .acquiring) {
            context.wake()
            usleep(1_000)
        }
        #expect(pthread_join(thread, nil) == 0)
    }

    @Test func aWaitOnAChangedWordReturnsAtOnce() {
        var word: UInt32 = 7
        #expect(cx_futex_wait(&word, 6, nil) == 0)
    }

    @Test func aTimedWaitTimesOut() {
        var word: UInt32 = 0
        var timeout = timespec(tv_sec: 0, tv_nsec: 10_000_000)
        #expect(cx_futex_wait(&word, 0, &timeout) == -1)
        #expect(errno == ETIMEDOUT)
    }

    @Test func wakingNobodyWakesNobody() {
        var word: UInt32 = 0
        #expect(cx_futex_wake(&word, 1) == 0)
    }

    @Test func threadIDsAreKernelIDs() {
        #expect(cx_gettid() > 0)
    }
}
