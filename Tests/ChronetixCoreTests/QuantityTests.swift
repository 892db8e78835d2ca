import ChronetixCore
import Testing

@Suite struct QuantityTests {
    @Test(arguments: [
        ("50ms", 50_000_000 as UInt64), ("1.5s", 1_500_000_000), ("0ns", 0), ("2m", 120_000_000_000), ("250us", 250_000),
        ("1.5us", 1_500), (" 7ns ", 7),
    ])
    func parsesDurations(_ text: String, _ nanoseconds: UInt64) throws {
        #expect(try Quantity.parseDuration(text) == nanoseconds)
    }

    @Test(arguments: [
        ("50", Quantity.Problem.missingUnit(number: "50")), ("5sec", .unknownUnit("sec")), ("", .empty),
        ("ms", .malformedNumber("ms")), ("1.5ns", .notWhole("1.5ns")), ("1..5ms", .malformedNumber("1..5ms")),
        ("99999999999999999999s", .tooLarge("99999999999999999999s")), ("-5ms", .malformedNumber("-5ms")),
    ])
    func refusesBadDurations(_ text: String, _ problem: Quantity.Problem) {
        #expect(throws: problem) { try Quantity.parseDuration(text) }
    }

    @Test(arguments: [("1MiB", 1 << 20 as UInt64), ("4096B", 4096), ("64KiB", 65536), ("2GiB", 2 << 30)])
    func parsesSizes(_ text: String, _ bytes: UInt64) throws {
        #expect(try Quantity.parseSize(text) == bytes)
    }

    @Test func refusesFractionalAndUnknownSizes() {
        #expect(throws: Quantity.Problem.notWhole("1.5MiB")) { try Quantity.parseSize("1.5MiB") }
        #expect(throws: Quantity.Problem.unknownUnit("MB")) { try Quantity.parseSize("1MB") }
        #expect(throws: Quantity.Problem.tooLarge("99999999999GiB")) { try Quantity.parseSize("99999999999GiB") }
    }

    @Test func formatsInTheLargestExactUnit() {
        #expect(Quantity.formatDuration(50_000_000) == "50ms")
        #expect(Quantity.formatDuration(1_500_000) == "1500us")
        #expect(Quantity.formatDuration(0) == "0ns")
        #expect(Quantity.formatSize(1 << 20) == "1MiB")
        #expect(Quantity.formatSize(1536) == "1536B")
    }
}
