import ChronetixCore
import ChronetixSystem
import Foundation
import IpcEventBus
import Logging
import Synchronization

/// The bus of `chronetix bench bus`: a `BusServer` served on a thread of this process, as the coordinator will
/// host it, in a fresh directory (mode 0700) under the temporary directory.
///
/// The server creates the directory and removes it with the socket when `run()` returns; ``stop()`` waits for
/// that and removes whatever is left, and ``BenchCleanup`` removes both if the bench is interrupted. Three
/// services are hosted in the server: `bench.ready`, which counts the peers that are ready (a row's clients
/// subscribe or serve, then ask it), `bench.sync`, which a publisher asks before it closes, and the echo that
/// `request-reply-host` measures.
final class BenchBusHost: Sendable {
    let socketPath: String
    let token: String
    let queueLimit: Int
    private let server: BusServer
    private let board: BenchBusBoard
    /// Shared with the loop's thread, which must not hold the host itself (its `deinit` stops the loop).
    private let loop = Loop()

    private enum Outcome {
        case running
        case returned
        case failed(BusError)
        case stopped
    }

    private final class Loop: Sendable {
        let finished = DispatchSemaphore(value: 0)
        let outcome = Mutex<Outcome>(.running)
    }

    /// Creates the socket in a new directory and starts serving it on a thread of its own.
    /// - Parameters:
    ///   - queueLimit: The bus's outbound queue bound per connection, in bytes.
    ///   - busyPoll: The bus loop's polling before it sleeps; `nil` for the library's default.
    ///   - cpu: The CPU to pin the bus's thread to, or `nil` to leave it to the scheduler.
    /// - Throws: `BenchFailure` when the bus cannot be created (a temporary directory path too long for a
    ///   socket, say).
    init(queueLimit: Int, busyPoll: Duration? = nil, cpu: Int? = nil) throws(BenchFailure) {
        Self.removeStaleDirectories()
        let suffix = String(UInt64.random(in: 1...UInt64.max), radix: 16)
        let directory =
            "\(FileSystem.temporaryDirectory)/\(Self.directoryPrefix)\(ProcessIdentity.current.pid)-\(suffix)"
        socketPath = "\(directory)/bus.sock"
        token = (0..<4).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined()
        self.queueLimit = queueLimit
        let board = BenchBusBoard()
        self.board = board
        var logger = Logger(label: "chronetix.bench.bus")
        // Attachments and orderly detachments are not news here; a slow consumer or a violation is.
        logger.logLevel = .warning
        var configuration = BusServer.Configuration(socketPath: socketPath, token: token, logger: logger)
        configuration.outboundQueueLimit = queueLimit
        if let busyPoll { configuration.busyPoll = busyPoll }
        var hooks = BusServer.Hooks()
        hooks.onEvent = { event in board.record(event) }
        do {
            hooks.services = [
                BusServer.Service(pattern: try TopicPattern(BenchBusTopics.ready)) { request, _ in
                    board.markReady(String(decoding: request.payload, as: UTF8.self))
                    return .success(Envelope(id: request.id, topic: request.topic))
                },
                BusServer.Service(pattern: try TopicPattern(BenchBusTopics.sync)) { request, _ in
                    .success(Envelope(id: request.id, topic: request.topic))
                },
                // The echo answers with the request itself: the bus decodes it and encodes the reply.
                BusServer.Service(pattern: try TopicPattern(BenchBusTopics.hostEchoPattern)) { request, _ in
                    .success(request)
                },
            ]
        } catch {
            fatalError("the bench's service patterns are valid: \(error)")
        }
        // Registered before the server makes anything, so an interruption from here on removes it.
        BenchCleanup.shared.register(socket: socketPath)
        do {
            server = try BusServer(configuration: configuration, hooks: hooks)
        } catch {
            BenchCleanup.shared.unregister(socket: socketPath)
            throw BenchFailure("cannot host the bus at \(socketPath): \(error)")
        }
        let thread = Thread { [server, loop] in
            if let cpu {
                do {
                    try CPU.pinCurrentThread(to: cpu)
                } catch {
                    StandardError.print("chronetix bench bus: warning: cannot pin the bus to CPU\(cpu): \(error)")
                }
            }
            let result: Outcome
            do throws(BusError) {
                try server.run()
                result = .returned
            } catch {
                result = .failed(error)
            }
            loop.outcome.withLock { $0 = result }
            loop.finished.signal()
        }
        thread.name = "chronetix bench bus"
        thread.start()
    }

    deinit {
        // Every exit path (a thrown error included) stops the bus and removes its files.
        stop()
    }

    /// The bus's counters as of its loop's last turn.
    var statistics: BusServer.Statistics { server.statistics }

    /// How many peers of a row said they were ready.
    func readyCount(prefix: String) -> Int { board.readyCount(prefix) }

