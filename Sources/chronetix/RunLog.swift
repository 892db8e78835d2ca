import ChronetixCore
import Foundation
import Logging
import Synchronization

/// The log of a `chronetix run`, through swift-log: every line names the run, and the node and its worker's
/// pid when it is about one, on standard error:
///
///     2026-11-22T02:40:52.123Z warning run=rs-manual-4a877b4d node=relay pid=16661: failed (…); restart 1 in 50 ms
///
/// The workers' standard error is captured into it (``WorkerLogCapture``), so a worker's lines carry the same
/// run and node labels as the coordinator's own.
struct RunLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    /// Where finished lines go; standard error in a run, a buffer in a test.
    let write: @Sendable (String) -> Void

    init(write: @escaping @Sendable (String) -> Void = RunLogHandler.standardError) {
        self.write = write
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        write(Self.line(level: event.level, message: "\(event.message)", metadata: merged, time: Date()))
    }

    /// `TIME LEVEL run=… node=… pid=… other=…: MESSAGE`: run, node and pid first, the rest sorted.
    static func line(level: Logger.Level, message: String, metadata: Logger.Metadata, time: Date) -> String {
        var fields: [String] = []
        for key in ["run", "node", "pid"] {
            if let value = metadata[key] { fields.append("\(key)=\(value)") }
        }
        for key in metadata.keys.sorted() where !["run", "node", "pid"].contains(key) {
            fields.append("\(key)=\(metadata[key]!)")
        }
        let stamp = time.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
        return "\(stamp) \(level) \(fields.joined(separator: " ")): \(message)\n"
    }

    /// Writes a whole line to standard error at once (lines of concurrent threads never interleave).
    @Sendable static func standardError(_ text: String) {
        lock.withLock { _ in StandardError.write(text) }
    }

    private static let lock = Mutex(())
}

/// Reads a worker's standard error (a pipe) on a thread of its own, one log line per line it writes, labelled
/// with its node and pid, until the worker and everything in its process group closed the pipe.
final class WorkerLogCapture: Sendable {
    private let finished = DispatchSemaphore(value: 0)

    /// Starts reading `descriptor` (taken over: closed at its end).
    init(descriptor: Int32, node: String, pid: Int32, logger: Logger) {
        var logger = logger
        logger[metadataKey: "node"] = "\(node)"
        logger[metadataKey: "pid"] = "\(pid)"
        // A worker writes `chronetix-worker[NODE]: ` before its lines (for a terminal, when attached by
        // hand); the labels say that here.
        let prefix = "chronetix-worker[\(node)]: "
        let finished = finished
        let thread = Thread { [logger] in
            let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            // A worker's lines are at most a program's 4 KiB line and two prefixes; longer ones come in pieces.
            var lines = LineAssembler(limit: 8192)
            while case let data = handle.availableData, !data.isEmpty {
                lines.append(data) { Self.log($0, prefix: prefix, logger) }
            }
            lines.finish { Self.log($0, prefix: prefix, logger) }
            finished.signal()
        }
        thread.name = "chronetix log \(node)"
        thread.start()
    }

    private static func log(_ line: String, prefix: String, _ logger: Logger) {
        logger.info("\(line.hasPrefix(prefix) ? line.dropFirst(prefix.count) : line[...])")
    }

    /// Waits until the worker's standard error ended, at most `milliseconds`: a process that escaped its
    /// worker's group and holds the pipe does not hold up the run's end.
    /// - Returns: Whether it ended.
    @discardableResult
    func wait(milliseconds: Int) -> Bool {
        finished.wait(timeout: .now() + .milliseconds(milliseconds)) == .success
    }
}
