import ChronetixCore
import ChronetixNodes
import Foundation
import Testing

/// A uniquely named file under the temporary directory; the test deletes it in a `defer`.
private struct ScratchFile {
    let url: URL
    var path: String { url.path }

    /// Names a file that does not exist yet.
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("chronetix-nodes-\(UUID().uuidString)")
    }

    /// Creates the file with `bytes`.
    init(_ bytes: [UInt8]) throws {
        self.init()
        try Data(bytes).write(to: url)
    }

    init(_ text: String) throws { try self.init(Array(text.utf8)) }

    func contents() throws -> [UInt8] { Array(try Data(contentsOf: url)) }

    func remove() {
        // Ignoring the error is correct: a test that failed before creating the file leaves nothing to remove.
        try? FileManager.default.removeItem(at: url)
    }
}

@Suite struct FileReaderTests {
    static func readerConfig(_ path: String, mode: String = "lines", blockSize: Int64 = 65536) -> NodeConfig {
        NodeConfig(
            node: "reader",
            .map([.init("path", .string(path)), .init("mode", .string(mode)), .init("block_size", .integer(blockSize))])
        )
    }

    /// Every frame the reader produces until it reports the end (bounded, so a bug cannot loop forever).
    static func frames(_ reader: inout FileReaderNode, limit: Int = 100_000) throws -> [[UInt8]] {
        var output = MemoryOutput()
        var count = 0
        while try reader.produce(into: &output) {
            count += 1
            try #require(count <= limit, "the reader did not stop")
        }
        return output.frames
    }

