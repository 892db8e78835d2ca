import ChronetixSystem
import Foundation
import Testing

/// A finished `chronetix run`: its status, output and `--summary-json` document.
struct FlowRunResult {
    var status: Int32
    var output: String
    var standardError: String
    var summary: [String: Any]

    func node(_ id: String) -> [String: Any] {
        ((summary["nodes"] as? [String: Any])?[id] as? [String: Any]) ?? [:]
    }

    func edge(_ key: String) -> [String: Any] {
        ((summary["edges"] as? [String: Any])?[key] as? [String: Any]) ?? [:]
    }

    /// Runs `chronetix run ARGUMENTS --summary-json …` to its end and checks that nothing of flow `flow`
    /// is left behind.
    /// - Parameter workingDirectory: Where the coordinator runs (default: the repository's root).
    static func run(_ arguments: [String], flow: String, expectSummary: Bool = true, workingDirectory: URL? = nil)
        throws -> FlowRunResult
    {
        let coordinator = try RunningCoordinator(arguments: arguments, flow: flow, workingDirectory: workingDirectory)
        return try coordinator.finish(expectSummary: expectSummary)
    }
}

/// A `chronetix run` started in the background, whose standard output can be read line by line while it
/// runs (the attach commands).
final class RunningCoordinator: @unchecked Sendable {
    let flow: String
    let summaryPath: String
    private let process = Process()
    private let output = Pipe()
    private let error = Pipe()
    private let lock = NSLock()
    private var outputText = ""
    private var errorText = ""
    private let done = DispatchGroup()

    var pid: Int32 { process.processIdentifier }

    /// - Parameters:
    ///   - workingDirectory: Where it runs; the repository's root by default.
    ///   - closedOutput: Give the coordinator a standard output whose reader is gone from the start (a pipe
    ///     whose reading end is closed), as `chronetix run … | head` after `head` exited.
    init(arguments: [String], flow: String, workingDirectory: URL? = nil, closedOutput: Bool = false) throws {
        self.flow = flow
        summaryPath = FileManager.default.temporaryDirectory.appendingPathComponent("chronetix-summary-\(UUID()).json").path
        process.executableURL = CommandRunner.binaryDirectory.appendingPathComponent("chronetix")
        process.arguments = ["run"] + arguments + ["--summary-json", summaryPath]
        process.currentDirectoryURL = workingDirectory ?? CommandRunner.repositoryRoot
        process.standardOutput = output
        process.standardError = error
        process.standardInput = FileHandle.nullDevice
        try process.run()
        if closedOutput { try output.fileHandleForReading.close() }
        for (pipe, isOutput) in closedOutput ? [(error, false)] : [(output, true), (error, false)] {
            done.enter()
            DispatchQueue.global().async { [self] in
                let handle = pipe.fileHandleForReading
                while case let data = handle.availableData, !data.isEmpty {
                    lock.lock()
                    if isOutput { outputText += String(decoding: data, as: UTF8.self) } else { errorText += String(decoding: data, as: UTF8.self) }
                    lock.unlock()
                }
                done.leave()
            }
        }
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: summaryPath)
    }

    /// Waits for a line of standard output containing `text`.
    @discardableResult
    func waitForLine(containing text: String, timeout: Double, inStandardError: Bool = false) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            lock.lock()
            let lines = (inStandardError ? errorText : outputText).split(separator: "\n").map(String.init)
            lock.unlock()
            if text.isEmpty { return "" }
            if let line = lines.first(where: { $0.contains(text) }) { return line }
            Thread.sleep(forTimeInterval: 0.01)
        } while Date() < deadline
        throw HarnessError("no line containing \"\(text)\" within \(timeout) s; stderr: \(errorText)")
    }

    /// Waits for the coordinator to exit (at most 60 s), then checks that the run left nothing behind (unless
    /// told not to: a coordinator killed on purpose leaves its segments for the next run to clean).
    func finish(expectSummary: Bool = true, checkLeftovers: Bool = true) throws -> FlowRunResult {
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            process.interrupt()
            Thread.sleep(forTimeInterval: 2)
            process.terminate()
            throw HarnessError("chronetix run did not end within 60 s")
        }
        process.waitUntilExit()
        done.wait()
        var summary: [String: Any] = [:]
        if expectSummary {
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: summaryPath)) else {
                lock.lock()
                defer { lock.unlock() }
                throw HarnessError("no summary written (exit status \(process.terminationStatus), \(process.terminationReason == .uncaughtSignal ? "killed by a signal" : "exited")); stderr: \(errorText.suffix(4000))")
            }
            summary = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        }
        if checkLeftovers { try Leftovers.check(flow: flow) }
        lock.lock()
        defer { lock.unlock() }
        return FlowRunResult(status: process.terminationStatus, output: outputText, standardError: errorText, summary: summary)
    }
}