    /// Why connections of peers in `processIDs` were closed by the bus for something other than an orderly
    /// goodbye (a slow consumer, a heartbeat timeout, a protocol violation), one sentence each.
    func closures(of processIDs: Set<Int32>) -> [String] { board.closures(of: processIDs) }

    /// Whether the loop has ended before ``stop()`` asked it to (it failed), and why.
    var failure: String? {
        switch loop.outcome.withLock({ $0 }) {
        case .failed(let error): "the bus's event loop failed: \(error)"
        case .returned: "the bus's event loop ended by itself"
        case .running, .stopped: nil
        }
    }

    /// Stops the bus, waits (at most 10 s) for its loop to close every connection and remove the socket and
    /// the directory, and removes whatever is still there. Safe to call more than once.
    /// - Returns: A sentence for each problem: the loop failed or did not stop, or a file had to be removed here.
    @discardableResult
    func stop() -> [String] {
        let wasRunning = loop.outcome.withLock { outcome in
            if case .stopped = outcome { return false }
            return true
        }
        guard wasRunning else { return [] }
        var problems: [String] = []
        server.stop()
        if loop.finished.wait(timeout: .now() + 10) == .timedOut {
            problems.append("the bus did not stop within 10 s")
        }
        loop.outcome.withLock { outcome in
            // `.returned` is what stop() asked for; `.running` after the timeout is reported above.
            if case .failed(let error) = outcome { problems.append("the bus's event loop failed: \(error)") }
            outcome = .stopped
        }
        let directory = Self.directory(of: socketPath)
        if FileManager.default.fileExists(atPath: socketPath) {
            problems.append("the bus left its socket \(socketPath); removed")
            // Already gone (ENOENT) is fine; anything else shows up in the directory's removal below.
            try? FileSystem.removeFile(socketPath)
        }
        if FileManager.default.fileExists(atPath: directory) {
            problems.append("the bus left its directory \(directory); removed")
            do {
                try FileSystem.removeDirectory(directory)
            } catch {
                problems.append("cannot remove \(directory): \(error)")
            }
        }
        BenchCleanup.shared.unregister(socket: socketPath)
        return problems
    }

    /// The start of every bench's directory name, followed by the bench's pid, `-` and a random number.
    static let directoryPrefix = "chronetix-bench-bus-"

    /// Removes what benches that were killed outright (SIGKILL, which no handler sees) left behind: a directory
    /// of theirs under the temporary directory whose socket nothing listens on (the kernel's socket table says
    /// so; a pid in the name could have been reused), when it is this user's and holds nothing but the socket.
    /// The same judgement as for runs' directories (`StaleRuns.judgeBusDirectory`).
    static func removeStaleDirectories() {
        let temporary = FileSystem.temporaryDirectory
        // An unreadable temporary directory or socket table: nothing this bench can clean; its own checks follow.
        guard let names = try? Directory.entries(of: temporary).filter({ $0.hasPrefix(directoryPrefix) }), !names.isEmpty,
            let listening = try? UnixSocketTable.listeningPaths()
        else { return }
        let now = Int(Clock.realtimeNanoseconds() / 1_000_000_000)
        for name in names {
            let directory = "\(temporary)/\(name)"
            guard let status = try? FileSystem.status(of: directory), status.isDirectory,  // gone meanwhile: nothing to do
                case .stale = StaleRuns.judgeBusDirectory(path: directory, status: status, listening: listening, now: now)
            else { continue }
            // Best effort: another bench may be sweeping the same directory; whatever stays is swept next time.
            try? StaleRuns.removeBusDirectory(directory)
        }
    }

    /// The directory a socket path lies in.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// What the bench's hooks and services saw, for the thread that runs the rows. The hooks run on the bus's thread.
final class BenchBusBoard: Sendable {
    private struct State {
        var ready: [String: Int] = [:]
        /// Closures that were not an orderly goodbye: the peer's pid and a sentence.
        var closures: [(processID: Int32, text: String)] = []
    }

    // nonisolated(unsafe) is not needed: the Mutex makes the state Sendable.
    private let state = Mutex(State())

    /// Counts one ready peer of the row whose topic prefix is `prefix`.
    func markReady(_ prefix: String) { state.withLock { $0.ready[prefix, default: 0] += 1 } }

    func readyCount(_ prefix: String) -> Int { state.withLock { $0.ready[prefix] ?? 0 } }

    /// Keeps every closure that was not an orderly one, and every refusal.
    func record(_ event: BusServer.Event) {
        switch event {
        case .attached:
            break
        case .refused(let peer, let refusal):
            state.withLock { $0.closures.append((peer.processID, "the bus refused \(peer): \(refusal)")) }
        case .detached(let peer, let reason, let detail):
            guard reason != .normal && reason != .shuttingDown else { return }
            state.withLock { $0.closures.append((peer.processID, "the bus closed \(peer) (\(reason)): \(detail)")) }
        }
    }

    func closures(of processIDs: Set<Int32>) -> [String] {
        state.withLock { state in state.closures.filter { processIDs.contains($0.processID) }.map(\.text) }
    }
}
