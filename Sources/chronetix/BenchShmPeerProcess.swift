import ChronetixSystem
import Dispatch
import Foundation
import Synchronization

/// A peer process of `chronetix bench`: this same executable in a hidden role (`bench shm-peer`, the ring's
/// consumer, or `bench bus-peer`, a bus client).
///
/// Its standard output is a pipe that carries its one `RESULT` line; its standard error is ours, so its
/// diagnostics reach the user directly. Every peer is registered with ``BenchCleanup`` while it runs, so an
/// interrupted bench kills it too.
final class BenchPeerProcess {
    private let process: Process
    private let output: Pipe
    private var isReaped = false

    /// The peer's process id.
    var pid: Int32 { process.processIdentifier }

    /// Starts `chronetix bench <role>` with `arguments` (after `bench <role>`).
    /// - Parameters:
    ///   - role: The hidden subcommand: `shm-peer` or `bus-peer`.
    ///   - arguments: The subcommand's arguments.
    ///   - environment: Variables added to this process's environment for the peer (a secret that must not
    ///     show in the command line, say).
    /// - Throws: `BenchFailure` when the executable cannot be found or started.
    init(role: String = "shm-peer", arguments: [String], environment: [String: String] = [:]) throws(BenchFailure) {
        let executable: String
        do {
            // The running executable, whatever name or path it was started by.
            executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        } catch {
            throw BenchFailure("cannot find this executable through /proc/self/exe: \(error.localizedDescription)")
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["bench", role] + arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, added in added }
        }
        output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw BenchFailure("cannot start the peer \(executable): \(error.localizedDescription)")
        }
        BenchCleanup.shared.register(peer: process.processIdentifier)
    }

    /// Whether the peer still runs.
    var isRunning: Bool { process.isRunning }

    /// The CPU time the peer has used so far (user + system) in clock ticks, from `/proc/PID/stat`; `nil` when
    /// the file cannot be read or parsed.
    func cpuTicks() -> UInt64? {
        // No such file: the peer is gone, which the caller reports.
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // After the command name: field 3 (state) is fields[0], so utime (14) and stime (15) are fields[11...12].
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        return user &+ system
    }

    /// Waits up to `timeout` seconds for the peer to exit (killing it after that), then returns its exit status
    /// (128 + the signal for a killed peer) and what it wrote to standard output.
    func finish(timeout: Double) -> (status: Int32, output: String, timedOut: Bool) {
        let timedOut = !waitForExit(seconds: timeout)
        if timedOut { kill() }
        // The peer has exited, so the pipe's write end is closed and this read ends; a result line is far below
        // the pipe's capacity, so the peer never blocked on writing it.
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let status =
            process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return (status, String(decoding: data, as: UTF8.self), timedOut)
    }

    /// Kills the peer with SIGKILL and waits until it is reaped. Safe to call more than once.
    func kill() {
        guard !isReaped else { return }
        if process.isRunning {
            // ESRCH means it exited on its own in the meantime: reaped below all the same.
            try? Processes.send(signal: SIGKILL, to: process.processIdentifier)
        }
        process.waitUntilExit()
        isReaped = true
        BenchCleanup.shared.unregister(peer: process.processIdentifier)
    }

    /// Polls until the peer exits or `seconds` pass; returns whether it exited (and was reaped by Foundation).
    private func waitForExit(seconds: Double) -> Bool {
        let deadline = Clock.monotonicNanoseconds() &+ UInt64(seconds * 1e9)
        while process.isRunning {
            if Clock.monotonicNanoseconds() >= deadline { return false }
            Thread.sleep(forTimeInterval: 0.001)
        }
        process.waitUntilExit()
        isReaped = true
        BenchCleanup.shared.unregister(peer: process.processIdentifier)
        return true
    }

    deinit {
        // Every exit path (a thrown error included) ends the peer: nothing outlives the bench.
        kill()
    }
}

