import ArgumentParser
import ChronetixCoordinator
import ChronetixSystem
import ShmDataPort

struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Removes shared-memory segments and run directories left behind by Chronetix runs whose owner died.",
        discussion: """
            Looks at every /dev/shm entry named chronetix.*, reads its ring header, and removes it only if it \
            is a Chronetix ring whose owning process (pid and start time) no longer runs, or a segment that \
            was never initialised and is more than a minute old. Live rings and anything it does not \
            recognise are listed and left alone.

            Then it looks at every $TMPDIR/chronetix-<run> directory of this user and removes those whose bus \
            socket has no listener (the coordinator is gone), or that have been empty for a minute, and the \
            records of runs whose coordinator is gone (the runtime directory's runs/). `chronetix run` does all \
            three before it starts.
            """
    )

    @Flag(help: "Say what would be removed without removing anything.")
    var dryRun = false

    @Flag(name: .shortAndLong, help: "Also list the segments that are left alone.")
    var verbose = false

    func run() throws {
        let findings: [StaleSegments.Finding]
        do {
            findings = try StaleSegments.scan()
        } catch {
            throw RuntimeFailure("cannot list /dev/shm: \(error)")
        }
        let stale = findings.filter { if case .stale = $0.verdict { true } else { false } }
        var failures = 0
        if dryRun {
            for finding in stale { print("would remove \(finding.name): \(Self.reason(finding))") }
        } else {
            let outcome = StaleSegments.remove(stale)
            for finding in outcome.removed { print("removed \(finding.name): \(Self.reason(finding))") }
            for (finding, error) in outcome.failed {
                print("could not remove \(finding.name): \(error)")
                failures += 1
            }
        }
        var live = 0
        var unrecognized = 0
        for finding in findings {
            switch finding.verdict {
            case .stale: continue
            case .live(let owner):
                live += 1
                if verbose { print("left \(finding.name): in use by its owner, \(owner)") }
            case .unrecognized(let reason):
                unrecognized += 1
                if verbose { print("left \(finding.name): \(reason)") }
            }
        }
        let verb = dryRun ? "would remove" : "removed"
        print(
            "\(verb) \(Self.counted(stale.count - failures, "stale segment")); left \(live) live and \(unrecognized) unrecognised"
        )
        failures += try collectRunDirectories()
        collectRunRecords()
        if failures > 0 { throw ExitCode(1) }
    }

    /// The records (runtime directory, `runs/`) of runs whose coordinator is gone.
    private func collectRunRecords() {
        let records = RunRecords()
        if dryRun {
            for case .record(let record) in records.entries() where !record.isLive {
                print("would remove the record of run \(record.run): its coordinator (pid \(record.pid)) is gone")
            }
        } else {
            for line in records.removeStale() { print(line) }
        }
    }

    /// The run directories (`$TMPDIR/chronetix-<run>/`) of coordinators that are gone.
    /// - Returns: How many could not be removed.
    private func collectRunDirectories() throws -> Int {
        let findings: [StaleRuns.Finding]
        do {
            findings = try StaleRuns.scan()
        } catch {
            throw RuntimeFailure("cannot look at the run directories in \(FileSystem.temporaryDirectory): \(error)")
        }
        let stale = findings.filter { if case .stale = $0.verdict { true } else { false } }
        var failures = 0
        if dryRun {
            for finding in stale {
                if case .stale(let reason) = finding.verdict { print("would remove \(finding.path): \(reason)") }
            }
        } else {
            let outcome = StaleRuns.remove(stale)
            for finding in outcome.removed {
                if case .stale(let reason) = finding.verdict { print("removed \(finding.path): \(reason)") }
            }
            for (finding, error) in outcome.failed {
                print("could not remove \(finding.path): \(error)")
                failures += 1
            }
        }
        if verbose {
            for finding in findings {
                switch finding.verdict {
                case .stale: continue
                case .live: print("left \(finding.path): its coordinator is running")
                case .unrecognized(let reason): print("left \(finding.path): \(reason)")
                }
            }
        }
        print("\(dryRun ? "would remove" : "removed") \(Self.counted(stale.count - failures, "stale run directory", plural: "stale run directories"))")
        return failures
    }

    /// `1 stale segment`, `0 stale segments`: a count with its noun in the number it takes.
    static func counted(_ count: Int, _ singular: String, plural: String? = nil) -> String {
        "\(count) \(count == 1 ? singular : plural ?? singular + "s")"
    }

    static func reason(_ finding: StaleSegments.Finding) -> String {
        let size = finding.size.map { " (\($0) bytes)" } ?? ""
        if case .stale(let reason) = finding.verdict { return reason + size }
        return size
    }
}

/// A command failed for a reason outside the user's input; printed as `Error: …`, exit code 1.
struct RuntimeFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
