public import ChronetixSystem
import ShmDataPort

/// Where one run's kernel objects live, written and read in this one place: the coordinator names them
/// with it, and stale-run cleanup (`chronetix gc`, the next run) recognises them with it.
///
/// - run id: `<flow>-<8 hex digits>` (the flow name: lowercase letters, digits, `-`);
/// - run directory: `$TMPDIR/chronetix-<run id>/` (mode 0700), holding the bus socket `bus.sock`;
/// - ring segments: `/chronetix.<run id>.<node>.<output>` in `/dev/shm`, one per data edge.
public struct RunLayout: Hashable, Sendable {
    /// The run id.
    public let run: String
    /// The flow's name (the run id without its suffix).
    public let flow: String
    /// The temporary directory the run directory is made in.
    public let temporaryDirectory: String

    /// A new run of `flow`, with a random suffix.
    /// - Parameter temporaryDirectory: `$TMPDIR` (or `/tmp`) unless given.
    public init(newRunOf flow: String, temporaryDirectory: String = FileSystem.temporaryDirectory) {
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        self.init(validRun: "\(flow)-\(String(repeating: "0", count: 8 - suffix.count))\(suffix)", flow: flow, temporaryDirectory: temporaryDirectory)
    }

    /// The layout of run `run`; nil when `run` is not a run id.
    public init?(run: String, temporaryDirectory: String = FileSystem.temporaryDirectory) {
        guard let flow = Self.flow(ofRunID: run[...]) else { return nil }
        self.init(validRun: run, flow: String(flow), temporaryDirectory: temporaryDirectory)
    }

    private init(validRun run: String, flow: String, temporaryDirectory: String) {
        self.run = run
        self.flow = flow
        self.temporaryDirectory = temporaryDirectory
    }

    /// `$TMPDIR/chronetix-<run id>`.
    public var directory: String { "\(temporaryDirectory)/\(Self.directoryPrefix)\(run)" }
    /// The bus socket in the run directory.
    public var socketPath: String { "\(directory)/\(Self.socketName)" }

    /// The ring segment of the data edge leaving `node`'s `output`.
    public func ringName(node: String, output: String) -> String {
        RingName.forEdge(runID: run, node: node, output: output)
    }

    /// The name of a run directory's socket.
    public static let socketName = "bus.sock"
    static let directoryPrefix = "chronetix-"

    // MARK: - Recognising

    /// The run id in a run directory's name (`chronetix-<run id>`); nil for any other name.
    public static func runID(ofDirectoryName name: String) -> String? {
        guard name.hasPrefix(directoryPrefix) else { return nil }
        let run = name.dropFirst(directoryPrefix.count)
        return flow(ofRunID: run) == nil ? nil : String(run)
    }

    /// The run id in a run's ring segment name (`/chronetix.<run id>.<node>.<output>`); nil for any other
    /// name (another program's ring with the Chronetix prefix, such as a test's or a bench's).
    public static func runID(ofRingName name: String) -> String? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, "\(parts[0])." == RingName.prefix, flow(ofRunID: parts[1]) != nil, !parts[2].isEmpty, !parts[3].isEmpty
        else { return nil }
        return String(parts[1])
    }

    /// The flow name of a run id, or nil when `text` is not one.
    static func flow(ofRunID text: Substring) -> Substring? {
        guard let dash = text.lastIndex(of: "-") else { return nil }
        let flow = text[..<dash]
        let suffix = text[text.index(after: dash)...]
        let isFlow = !flow.isEmpty && flow.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-" }
        let isSuffix = suffix.count == 8 && suffix.allSatisfy { ($0 >= "0" && $0 <= "9") || ($0 >= "a" && $0 <= "f") }
        return isFlow && isSuffix ? flow : nil
    }
}