/// What `chronetix bench` must undo when it is interrupted: the segment names it created, the bus sockets and
/// their directories, and the peers it started. SIGINT and SIGTERM are handled on a dispatch queue (not in a
/// signal handler), which removes the names and files, kills the peers and exits with 128 + the signal.
final class BenchCleanup: Sendable {
    static let shared = BenchCleanup()

    private struct State {
        var segments: Set<String> = []
        /// Bus sockets, each in a directory of its own that goes with it.
        var sockets: Set<String> = []
        var peers: Set<Int32> = []
        var sources: [any DispatchSourceSignal] = []
        var command = "chronetix bench shm"
        var isInterrupted = false
    }

    // nonisolated(unsafe) is not needed: the Mutex makes the state Sendable.
    private let state = Mutex(State())

    /// Records a segment name to remove if the bench is interrupted.
    func register(segment name: String) { state.withLock { _ = $0.segments.insert(name) } }
    /// Forgets a segment name (it has been removed).
    func unregister(segment name: String) { state.withLock { _ = $0.segments.remove(name) } }
    /// Records a bus socket to remove, with its directory, if the bench is interrupted.
    func register(socket path: String) { state.withLock { _ = $0.sockets.insert(path) } }
    /// Forgets a bus socket (it and its directory have been removed).
    func unregister(socket path: String) { state.withLock { _ = $0.sockets.remove(path) } }
    /// Records a peer to kill if the bench is interrupted.
    func register(peer pid: Int32) { state.withLock { _ = $0.peers.insert(pid) } }
    /// Forgets a peer (it has been reaped).
    func unregister(peer pid: Int32) { state.withLock { _ = $0.peers.remove(pid) } }

    /// Routes SIGINT and SIGTERM to ``interrupted(by:)``. Called once, before the first segment or socket is made.
    /// - Parameter command: The command named in the message printed when interrupted.
    func installSignalHandlers(command: String = "chronetix bench shm") {
        state.withLock { state in
            guard state.sources.isEmpty else { return }
            state.command = command
            for signal in [SIGINT, SIGTERM] {
                // The default action would end the process at once; the dispatch source takes the signal instead.
                _ = Foundation.signal(signal, SIG_IGN)  // returns the previous disposition, which nothing restores
                let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
                source.setEventHandler { BenchCleanup.shared.interrupted(by: signal) }
                source.resume()
                state.sources.append(source)
            }
        }
    }

    /// Whether SIGINT or SIGTERM arrived: the process is about to exit, and its failures are the interruption's.
    var isInterrupted: Bool { state.withLock { $0.isInterrupted } }

    /// Removes every registered segment and socket (with its directory) and kills every registered peer (by pid).
    func removeEverything() {
        let (segments, sockets, peers) = state.withLock { state in
            defer {
                state.segments = []
                state.sockets = []
                state.peers = []
            }
            return (state.segments, state.sockets, state.peers)
        }
        // The peers first, so that none of them reports the files going away.
        for pid in peers {
            // ESRCH: it already exited; the parent's exit leaves nothing for it to wait on.
            try? Processes.send(signal: SIGKILL, to: pid)
        }
        for name in segments {
            // Already removed (ENOENT) or never created: either way nothing is left under the name.
            try? SharedMemory.unlink(name: name)
        }
        for path in sockets {
            // As above: ENOENT means the bus removed them first. The directory holds nothing but the socket.
            try? FileSystem.removeFile(path)
            try? FileSystem.removeDirectory(BenchBusHost.directory(of: path))
        }
    }

    private func interrupted(by signal: Int32) {
        let command = state.withLock { state in
            state.isInterrupted = true
            return state.command
        }
        removeEverything()
        StandardError.print("\(command): interrupted by signal \(signal); segments and sockets removed, peers killed")
        // Let Foundation reap the killed peers (it waits on them as they exit) before this process goes.
        Thread.sleep(forTimeInterval: 0.05)
        Foundation.exit(128 + signal)
    }
}

/// A failure of the bench, described for a person; `chronetix bench` prints it and exits with status 1.
struct BenchFailure: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}