    static func lines(of text: String) throws -> [String] {
        let file = try ScratchFile(text)
        defer { file.remove() }
        var reader = try FileReaderNode(config: readerConfig(file.path), context: NodeContext(nodeID: "reader"))
        return try frames(&reader).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func cutsOneFramePerLineWithoutTheNewline() throws {
        #expect(try Self.lines(of: "alpha\nbeta\ngamma\n") == ["alpha", "beta", "gamma"])
    }

    @Test func keepsALastLineWithoutNewline() throws {
        #expect(try Self.lines(of: "alpha\nbeta") == ["alpha", "beta"])
        #expect(try Self.lines(of: "single") == ["single"])
    }

    @Test func stripsCarriageReturnBeforeNewlineOnly() throws {
        #expect(try Self.lines(of: "a\r\nbb\r\n\r\nc\r\n") == ["a", "bb", "", "c"])
        // A \r not followed by \n is payload.
        #expect(try Self.lines(of: "x\ry\nz\r") == ["x\ry", "z\r"])
    }

    @Test func emptyLinesAreEmptyFrames() throws {
        #expect(try Self.lines(of: "\n\na\n\n") == ["", "", "a", ""])
        #expect(try Self.lines(of: "\n") == [""])
    }

    @Test func emptyFileHasNoFrames() throws {
        #expect(try Self.lines(of: "") == [])
        let file = try ScratchFile("")
        defer { file.remove() }
        var blocks = try FileReaderNode(
            config: Self.readerConfig(file.path, mode: "blocks", blockSize: 4),
            context: NodeContext(nodeID: "reader")
        )
        #expect(try Self.frames(&blocks) == [])
    }

    @Test func linesLongerThanAChunkAndAcrossChunksAreWhole() throws {
        // Lines of growing length, one longer than the 64 KiB read chunk, so line ends fall everywhere
        // relative to chunk boundaries.
        var expected: [String] = []
        for index in 0..<400 {
            expected.append(
                String(repeating: Character(Unicode.Scalar(UInt8(97 + index % 26))), count: index * 7 % 1000)
            )
        }
        expected.insert(String(repeating: "L", count: 200_000), at: 150)
        let text = expected.joined(separator: "\r\n")
        #expect(try Self.lines(of: text) == expected)
    }

    @Test func cutsBlocksOfExactMultiple() throws {
        let file = try ScratchFile(Array(0..<12))
        defer { file.remove() }
        var reader = try FileReaderNode(
            config: Self.readerConfig(file.path, mode: "blocks", blockSize: 4),
            context: NodeContext(nodeID: "reader")
        )
        #expect(try Self.frames(&reader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]])
    }

    @Test func cutsBlocksWithAShorterLastBlock() throws {
        let file = try ScratchFile(Array(0..<10))
        defer { file.remove() }
        var reader = try FileReaderNode(
            config: Self.readerConfig(file.path, mode: "blocks", blockSize: 4),
            context: NodeContext(nodeID: "reader")
        )
        #expect(try Self.frames(&reader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
        // The line ends of blocks mode are ordinary bytes.
        let text = try ScratchFile("ab\ncd\n")
        defer { text.remove() }
        var textReader = try FileReaderNode(
            config: Self.readerConfig(text.path, mode: "blocks", blockSize: 4),
            context: NodeContext(nodeID: "reader")
        )
        #expect(try Self.frames(&textReader) == [Array("ab\nc".utf8), Array("d\n".utf8)])
    }

    @Test func cutsBlocksLargerThanAChunk() throws {
        let bytes = (0..<250_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        let file = try ScratchFile(bytes)
        defer { file.remove() }
        var reader = try FileReaderNode(
            config: Self.readerConfig(file.path, mode: "blocks", blockSize: 100_000),
            context: NodeContext(nodeID: "reader")
        )
        let frames = try Self.frames(&reader)
        #expect(frames.map(\.count) == [100_000, 100_000, 50_000])
        #expect(Array(frames.joined()) == bytes)
    }

    @Test func keepsReportingTheEndAndCountsFramesAndBytes() throws {
        let file = try ScratchFile("one\r\ntwo\n")
        defer { file.remove() }
        var reader = try FileReaderNode(config: Self.readerConfig(file.path), context: NodeContext(nodeID: "reader"))
        var output = MemoryOutput()
        #expect(try reader.produce(into: &output))
        #expect(try reader.produce(into: &output))
        #expect(try !reader.produce(into: &output))
        #expect(try !reader.produce(into: &output))
        #expect(output.frames.count == 2)
        let report = reader.report()
        #expect(report.map(\.key) == ["frames", "bytes"])
        #expect(report.map(\.value) == [.integer(2), .integer(9)])
    }

    @Test func missingFileIsAClearError() throws {
        let file = ScratchFile()
        let error = #expect(throws: NodeError.self) {
            _ = try FileReaderNode(config: Self.readerConfig(file.path), context: NodeContext(nodeID: "reader"))
        }
        #expect(error?.node == "reader")
        #expect(error?.message == "cannot open '\(file.path)' for reading: ENOENT: No such file or directory")
    }

    @Test func directoryIsAClearReadError() throws {
        let directory = FileManager.default.temporaryDirectory.path
        var reader = try FileReaderNode(config: Self.readerConfig(directory), context: NodeContext(nodeID: "reader"))
        var output = MemoryOutput()
        let error = #expect(throws: NodeError.self) { _ = try reader.produce(into: &output) }
        #expect(error?.message == "cannot read '\(directory)': EISDIR: Is a directory")
    }

    @Test func rejectsAnUnknownModeAndAnEmptyPath() {
        let mode = #expect(throws: NodeError.self) {
            _ = try FileReaderNode(
                config: Self.readerConfig("/dev/null", mode: "words"),
                context: NodeContext(nodeID: "reader")
            )
        }
        #expect(mode?.message == "config key mode is 'words'; it must be lines or blocks")
        #expect(throws: NodeError.self) {
            _ = try FileReaderNode(config: Self.readerConfig(""), context: NodeContext(nodeID: "reader"))
        }
        #expect(throws: NodeError.self) {
            _ = try FileReaderNode(
                config: Self.readerConfig("/dev/null", mode: "blocks", blockSize: 0),
                context: NodeContext(nodeID: "reader")
            )
        }
    }
}

@Suite struct FileWriterTests {
    static func writerConfig(_ path: String, append: Bool = false) -> NodeConfig {
        NodeConfig(node: "writer", .map([.init("path", .string(path)), .init("append", .bool(append))]))
    }