/// A process started in the background (a worker attached by hand), through `posix_spawn` with the default
/// signal mask and dispositions, as from a shell: Foundation's `Process` hands its child the calling
/// thread's mask, and a test thread has SIGINT and SIGTERM blocked.
final class BackgroundProcess {
    private let child: ChildProcess
    private var termination: ChildProcess.Termination?

    init(executable: String, arguments: [String]) throws {
        child = try ChildProcess(
            path: executable, arguments: arguments,
            environment: ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }, newProcessGroup: true
        )
    }

    /// Sends `signal` to it.
    func signal(_ signal: Int32) {
        if termination == nil { child.send(signal: Signal(rawValue: signal)) }
    }

    /// Waits for the exit (at most 60 s; then kills it and reports -1); the exit status, or 128 + the signal.
    func wait() -> Int32 {
        let deadline = Date().addingTimeInterval(60)
        while termination == nil && Date() < deadline {
            termination = try? child.poll()
            if termination == nil { Thread.sleep(forTimeInterval: 0.01) }
        }
        guard let termination else {
            child.send(signal: .kill)
            termination = try? child.wait()
            return -1
        }
        switch termination {
        case .exited(let status): return status
        case .signaled(let signal): return 128 + signal.rawValue
        }
    }

    deinit {
        if termination == nil {
            child.send(signal: .kill)
            _ = try? child.wait()
        }
    }
}

/// What a run of flow `flow` may not leave behind: ring segments (`/dev/shm/chronetix.<flow>-…`), its run
/// directory (`$TMPDIR/chronetix-<flow>-…`), worker processes attached to it, programs of its `process` nodes.
enum Leftovers {
    /// The run records of flow `flow` in the runtime directory (`runs/<flow>-….cbor`).
    static func records(of flow: String) -> [String] {
        let environment = ProcessInfo.processInfo.environment
        let runtime = environment["CHRONETIX_RUNTIME_DIR"] ?? environment["XDG_RUNTIME_DIR"].map { "\($0)/chronetix" } ?? "/tmp/chronetix-\(getuid())"
        return ((try? FileManager.default.contentsOfDirectory(atPath: "\(runtime)/runs")) ?? []).filter { $0.hasPrefix("\(flow)-") }
    }

    static func check(flow: String) throws {
        let segments = try FileManager.default.contentsOfDirectory(atPath: "/dev/shm").filter { $0.hasPrefix("chronetix.\(flow)-") }
        #expect(segments.isEmpty, "ring segments left behind: \(segments)")
        let temporary = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        let directories = try FileManager.default.contentsOfDirectory(atPath: temporary).filter { $0.hasPrefix("chronetix-\(flow)-") }
        #expect(directories.isEmpty, "run directories left behind: \(directories)")
        let records = self.records(of: flow)
        #expect(records.isEmpty, "run records left behind: \(records)")
        let (workers, programs) = runningProcesses(of: flow)
        #expect(workers.isEmpty, "workers left running: \(workers)")
        #expect(programs.isEmpty, "process-node programs left running: \(programs)")
    }

    /// The processes of runs of `flow` still running, in one pass over `/proc`: workers (their command line
    /// names the run's bus) and `process` nodes' programs (they carry CHRONETIX_RUN=<run id>).
    static func runningProcesses(of flow: String) -> (workers: [String], programs: [String]) {
        var workers: [String] = []
        var programs: [String] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(entry) != nil {
            if let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") {
                let command = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
                if command.contains("chronetix-worker") && command.contains("chronetix-\(flow)-") {
                    workers.append("\(entry): \(command)")
                    continue
                }
            }
            guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { continue }
            let variables = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if variables.contains(where: { $0.hasPrefix("CHRONETIX_RUN=\(flow)-") }) { programs.append(entry) }
        }
        return (workers, programs)
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
