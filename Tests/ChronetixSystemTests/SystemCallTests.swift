import ChronetixSystem
import Glibc
import Synchronization
import Testing

/// How many times the test's `SIGUSR1` handler ran.
private let handledSignals = Atomic<Int>(0)

/// The errno policy of `SystemCall`: `EINTR` retried (or thrown when asked), errno mapped, `EBADF`/`EFAULT` trapped.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct SystemCallTests {
    @Test func mapsErrnoToTheThrownError() {
        #expect(throws: Errno.noSuchFile) {
            try SystemCall.value("open") { open("/nonexistent/chronetix", O_RDONLY | O_CLOEXEC) }
        }
        #expect(throws: Errno.invalidArgument) {
            try SystemCall.returningError("pthread_create") { EINVAL }
        }
    }

    @Test func retriesAnInterruptedCallUntilItAnswers() throws {
        var calls = 0
        let result = try SystemCall.value("read") { () -> Int in
            calls += 1
            if calls < 3 {
                errno = EINTR
                return -1
            }
            return 5
        }
        #expect(result == 5)
        #expect(calls == 3)
    }

    @Test func throwsAnInterruptWhenAskedNotToRetry() {
        var calls = 0
        #expect(throws: Errno.interrupted) {
            try SystemCall.nothing("connect", retryOnInterrupt: false) {
                calls += 1
                errno = EINTR
                return -1
            }
        }
        #expect(calls == 1)
    }

    @Test func transferReportsWouldBlockAndEndOfFile() throws {
        let wouldBlock = try SystemCall.transfer("read", retryOnInterrupt: true, zeroIsEndOfFile: true) { () -> Int in
            errno = EAGAIN
            return -1
        }
        #expect(wouldBlock == .wouldBlock)
        #expect(try SystemCall.transfer("read", retryOnInterrupt: true, zeroIsEndOfFile: true) { 0 } == .endOfFile)
        #expect(try SystemCall.transfer("write", retryOnInterrupt: true, zeroIsEndOfFile: false) { 0 } == .done(0))
    }

    /// A read blocked in the kernel, hit by signals whose handler was installed without `SA_RESTART` (so the kernel
    /// fails the read with `EINTR` instead of restarting it), returns the byte written after the signals.
    @Test func blockingReadInterruptedBySignalsIsRetried() throws {
        try withInterruptingHandler {
            let pipe = try FileDescriptor.pipe()
            let reading = pipe.reading
            let writing = pipe.writing
            let outcome = try blockedRead(on: reading.rawValue, retryOnInterrupt: true) { reader in
                signalUntilHandled(reader, times: 3)
                var byte: UInt8 = 42
                _ = write(writing.rawValue, &byte, 1)
            }
            #expect(outcome == .read(1))
            #expect(handledSignals.load(ordering: .relaxed) >= 3)
        }
    }

    @Test func blockingReadInterruptedBySignalThrowsWithoutRetry() throws {
        try withInterruptingHandler {
            let pipe = try FileDescriptor.pipe()
            let reading = pipe.reading
            let writing = pipe.writing
            let outcome = try blockedRead(on: reading.rawValue, retryOnInterrupt: false) { reader in
                signalUntilHandled(reader, times: 1)
                // A signal that landed before the read blocked is not seen by it; the byte then ends the read.
                var byte: UInt8 = 42
                _ = write(writing.rawValue, &byte, 1)
            }
            #expect(outcome == .interrupted || outcome == .read(1))
        }
    }

    @Test func badDescriptorIsAProgrammingError() async {
        await #expect(processExitsWith: .failure) {
            var byte: UInt8 = 0
            _ = try? SystemCall.value("read") { read(Int32.max - 1, &byte, 1) }
        }
    }

    @Test func badDescriptorIsThrownWhenTheCallerSaysSo() {
        var byte: UInt8 = 0
        #expect(throws: Errno(rawValue: EBADF)) {
            try SystemCall.value("write", badDescriptorIsError: true) { write(Int32.max - 1, &byte, 1) }
        }
    }
}

enum ReadOutcome: Equatable {
    case read(Int)
    case interrupted
}

/// Runs `body` with a `SIGUSR1` handler installed without `SA_RESTART`, then restores the default action.
private func withInterruptingHandler(_ body: () throws -> Void) throws {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in handledSignals.wrappingAdd(1, ordering: .relaxed) }
    action.sa_flags = 0  // no SA_RESTART: a blocking read the signal interrupts fails with EINTR
    sigemptyset(&action.sa_mask)
    var previous = sigaction()
    #expect(sigaction(SIGUSR1, &action, &previous) == 0)
    defer { sigaction(SIGUSR1, &previous, nil) }
    try body()
}

/// Starts a thread blocked in `read(2)` on `descriptor` through `SystemCall`, runs `whileBlocked` with that thread,
/// and returns how the read ended.
private func blockedRead(
    on descriptor: Int32,
    retryOnInterrupt: Bool,
    whileBlocked: (pthread_t) -> Void
) throws -> ReadOutcome {
    final class Box: @unchecked Sendable {  // written by the reader before it ends, read after the join
        var thread = pthread_t()
        var outcome: ReadOutcome?
        let started = Atomic<Bool>(false)
    }
    let box = Box()
    let thread = try SystemThread(name: "blocked-read") {
        // The test runner's threads may block signals; this one must take SIGUSR1 for the test to mean anything.
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGUSR1)
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
        box.thread = pthread_self()
        box.started.store(true, ordering: .releasing)
        var byte: UInt8 = 0
        do throws(Errno) {
            let count = try SystemCall.value("read", retryOnInterrupt: retryOnInterrupt) { read(descriptor, &byte, 1) }
            box.outcome = .read(count)
        } catch {
            box.outcome = error == .interrupted ? .interrupted : nil
        }
    }
    while !box.started.load(ordering: .acquiring) { usleep(1000) }
    usleep(20_000)  // let the reader reach read(2)
    whileBlocked(box.thread)
    thread.join()
    return try #require(box.outcome)
}

/// Sends `SIGUSR1` to `thread` until its handler has run `times` more times (a few ms apart, so that each lands
/// while the thread is blocked).
private func signalUntilHandled(_ thread: pthread_t, times: Int) {
    let target = handledSignals.load(ordering: .relaxed) + times
    // Bounded, so that a signal that never arrives fails the test's expectation instead of hanging it.
    for _ in 0..<200 where handledSignals.load(ordering: .relaxed) < target {
        pthread_kill(thread, SIGUSR1)
        usleep(10_000)
    }
}
