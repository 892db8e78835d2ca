import ChronetixSystem
import ShmDataPort
import Synchronization
import Testing

/// A uniquely named ring segment for one test, removed when the test's scope ends (even when it fails).
struct TestRing: ~Copyable {
    private static let counter = Atomic<Int>(0)
    /// The prefix of every segment this test process creates, so leak checks can find them.
    static let prefix = "/chronetix.test\(ProcessIdentity.current.pid)"

    let segment: RingSegment
    var name: String { segment.name }

    /// Creates a segment named `<prefix>-<n>.<label>.out`.
    /// - Parameters:
    ///   - prefix: ``prefix`` unless a suite keeps its segments apart (suites run in parallel, and each leak
    ///     check must see only its own suite's segments).
    init(_ configuration: RingConfiguration, label: String = "edge", prefix: String = TestRing.prefix) throws {
        let number = Self.counter.wrappingAdd(1, ordering: .relaxed).newValue
        let name = "\(prefix)-\(number).\(label).out"
        segment = try RingSegment(creating: name, configuration: configuration)
    }

    deinit {
        // Removing an already removed name is not an error (RingSegment.remove ignores ENOENT).
        try? SharedMemory.unlink(name: segment.name)
    }

    /// Removes the name at once (mappings stay valid): for tests whose process will not run `deinit`.
    func unlinkNow() throws {
        try SharedMemory.unlink(name: segment.name)
    }

    /// Names of this process's test segments with `prefix` still in /dev/shm.
    static func leftovers(prefix: String = TestRing.prefix) throws -> [String] {
        try SharedMemory.names(withPrefix: prefix + "-")
    }
}

extension RingProducer {
    /// Sends `value` as an 8-byte payload followed by `extra` filler bytes; returns the outcome.
    mutating func send(value: UInt64, extra: Int = 0, timeout: Duration? = .zero) throws -> SendResult {
        guard let buffer = try reserve(capacity: 8 + extra, timeout: timeout) else { return .wouldBlock }
        buffer.storeBytes(of: value, as: UInt64.self)
        for index in 0..<extra { buffer[8 + index] = UInt8(truncatingIfNeeded: value &+ UInt64(index)) }
        return .sent(sequenceNumber: commit(length: 8 + extra))
    }
}

extension RingProducer {
    /// Sends each of `values` in order, waiting up to `timeout` for room each time; on the first frame that is
    /// not sent with its own value as sequence number, records an issue and returns `false`.
    mutating func sendInOrder(
        _ values: Range<UInt64>,
        timeout: Duration = .seconds(30),
        extra: (UInt64) -> Int
    ) throws -> Bool {
        for value in values {
            let outcome = try send(value: value, extra: extra(value), timeout: timeout)
            guard outcome == .sent(sequenceNumber: value) else {
                Issue.record("frame \(value): \(outcome)")
                return false
            }
        }
        return true
    }
}

extension RingConsumer {
    /// Receives one frame without waiting and returns its 8-byte value, sequence number and length.
    mutating func receiveValue(timeout: Duration? = .zero) throws -> (value: UInt64, sequence: UInt64, length: Int)? {
        switch try receive(timeout: timeout) {
        case .frame(let frame):
            let value = frame.payload.loadUnaligned(as: UInt64.self)
            for index in 8..<frame.payload.count {
                #expect(frame.payload[index] == UInt8(truncatingIfNeeded: value &+ UInt64(index - 8)), "payload byte \(index) of frame \(value)")
            }
            return (value, frame.sequenceNumber, frame.payload.count)
        case .wouldBlock, .endOfStream:
            return nil
        }
    }
}
