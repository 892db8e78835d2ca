import ChronetixCore
import Testing

/// Lines out of chunks that cut them anywhere, with a bound on what is held.
struct LineAssemblerTests {
    @Test func linesSplitAcrossChunksComeOutWhole() {
        var lines: [String] = []
        var assembler = LineAssembler(limit: 100)
        for chunk in ["fir", "st\nsec", "ond\n\nthi", "rd"] { assembler.append(chunk.utf8) { lines.append($0) } }
        #expect(lines == ["first", "second", ""])
        assembler.finish { lines.append($0) }
        #expect(lines == ["first", "second", "", "third"])
        assembler.finish { lines.append($0) }
        #expect(lines.count == 4, "nothing is left after finish")
    }

    @Test func aLineWithoutNewlineIsCutAtTheLimit() {
        var lines: [String] = []
        var assembler = LineAssembler(limit: 4)
        assembler.append("abcdefghij\nk".utf8) { lines.append($0) }
        assembler.finish { lines.append($0) }
        #expect(lines == ["abcd", "efgh", "ij", "k"])
    }

    @Test func invalidUTF8IsRepairedNotDropped() {
        var lines: [String] = []
        var assembler = LineAssembler(limit: 16)
        assembler.append([0x61, 0xFF, 0x62, 0x0A]) { lines.append($0) }
        #expect(lines == ["a\u{FFFD}b"])
    }
}
