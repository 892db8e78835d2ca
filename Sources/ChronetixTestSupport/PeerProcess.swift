public import ChronetixSystem
public import Foundation
import Glibc
import Synchronization
import Testing

/// One helper process (`chronetix-ring-peer`, `chronetix-bus-peer`), started by a cross-process test.
///
/// Every test ends its peers with ``stop()`` in a `defer` (SIGKILL if still running, then wait until it has
/// exited), so a failing test leaves no process behind; `deinit` does the same as a backstop, and the peer
/// itself asks for SIGKILL when its parent dies.
open class PeerProcess {
    /// One line the peer printed: `ATTACHED`, `READY`, `RESULT` or `ERROR`, and its `key=value` fields.
    public struct Line: CustomStringConvertible {
        public var kind: String
        public var text: String
        public var fields: [String: String]
        /// The words after the kind.
        public var words: [String] { text.split(separator: " ").dropFirst().map(String.init) }

        public init(_ text: String) {
            self.text = text
            let words = text.split(separator: " ")
            kind = words.first.map(String.init) ?? ""
            fields = [:]
            for word in words.dropFirst() {
                guard let equals = word.firstIndex(of: "=") else { continue }
                fields[String(word[..<equals])] = String(word[word.index(after: equals)...])
            }
        }

        /// A numeric field, or `nil` when absent or not a number (`first=none`).
        public subscript(_ key: String) -> UInt64? { fields[key].flatMap { UInt64($0) } }

        public var description: String { text }
    }

    /// A helper executable beside the test bundle in the build directory (as in CLITests).
    public static func executable(named name: String) -> URL {
        // Fall back to argv[0] if /proc/self/exe cannot be read.
        let bundle =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: bundle).deletingLastPathComponent().appendingPathComponent(name)
    }

    /// Every peer this test process started, so the suite can check that none outlived its test.
    private static let started = Mutex<[ProcessIdentity]>([])

    /// The peers started by this process that still run.
    public static func survivors() -> [ProcessIdentity] {
        started.withLock { $0.filter(\.isAlive) }
    }

    public let arguments: [String]
    private let process = Process()
    private let output = Pipe()
    private let input: Pipe?
    private var buffered: [UInt8] = []
    private var isOutputClosed = false

    /// Starts `executable` (a name beside the test bundle) with `arguments`; its stderr goes to the
    /// test's, for diagnostics.
    /// - Parameters:
    ///   - executable: The helper's name, such as `chronetix-bus-peer`.
    ///   - arguments: Its arguments.
    ///   - keepsInputOpen: Whether the peer's stdin is a pipe the test closes with ``closeInput()``
    ///     (otherwise `/dev/null`).
    public init(executable: String, _ arguments: [String], keepsInputOpen: Bool = false) throws {
        self.arguments = arguments
        input = keepsInputOpen ? Pipe() : nil
        process.executableURL = Self.executable(named: executable)
        process.arguments = arguments
        process.standardOutput = output
        if let input { process.standardInput = input } else { process.standardInput = FileHandle.nullDevice }
        try process.run()
        // A peer that already exited has no identity left to record, and nothing to clean up.
        if let identity = ProcessIdentity.of(pid: process.processIdentifier) {
            Self.started.withLock { $0.append(identity) }
        }
    }

    /// Closes the peer's stdin (the signal some peers wait for).
    public func closeInput() {
        try? input?.fileHandleForWriting.close()  // closing twice is harmless here
    }

    /// The peer's process id.
    public var pid: Int32 { process.processIdentifier }

    /// Waits up to `timeout` for the next line whose kind is one of `kinds` (or `ERROR`, always), skipping
    /// others. Returns `nil` when the peer's output ends or the time runs out first.
    public func next(_ kinds: Set<String>, within timeout: Duration = .seconds(30)) -> Line? {
        let deadline = ContinuousClock.now + timeout
        while true {
            while let newline = buffered.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Line(String(decoding: buffered[..<newline], as: UTF8.self))
                buffered.removeSubrange(...newline)
                if kinds.contains(line.kind) || line.kind == "ERROR" { return line }
            }
            guard !isOutputClosed, readMore(until: deadline) else { return nil }
        }
    }

    /// Waits for the peer's `RESULT` line (or another of `kinds`, or `ERROR`), then for the process to exit.
    /// - Returns: The line (`nil` if none came in time) and the exit status (`nil` if it did not exit in time,
    ///   in which case it is killed).
    public func finish(
        _ kinds: Set<String> = ["RESULT"],
        within timeout: Duration = .seconds(30)
    ) -> (line: Line?, status: Int32?) {
        let line = next(kinds, within: timeout)
        guard waitForExit(within: .seconds(10)) else {
            stop()
            return (line, nil)
        }
        return (line, process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus)
    }

    /// Kills the peer if it still runs (SIGKILL) and waits until it has exited.
    public func stop() {
        if process.isRunning {
            // ESRCH: it exited between the check and the signal, which is what we want anyway.
            _ = kill(process.processIdentifier, SIGKILL)
        }
        if !waitForExit(within: .seconds(10)) {
            Issue.record("\(process.executableURL?.lastPathComponent ?? "peer") \(pid) (\(arguments.joined(separator: " "))) did not exit after SIGKILL")
        }
    }

    deinit {
        closeInput()
        stop()
    }

    /// The exit status once the peer has exited within `timeout` (128 + signal for a signal), else `nil`.
    public func exitStatus(within timeout: Duration) -> Int32? {
        guard waitForExit(within: timeout) else { return nil }
        return process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
    }

    /// Polls until the process has exited (Foundation reaps it on its own queue); whether it did in time.
    private func waitForExit(within timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return false }
            usleep(1000)
        }
        // Returns at once now; it also drops the run-loop source through which a launched Process retains
        // itself, which would otherwise leak every Process (LeakSanitizer reports it).
        process.waitUntilExit()
        return true
    }

    /// Reads what is available on the peer's stdout, waiting with poll(2) until `deadline`.
    /// Returns `false` when the deadline passed or the output ended.
    private func readMore(until deadline: ContinuousClock.Instant) -> Bool {
        let remaining = deadline - ContinuousClock.now
        guard remaining > .zero else { return false }
        let (seconds, attoseconds) = remaining.components
        let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
        let descriptor = output.fileHandleForReading.fileDescriptor
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&entry, 1, milliseconds)
        if ready < 0 { return errno == EINTR }
        if ready == 0 { return false }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let count = read(descriptor, &chunk, chunk.count)
        if count < 0 { return errno == EINTR || errno == EAGAIN }
        if count == 0 {
            isOutputClosed = true
            return false
        }
        buffered += chunk[..<count]
        return true
    }
}
