import Testing

@testable import ChronetixSystem

@Suite struct ProcessIdentityTests {
    @Test func parsesStartTimeAfterCommandWithSpacesAndParentheses() {
        let text = Array("4242 (we ird) name)) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 19 20".utf8)
        let status = ProcessStatus.parse(text[...])
        #expect(status?.state == UInt8(ascii: "S"))
        #expect(status?.startTime == 987654)
    }

    @Test func rejectsTruncatedStat() {
        #expect(ProcessStatus.parse(Array("1 (x) S 1 2".utf8)[...]) == nil)
        #expect(ProcessStatus.parse(Array("no parenthesis".utf8)[...]) == nil)
    }

    @Test func currentProcessIsAlive() {
        let me = ProcessIdentity.current
        #expect(me.isAlive)
        #expect(ProcessIdentity.of(pid: me.pid) == me)
        var stranger = me
        stranger.startTime &+= 1
        #expect(!stranger.isAlive, "a pid with another start time is another process")
    }

    @Test func usageCountsThisProcesssCPUTimeAndMemory() throws {
        let before = try #require(ProcessIdentity.current.usage)
        #expect(before.residentBytes > 1 << 20, "a Swift test process is resident in more than 1 MiB")
        // Burn at least 50 ms of CPU (measured by the kernel, at its tick resolution).
        var spin: UInt64 = 0
        while (ProcessIdentity.current.usage?.cpuNanoseconds ?? 0) < before.cpuNanoseconds + 50_000_000 { spin &+= 1 }
        #expect(spin > 0)
        // Another start time is another process: no figures.
        #expect(ProcessIdentity(pid: FileSystem.currentProcessID(), startTime: ProcessIdentity.current.startTime &+ 1).usage == nil)
    }
}
