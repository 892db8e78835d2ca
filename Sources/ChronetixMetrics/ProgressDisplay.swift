import ChronetixRuntime
import ChronetixSystem
import Synchronization

/// The live progress of a run in a terminal: one line per edge (and, verbose, one per node), redrawn in
/// place four times a second from the workers' latest snapshots, and erased by ``stop()`` before the summary.
///
/// The caller decides whether to show it at all (only when standard output is a terminal); this type only
/// draws. Redrawing moves the cursor up over the lines drawn last time and clears to the end of the screen
/// (`ESC [ n A`, `ESC [ J`), so each line is cut to the terminal's width: a wrapped line would throw the count off.
// @unchecked Sendable: `thread` is set once in `init` and taken once, by the one `stop()` call that wins the
// `isStopping` exchange; everything else is immutable, atomic, or used by the thread alone.
public final class ProgressDisplay: @unchecked Sendable {
    /// How often the lines are redrawn, in milliseconds.
    public static let intervalMilliseconds: Int32 = 250

    private let metrics: RunMetrics
    private let showsNodes: Bool
    private let columns: Int
    private let write: @Sendable (String) -> Void
    private let isStopping = Atomic<Bool>(false)
    private let notifier: EventNotifier
    private var thread: SystemThread? = nil
    /// Lines on the screen now.
    private let drawn = Mutex<Int>(0)

    /// Starts redrawing.
    /// - Parameters:
    ///   - metrics: Where the figures come from.
    ///   - showsNodes: Also a line per node (`--verbose`).
    ///   - columns: The terminal's width; lines are cut to one less.
    ///   - write: Writes to the terminal (standard output), unbuffered.
    /// - Throws: `Errno` when the thread or its wake-up eventfd cannot be made.
    public init(metrics: RunMetrics, showsNodes: Bool, columns: Int, write: @escaping @Sendable (String) -> Void) throws {
        self.metrics = metrics
        self.showsNodes = showsNodes
        self.columns = max(20, columns)
        self.write = write
        notifier = try EventNotifier()
        var started: SystemThread? = try SystemThread(name: "cx progress") { [self] in loop() }
        thread = started.take()
    }

    /// Stops redrawing and erases the lines. Safe to call twice.
    public func stop() {
        guard !isStopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        notifier.notify()
        let running = thread.take()
        running?.join()
        drawn.withLock { count in
            if count > 0 { write(Self.moveUp(count)) }
            count = 0
        }
    }

    private func loop() {
        guard var epoll = try? Epoll(capacity: 1) else { return }  // no progress lines rather than a failed run
        do {
            try epoll.add(notifier.descriptor, events: .readable, data: 0)
        } catch {
            return  // no progress lines rather than a failed run
        }
        while !isStopping.load(ordering: .acquiring) {
            _ = try? epoll.wait(timeoutMilliseconds: Self.intervalMilliseconds)  // EINTR: redraw early
            guard !isStopping.load(ordering: .acquiring) else { break }
            let lines = Self.lines(edges: metrics.edges, nodes: showsNodes ? metrics.nodes : [], columns: columns)
            drawn.withLock { count in
                write((count > 0 ? Self.moveUp(count) : "") + lines.map { $0 + "\n" }.joined())
                count = lines.count
            }
        }
    }

    /// Back to the first line drawn, and clear from there to the end of the screen.
    static func moveUp(_ count: Int) -> String { "\u{1B}[\(count)A\r\u{1B}[J" }

    /// The progress lines: per edge `KEY  frames  N f/s  M MB/s  p99 T  drops D  late L`, then per node.
    /// - Parameters:
    ///   - edges: The edges' figures.
    ///   - nodes: The nodes' figures (empty unless verbose).
    ///   - columns: Each line is cut to one less than this.
    /// - Returns: The lines, without line feeds.
    public static func lines(edges: [RunMetrics.EdgeFigures], nodes: [RunMetrics.NodeFigures], columns: Int) -> [String] {
        let width = edges.map(\.key.count).max() ?? 0
        var lines = edges.map { edge in
            let key = edge.key + String(repeating: " ", count: width - edge.key.count)
            var line = "\(key)  \(pad(String(edge.frames), 9)) frames \(pad(rate(edge.framesPerSecond), 7)) f/s"
            line += " \(pad(megabytes(edge.bytesPerSecond), 6)) MB/s  p99 \(pad(duration(edge.latency.p99), 8))"
            line += "  drops \(edge.drops)  late \(edge.deadlineMisses)"
            return line
        }
        for node in nodes {
            var line = "node \(node.node) (\(node.kind)): \(node.framesIn) in, \(node.framesOut) out, \(node.errors) errors"
            if node.processing.count > 0 { line += ", batch p99 \(duration(node.processing.p99))" }
            lines.append(line)
        }
        return lines.map { $0.count < columns ? $0 : String($0.prefix(columns - 1)) }
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    static func rate(_ value: Double) -> String { String(Int(value.rounded())) }

    /// Bytes per second as megabytes (10^6) per second with one decimal.
    static func megabytes(_ bytesPerSecond: Double) -> String {
        let tenths = Int((bytesPerSecond / 100_000).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// `84.0 µs`, `1.3 ms`, `2.1 s`.
    static func duration(_ nanoseconds: UInt64) -> String {
        func oneDecimal(_ value: UInt64, _ unit: UInt64) -> String {
            let tenths = (value * 10 + unit / 2) / unit
            return "\(tenths / 10).\(tenths % 10)"
        }
        if nanoseconds < 1_000_000 { return oneDecimal(nanoseconds, 1_000) + " µs" }
        if nanoseconds < 1_000_000_000 { return oneDecimal(nanoseconds, 1_000_000) + " ms" }
        return oneDecimal(nanoseconds, 1_000_000_000) + " s"
    }
}
