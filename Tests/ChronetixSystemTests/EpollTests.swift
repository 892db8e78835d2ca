import ChronetixSystem
import Glibc
import Foundation
import Testing

/// epoll and eventfd over real kernel objects.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct EpollTests {
    @Test func eventNotifierFromAnotherThreadWakesAWait() throws {
        let shared = SharedNotifier(try EventNotifier())
        var epoll = try Epoll()
        #expect(epoll.capacity == 256)
        try epoll.add(shared.notifier.descriptor, events: .readable, data: 7)
        #expect(try epoll.wait(timeoutMilliseconds: 0) == 0)

        let thread = startThread {
            usleep(20_000)  // let the main thread go to sleep in epoll_wait first
            shared.notifier.notify()
            shared.notifier.notify()
        }
        var joined = false
        defer { if !joined { pthread_join(thread, nil) } }  // when a wait throws: no thread outlives the test

        var woken = 0
        let start = Clock.monotonicNanoseconds()
        while woken == 0 && Clock.monotonicNanoseconds() - start < 10_000_000_000 {
            woken = try epoll.wait(timeoutMilliseconds: 10_000)
        }
        #expect(woken == 1)
        #expect(epoll.count == 1)
        let event = epoll.event(at: 0)
        #expect(event.events == .readable)
        #expect(event.data == 7)

        pthread_join(thread, nil)
        joined = true
        #expect(shared.notifier.drain() == 2, "notifications before a drain add up")
        #expect(shared.notifier.drain() == 0, "nothing is pending after a drain")
        #expect(try epoll.wait(timeoutMilliseconds: 0) == 0, "a drained eventfd is not readable")
    }

    @Test func reportsEveryReadyDescriptorWithItsFullData() throws {
        // Several events in one wait exercise the shim's unpacking of the packed kernel records.
        let notifiers = try (0..<3).map { _ in SharedNotifier(try EventNotifier()) }
        let values: [UInt64] = [0xDEAD_BEEF_CAFE_F00D, 0x0123_4567_89AB_CDEF, UInt64.max]
        var epoll = try Epoll(capacity: 8)
        for (shared, value) in zip(notifiers, values) {
            try epoll.add(shared.notifier.descriptor, events: [.readable, .edgeTriggered], data: value)
            shared.notifier.notify()
        }
        #expect(try epoll.wait(timeoutMilliseconds: 1000) == 3)
        var seen: Set<UInt64> = []
        for index in 0..<epoll.count {
            let event = epoll.event(at: index)
            #expect(event.events == .readable)
            seen.insert(event.data)
        }
        #expect(seen == Set(values))
        #expect(try epoll.wait(timeoutMilliseconds: 0) == 0, "edge-triggered: reported once")
    }

    @Test func capacityLimitsOneWait() throws {
        let notifiers = try (0..<3).map { _ in SharedNotifier(try EventNotifier()) }
        var epoll = try Epoll(capacity: 2)
        for (index, shared) in notifiers.enumerated() {
            try epoll.add(shared.notifier.descriptor, events: .readable, data: UInt64(index))
            shared.notifier.notify()
        }
        #expect(try epoll.wait(timeoutMilliseconds: 0) == 2)
        #expect(try epoll.wait(timeoutMilliseconds: 0) == 2, "level-triggered: still ready")
    }

    @Test func removedDescriptorIsNoLongerReported() throws {
        let pair = try FileDescriptor.unixStreamPair()
        let writer = pair.first
        let reader = pair.second
        var epoll = try Epoll(capacity: 4)
        try epoll.add(reader.rawValue, events: .readable, data: 1)
        #expect(try send("x", on: writer) == .done(1))
        #expect(try epoll.wait(timeoutMilliseconds: 1000) == 1)
        #expect(epoll.event(at: 0).data == 1)

        try epoll.remove(reader.rawValue)
        #expect(try epoll.wait(timeoutMilliseconds: 0) == 0)
        #expect(throws: Errno.noSuchFile) { try epoll.remove(reader.rawValue) }
        #expect(throws: Errno.noSuchFile) { try epoll.modify(reader.rawValue, events: .readable, data: 2) }
    }

    @Test func modifyChangesEventsAndData() throws {
        let pair = try FileDescriptor.unixStreamPair()
        let left = pair.first
        let right = pair.second
        var epoll = try Epoll(capacity: 4)
        try epoll.add(left.rawValue, events: .readable, data: 1)
        #expect(try epoll.wait(timeoutMilliseconds: 0) == 0, "nothing to read")
        #expect(throws: Errno.fileExists) { try epoll.add(left.rawValue, events: .readable, data: 1) }

        try epoll.modify(left.rawValue, events: [.readable, .writable], data: 2)
        #expect(try epoll.wait(timeoutMilliseconds: 1000) == 1)
        #expect(epoll.event(at: 0).events == .writable)
        #expect(epoll.event(at: 0).data == 2)

        right.close()
        #expect(try epoll.wait(timeoutMilliseconds: 1000) == 1)
        let closed = epoll.event(at: 0).events
        #expect(closed.contains(.readable), "end of file is readable")
        #expect(closed.contains(.hangup))
    }

    @Test func peerClosingItsWritingSideIsReported() throws {
        let pair = try FileDescriptor.unixStreamPair()
        let left = pair.first
        let right = pair.second
        var epoll = try Epoll(capacity: 4)
        try epoll.add(left.rawValue, events: [.readable, .peerClosedWriting], data: 9)
        try right.shutdown(reading: false, writing: true)
        #expect(try epoll.wait(timeoutMilliseconds: 1000) == 1)
        #expect(epoll.event(at: 0).events.isSuperset(of: [.readable, .peerClosedWriting]))
    }

    @Test func eventsNameTheKernelBits() {
        #expect(Epoll.Events.readable.rawValue == 0x001)
        #expect(Epoll.Events.writable.rawValue == 0x004)
        #expect(Epoll.Events.error.rawValue == 0x008)
        #expect(Epoll.Events.hangup.rawValue == 0x010)
        #expect(Epoll.Events.peerClosedWriting.rawValue == 0x2000)
        #expect(Epoll.Events.edgeTriggered.rawValue == 1 << 31)
    }

    @Test func waitTimesOutWithNoEvents() throws {
        var epoll = try Epoll(capacity: 1)
        let start = Clock.monotonicNanoseconds()
        #expect(try epoll.wait(timeoutMilliseconds: 20) == 0)
        #expect(Clock.monotonicNanoseconds() - start >= 15_000_000)
    }
}

