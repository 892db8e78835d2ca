import ChronetixSystem
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
}
