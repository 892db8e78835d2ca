import ChronetixSystem
import Foundation
import ShmDataPort
import Testing

/// `chronetix gc`'s judgement, on this process's own test segments only.
@Suite(.serialized)
struct StaleSegmentsTests {
    /// This suite's own prefix: the leak check of RingBehaviourTests runs in parallel and must not see these.
    static let prefix = "/chronetix.gc\(ProcessIdentity.current.pid)"

    /// Overwrites `bytes` at `offset` of segment `name` through a fresh writable mapping.
    static func poke(_ name: String, offset: Int, _ value: UInt64) throws {
        let descriptor = try SharedMemory.open(name: name)
        let region = try MappedRegion(mapping: descriptor, length: 4096)
        unsafe region.unsafeBase.storeBytes(of: value, toByteOffset: offset, as: UInt64.self)
    }

    func finding(_ name: String) throws -> StaleSegments.Finding? {
        try StaleSegments.scan(prefix: Self.prefix + "-").first { $0.name == name }
    }

    @Test func aRingWhoseOwnerLivesIsLeftAlone() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
        #expect(try finding(ring.name)?.verdict == .live(owner: ProcessIdentity.current))
    }

    @Test func aRingWhoseOwnerIsGoneIsRemoved() throws {
        let ring = try TestRing(RingConfiguration(dataCapacity: 4096), prefix: Self.prefix)
        // owner_start_time (offset 72): the same pid with another start time is another, dead, process.
        try Self.poke(ring.name, offset: 72, ProcessIdentity.current.startTime &+ 1)
        let found = try #require(try finding(ring.name))
        guard case .stale(let reason) = found.verdict else {
            Issue.record("expected stale, got \(found.verdict)")
            return
        }
        #expect(reason.contains("gone"))
        let outcome = StaleSegments.remove([found])
        #expect(outcome.removed.map(\.name) == [ring.name])
        #expect(outcome.failed.isEmpty)
        #expect(try !TestRing.leftovers(prefix: Self.prefix).contains(ring.name))
    }

    @Test func somethingWithOurPrefixButNotOurMagicIsNeverRemoved() throws {
        let name = Self.prefix + "-foreign.x.y"
        defer { try? SharedMemory.unlink(name: name) }  // the test's own object; gone already is fine
        do {
            let descriptor = try SharedMemory.create(name: name, size: 4096)
            let region = try MappedRegion(mapping: descriptor, length: 4096)
            unsafe region.unsafeBase.storeBytes(of: 0x1234_5678 as UInt64, as: UInt64.self)
        }
        let small = Self.prefix + "-small.x.y"
        defer { try? SharedMemory.unlink(name: small) }  // as above
        _ = try SharedMemory.create(name: small, size: 100)
        let findings = try StaleSegments.scan(prefix: Self.prefix + "-")
        for name in [name, small] {
            let found = try #require(findings.first { $0.name == name })
            guard case .unrecognized = found.verdict else {
                Issue.record("\(name): expected unrecognized, got \(found.verdict)")
                continue
            }
        }
        #expect(StaleSegments.remove(findings.filter { [name, small].contains($0.name) }).removed.isEmpty)
        #expect(try TestRing.leftovers(prefix: Self.prefix).contains(name))
    }

    @Test func aFreshUninitialisedSegmentIsGivenTimeToBeInitialised() throws {
        let name = Self.prefix + "-fresh.x.y"
        defer { try? SharedMemory.unlink(name: name) }  // the test's own object; gone already is fine
        _ = try SharedMemory.create(name: name, size: 8192)
        let found = try #require(try finding(name))
        guard case .unrecognized(let reason) = found.verdict else {
            Issue.record("expected unrecognized, got \(found.verdict)")
            return
        }
        #expect(reason.contains("not initialised"))
    }

    /// `/dev/shm` is world-writable: a FIFO with our prefix once hung every scan (shm_open blocked for a writer),
    /// and a symbolic link was followed. Each is opened without blocking or following, judged, and left alone;
    /// so are a directory and another user's file. An empty segment (its creator died between shm_open and
    /// ftruncate) older than the grace period is stale.
    @Test(.timeLimit(.minutes(1)))
    func whatIsNotOurRegularFileIsReportedAndAnEmptyOldSegmentIsStale() throws {
        let directory = SharedMemory.directory + "/" + Self.prefix.dropFirst()
        let fifo = directory + "-fifo.x.y"
        let link = directory + "-link.x.y"
        let folder = directory + "-dir.x.y"
        let foreign = directory + "-foreign-user.x.y"
        let empty = Self.prefix + "-empty.x.y"
        defer {
            // The test's own objects; any already gone is fine.
            for path in [fifo, link, folder, foreign] { try? FileManager.default.removeItem(atPath: path) }
            try? SharedMemory.unlink(name: empty)
        }
        #expect(mkfifo(fifo, 0o600) == 0, "mkfifo: \(errno)")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: fifo)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        #expect(FileManager.default.createFile(atPath: foreign, contents: Data(count: 4096)))
        let isRoot = FileSystem.currentUserID() == 0
        // Only root can give a file away; as another user the file is ours, and judged as a small foreign ring.
        if isRoot { #expect(chown(foreign, 65534, 65534) == 0, "chown: \(errno)") }
        _ = try SharedMemory.create(name: empty, size: 0)

        let started = ContinuousClock.now
        // Grace -1 s: the empty segment made a moment ago counts as old (ctime cannot be set back).
        let findings = try StaleSegments.scan(prefix: Self.prefix + "-", uninitializedGraceSeconds: -1)
        #expect(ContinuousClock.now - started < .seconds(5), "the scan must not block")
        func reason(_ path: String) -> String? {
            guard case .unrecognized(let reason)? = findings.first(where: { $0.name == "/" + path.split(separator: "/").last! })?.verdict
            else { return nil }
            return reason
        }
        #expect(reason(fifo)?.contains("a FIFO") == true, "\(findings)")
        #expect(reason(link)?.contains("a symbolic link") == true, "\(findings)")
        #expect(reason(folder)?.contains("a directory") == true, "\(findings)")
        if isRoot { #expect(reason(foreign)?.contains("owned by user 65534") == true, "\(findings)") }
        let emptyFinding = try #require(findings.first { $0.name == empty })
        guard case .stale(let why) = emptyFinding.verdict else {
            Issue.record("expected stale, got \(emptyFinding.verdict)")
            return
        }
        #expect(why.contains("0 bytes"))
        // Within the grace period it is left alone.
        let young = try #require(try StaleSegments.scan(prefix: Self.prefix + "-").first { $0.name == empty })
        guard case .unrecognized = young.verdict else {
            Issue.record("expected unrecognized within the grace period, got \(young.verdict)")
            return
        }
        let outcome = StaleSegments.remove(findings)
        #expect(outcome.removed.map(\.name) == [empty])
        #expect(outcome.failed.isEmpty)
        for path in [fifo, folder, foreign] { #expect(FileManager.default.fileExists(atPath: path), "\(path) must be left alone") }
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == fifo)
    }
}
