import ChronetixCore
import ChronetixSystem
import Foundation
import IpcEventBus
import Logging
import Synchronization
import Testing

/// A bus server running on its own thread in a fresh 0700 directory under the temporary directory.
///
/// Every test ends it with ``stop()`` in a `defer`; `stop` waits for the loop to finish, which removes the
/// socket and the directory, and then checks that nothing is left.
final class TestBus: @unchecked Sendable {
    private static let counter = Atomic<Int>(0)

    let directory: String
    let socketPath: String
    let token: String
    let server: BusServer
    /// Every event the server reported, in order.
    let events = Mutex<[BusServer.Event]>([])
    /// Every line the server logged at warning or above, as `level: message key=value…`.
    let logs = LogRecorder()
    private let finished = DispatchSemaphore(value: 0)
    private let runError = Mutex<BusError?>(nil)
    private var isStopped = false

    init(
        configure: (inout BusServer.Configuration) -> Void = { _ in },
        hooks: BusServer.Hooks = BusServer.Hooks()
    ) throws {
        let number = Self.counter.add(1, ordering: .relaxed).newValue
        directory = "\(FileSystem.temporaryDirectory)/cx-bus-\(getpid())-\(number)"
        socketPath = "\(directory)/bus.sock"
        token = "token-\(UInt64.random(in: 1...UInt64.max))"
        let logs = logs
        var configuration = BusServer.Configuration(
            socketPath: socketPath,
            token: token,
            logger: Logger(label: "test.bus") { _ in RecordingLogHandler(recorder: logs) }
        )
        configure(&configuration)
        let recorded = Mutex<[BusServer.Event]>([])
        var hooks = hooks
        let observer = hooks.onEvent
        let sink = EventSink()
        hooks.onEvent = { event in
            observer(event)
            sink.record(event)
        }
        server = try BusServer(configuration: configuration, hooks: hooks)
        _ = recorded
        sink.bus = self
        Thread { [self] in
            do {
                try server.run()
            } catch let error as BusError {
                self.runError.withLock { $0 = error }
            } catch {
                fatalError("BusServer.run threw \(error)")
            }
            self.finished.signal()
        }.start()
    }

    /// Connects a client.
    func client(
        role: String = "tool",
        name: String = "test",
        token: String? = nil,
        busyPoll: Duration? = nil,
        sending: BusClient.Sending = .inCall
    ) throws -> BusClient {
        var configuration = BusClient.Configuration(socketPath: socketPath, role: role, name: name, token: token ?? self.token)
        if let busyPoll { configuration.busyPoll = busyPoll }
        configuration.sending = sending
        return try BusClient(configuration: configuration)
    }

    /// Stops the server, waits for its loop to end, and checks that the socket and directory are gone.
    func stop() {
        guard !isStopped else { return }
        isStopped = true
        server.stop()
        finished.wait()
        #expect(runError.withLock { $0 } == nil)
        #expect(!FileManager.default.fileExists(atPath: socketPath), "the socket is left behind")
        #expect(!FileManager.default.fileExists(atPath: directory), "the bus directory is left behind")
    }

    /// Waits until an event satisfying `predicate` was reported, or the time runs out.
    func waitForEvent(timeout: Duration = .seconds(10), _ predicate: (BusServer.Event) -> Bool) -> BusServer.Event? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let event = events.withLock({ $0.first(where: predicate) }) { return event }
            Thread.sleep(forTimeInterval: 0.005)
        }
        return nil
    }

    /// The server's statistics once `predicate` holds (they are published at the end of each loop turn),
    /// or the last ones seen when the time runs out.
    func statistics(
        within timeout: Duration = .seconds(10),
        where predicate: (BusServer.Statistics) -> Bool
    ) -> BusServer.Statistics {
        let deadline = ContinuousClock.now + timeout
        var statistics = server.statistics
        while !predicate(statistics) && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.005)
            statistics = server.statistics
        }
        return statistics
    }

    deinit { stop() }
}

/// Forwards server events into the bus's list (the hook is created before the bus exists).
private final class EventSink: @unchecked Sendable {
    weak var bus: TestBus?
    func record(_ event: BusServer.Event) {
        bus?.events.withLock { $0.append(event) }
    }
}

extension Envelope {
    /// A test envelope with a text payload.
    static func text(_ topic: String, _ text: String, id: UInt64 = 0) -> Envelope {
        Envelope(id: id, topic: topic, payload: Array(text.utf8))
    }

    /// The payload as text.
    var text: String { String(decoding: payload, as: UTF8.self) }
}

extension BusEvent {
    /// The delivery, when this is a message.
    var delivery: BusDelivery? {
        if case .message(let delivery) = self { return delivery }
        return nil
    }

    /// The request, when this is one.
    var incomingRequest: BusIncomingRequest? {
        if case .request(let request) = self { return request }
        return nil
    }
}

/// A semaphore usable from `@Sendable` closures.
final class DispatchSemaphoreBox: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    func signal() { semaphore.signal() }
    func wait() { semaphore.wait() }
}

/// The lines a test bus logged.
final class LogRecorder: Sendable {
    let lines = Mutex<[String]>([])

    /// Whether a line contains every fragment.
    func contains(_ fragments: String...) -> Bool {
        lines.withLock { lines in lines.contains { line in fragments.allSatisfy { line.contains($0) } } }
    }
}

/// A swift-log handler that keeps warnings and errors in a ``LogRecorder``.
struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .warning

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        recorder.lines.withLock { $0.append("\(event.level): \(event.message) \(fields)") }
    }
}