/// An `EventNotifier` shared between threads by reference.
final class SharedNotifier: Sendable {
    let notifier: EventNotifier
    init(_ notifier: consuming EventNotifier) { self.notifier = notifier }
}

/// A closure run on a new POSIX thread.
private final class ThreadBody {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// Starts `body` on a new thread (not the cooperative pool, which a blocked `epoll_wait` could starve).
func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { context in
        Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().body()
        return nil
    }, context)
    precondition(result == 0, "pthread_create failed: \(result)")
    return thread
}

/// Every wrapper closes what it opens: `/proc/self/fd` counts before and after many sockets, listeners,
/// epoll instances, eventfds and SCM_RIGHTS transfers. The counting runs in an exit test, a child process
/// that runs only this body, so no test running in parallel can open a descriptor in between.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct DescriptorLeakTests {
    @Test func openingAndClosingManySocketsLeaksNoDescriptor() async {
        await #expect(processExitsWith: .success) {
            // Two warm-up rounds first: the runtime opens some descriptors lazily on first use (Dispatch's
            // epoll and eventfd, the exit test's back channel), which is not a leak of ours.
            for round in 0..<2 { try exerciseEveryWrapper(round: round) }
            let before = try openDescriptors()
            for round in 0..<50 {
                try exerciseEveryWrapper(round: round)
            }
            let after = try openDescriptors()
            guard after.count == before.count else {
                print("descriptor leak: \(before.count) open before, \(after.count) after: \(after.subtracting(before).sorted())")
                exit(1)
            }
        }
    }

    @Test func descriptorListingSeesANewDescriptor() throws {
        // The listing the leak test relies on does show a new descriptor. Counting would race with the other
        // tests of this process, which open and close descriptors at the same time; the numbers do not.
        let pair = try FileDescriptor.unixStreamPair()
        let left = pair.first
        let right = pair.second
        let open = try Directory.entries(of: "/proc/self/fd")
        #expect(open.contains("\(left.rawValue)"))
        #expect(open.contains("\(right.rawValue)"))
        left.close()
        right.close()
    }
}

/// The open descriptors of this process, each as `number -> target` (for a readable leak report).
func openDescriptors() throws -> Set<String> {
    Set(try Directory.entries(of: "/proc/self/fd").map { name in
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)")) ?? "?"
        return "\(name) -> \(target)"
    })
}

/// One round of every descriptor-owning wrapper, all released by the end.
func exerciseEveryWrapper(round: Int) throws {
    let pair = try FileDescriptor.unixStreamPair()
    let left = pair.first
    let right = pair.second
    let pipe = try makePipe()
    let payload: [UInt8] = [UInt8(truncatingIfNeeded: round)]
    _ = try payload.withUnsafeBytes { try left.send($0, descriptors: [pipe.reader.rawValue, pipe.writer.rawValue]) }
    var buffer: [UInt8] = [0]
    var received = 0
    _ = try buffer.withUnsafeMutableBytes { bytes in
        try right.receive(into: bytes) { _ in received += 1 }  // each one is closed as the closure returns
    }
    precondition(received == 2, "round \(round): \(received) descriptors arrived")

    let directory = try makeTemporaryDirectory()
    defer { removeTemporaryDirectory(directory) }
    let listener = try FileDescriptor.listenUnixStream(path: directory + "/leak.sock")
    let client = try FileDescriptor.connectUnixStream(path: directory + "/leak.sock")
    let server = try listener.accept()
    precondition(server != nil, "round \(round): no connection to accept")
    _ = try client.peerCredentials()
    // The failing paths close their descriptors too.
    _ = try? FileDescriptor.listenUnixStream(path: directory + "/leak.sock")  // EADDRINUSE after socket()
    _ = try? FileDescriptor.connectUnixStream(path: directory + "/absent.sock")  // ENOENT after socket()

    var epoll = try Epoll(capacity: 4)
    let notifier = try EventNotifier()
    try epoll.add(notifier.descriptor, events: .readable, data: 1)
    notifier.notify()
    _ = try epoll.wait(timeoutMilliseconds: 0)
}