    static func write(_ frames: [[UInt8]], to path: String, append: Bool = false) throws -> FileWriterNode {
        var writer = try FileWriterNode(
            config: writerConfig(path, append: append),
            context: NodeContext(nodeID: "writer")
        )
        for (index, frame) in frames.enumerated() {
            try writer.consume(FrameInfo(sequence: UInt64(index)), unsafe frame.span.bytes)  // a byte array's bytes
        }
        try writer.finish()
        return writer
    }

    @Test func writesPayloadsBackToBackAndReportsCounts() throws {
        let file = ScratchFile()
        defer { file.remove() }
        let frames: [[UInt8]] = [Array("hello".utf8), [], Array(" world\n".utf8), Array(0...255)]
        let writer = try Self.write(frames, to: file.path)
        #expect(try file.contents() == Array(frames.joined()))
        #expect(writer.report().map(\.value) == [.integer(4), .integer(268)])
    }

    @Test func writesPayloadsLargerThanTheBuffer() throws {
        let file = ScratchFile()
        defer { file.remove() }
        let big = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let frames = [Array(big[..<70_000]), [1, 2, 3], Array(big[70_000...])]
        _ = try Self.write(frames, to: file.path)
        #expect(try file.contents() == Array(frames.joined()))
    }

    @Test func truncatesAnExistingFileUnlessAppending() throws {
        let file = try ScratchFile("old contents")
        defer { file.remove() }
        _ = try Self.write([Array("new".utf8)], to: file.path)
        #expect(try file.contents() == Array("new".utf8))
        _ = try Self.write([Array("er".utf8), Array("!".utf8)], to: file.path, append: true)
        #expect(try file.contents() == Array("newer!".utf8))
    }

    @Test func appendingCreatesAMissingFile() throws {
        let file = ScratchFile()
        defer { file.remove() }
        _ = try Self.write([Array("first".utf8)], to: file.path, append: true)
        #expect(try file.contents() == Array("first".utf8))
    }

    @Test func roundTripsAFileThroughTheReader() throws {
        let bytes = (0..<150_001).map { UInt8(truncatingIfNeeded: $0 ^ ($0 >> 5)) }
        let source = try ScratchFile(bytes)
        let copy = ScratchFile()
        defer {
            source.remove()
            copy.remove()
        }
        var reader = try FileReaderNode(
            config: FileReaderTests.readerConfig(source.path, mode: "blocks", blockSize: 4096),
            context: NodeContext(nodeID: "reader")
        )
        _ = try Self.write(try FileReaderTests.frames(&reader), to: copy.path)
        #expect(try copy.contents() == bytes)
    }

    @Test func missingDirectoryIsAClearError() {
        let path = ScratchFile().path + "/inside"
        let error = #expect(throws: NodeError.self) {
            _ = try FileWriterNode(config: Self.writerConfig(path), context: NodeContext(nodeID: "writer"))
        }
        #expect(error?.node == "writer")
        #expect(error?.message == "cannot open '\(path)' for writing: ENOENT: No such file or directory")
    }

    @Test func fullDiskIsAClearError() throws {
        // /dev/full accepts the open and fails every write with ENOSPC.
        var writer = try FileWriterNode(config: Self.writerConfig("/dev/full"), context: NodeContext(nodeID: "writer"))
        let frame: [UInt8] = [1, 2, 3]
        try writer.consume(FrameInfo(), unsafe frame.span.bytes)  // buffered: no write yet
        let error = #expect(throws: NodeError.self) { try writer.finish() }
        #expect(error?.message == "cannot write to '/dev/full': ENOSPC: No space left on device")
        // The file is closed after a failed finish; finishing again does nothing.
        try writer.finish()
    }

    @Test func refusesFramesAfterFinish() throws {
        let file = ScratchFile()
        defer { file.remove() }
        var writer = try Self.write([Array("done".utf8)], to: file.path)
        try writer.finish()  // a second finish does nothing
        let frame: [UInt8] = [1]
        #expect(throws: NodeError.self) { try writer.consume(FrameInfo(), unsafe frame.span.bytes) }
        #expect(try file.contents() == Array("done".utf8))
    }
}
