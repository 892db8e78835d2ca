import ChronetixCore
import ChronetixSystem

/// `file-reader`: a file as frames, one per line or one per fixed-size block.
///
/// - `lines`: one frame per line, without its `\n` (nor a `\r` just before it). Empty lines are empty
///   frames, and a last line without a newline is still a frame; a file that ends with `\n` has no empty
///   frame after it, and an empty file has no frames.
/// - `blocks`: frames of `block_size` bytes, the last one shorter when the size does not divide the file.
///
/// The file is streamed in chunks of ``chunkSize`` bytes (more when a block is larger), so memory holds
/// one chunk plus the line or block being cut, never the whole file. The file is opened when the node is
/// made and closed once its end is reached.
public struct FileReaderNode: SourceNode {
    /// How the file is cut into frames.
    public enum Mode: String, Sendable {
        /// One frame per line.
        case lines
        /// One frame per `block_size` bytes.
        case blocks
    }

    /// How many bytes one read asks for.
    public static let chunkSize = 64 * 1024

    /// The file read.
    public let path: String
    /// How the file is cut into frames.
    public let mode: Mode
    /// The frame size in `blocks` mode.
    public let blockSize: Int
    /// Frames emitted so far.
    public private(set) var frames: UInt64 = 0
    /// Bytes read from the file so far (line ends included).
    public private(set) var bytesRead: UInt64 = 0

    private let node: String
    /// The open file; closed once the end of the file has been reached.
    private let file: SystemFile
    /// Bytes read and not yet emitted start at `start`; bytes before it are emitted and dropped on the
    /// next read.
    private var buffer: [UInt8] = []
    private var start = 0
    /// In `lines` mode, how many bytes after `start` are known to hold no `\n`.
    private var scanned = 0

    /// Opens the file named by the config.
    /// - Parameters:
    ///   - config: `path` (string), `mode` (`lines` or `blocks`), `block_size` (bytes, 1 B to 1 GiB).
    ///   - context: Where the node runs.
    /// - Throws: A ``NodeError`` when a key is wrong or the file cannot be opened (naming the path and the
    ///   system's reason).
    public init(config: NodeConfig, context: NodeContext) throws(NodeError) {
        node = config.node
        path = try config.string("path")
        guard !path.isEmpty else { throw NodeError(config.node, "config key path is empty; name the file to read") }
        let modeName = try config.string("mode")
        guard let mode = Mode(rawValue: modeName) else {
            throw NodeError(config.node, "config key mode is '\(modeName)'; it must be lines or blocks")
        }
        self.mode = mode
        blockSize = try config.integer("block_size", in: 1...(1 << 30))
        file = try OpenFile.open(path, options: .readOnly, purpose: "reading", node: node)
        buffer.reserveCapacity(Self.chunkSize)
    }

    /// Emits the next line or block.
    /// - Parameter output: Where the frame goes.
    /// - Returns: `false` at the end of the file (nothing is written then).
    /// - Throws: A ``NodeError`` when the file cannot be read, or what `output` throws.
    public mutating func produce(into output: inout some FrameOutput) throws -> Bool {
        let frame: Range<Int>?
        switch mode {
        case .lines: frame = try nextLine()
        case .blocks: frame = try nextBlock()
        }
        guard let frame else { return false }
        // Safe: the bytes of a [UInt8] are exactly its elements; `extracting` checks the range.
        try output.emit(copying: unsafe buffer.span.bytes.extracting(frame))
        frames += 1
        return true
    }

    /// What the summary shows: frames emitted and bytes read.
    public func report() -> NodeReport {
        [("frames", .integer(Int64(frames))), ("bytes", .integer(Int64(bytesRead)))]
    }

    /// Finds the next line in the buffer, reading more of the file until a `\n` or the end.
    /// - Returns: The line's bytes in `buffer` (without its line end), or nil when the file is exhausted.
    private mutating func nextLine() throws(NodeError) -> Range<Int>? {
        while true {
            if let newline = buffer[(start + scanned)...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > start, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = start..<end
                start = newline + 1
                scanned = 0
                return line
            }
            scanned = buffer.count - start
            if !file.isOpen {
                // The end of the file: what is left is a last line without a newline.
                guard start < buffer.count else { return nil }
                let line = start..<buffer.count
                start = buffer.count
                scanned = 0
                return line
            }
            try readChunk(atLeast: Self.chunkSize)
        }
    }

    /// Takes the next block from the buffer, reading more of the file until a whole block or the end.
    /// - Returns: The block's bytes in `buffer`, or nil when the file is exhausted.
    private mutating func nextBlock() throws(NodeError) -> Range<Int>? {
        while buffer.count - start < blockSize, file.isOpen {
            try readChunk(atLeast: blockSize - (buffer.count - start))
        }
        let available = buffer.count - start
        guard available > 0 else { return nil }
        let block = start..<(start + min(blockSize, available))
        start = block.upperBound
        return block
    }

    /// Drops the emitted bytes, then appends up to `max(count, chunkSize)` bytes of the file; closes the
    /// file at its end.
    private mutating func readChunk(atLeast count: Int) throws(NodeError) {
        guard file.isOpen else { return }
        if start > 0 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        let old = buffer.count
        let wanted = max(count, Self.chunkSize)
        buffer.append(contentsOf: repeatElement(0, count: wanted))
        let read: Int
        do {
            read = try unsafe buffer.withUnsafeMutableBytes { bytes in
                // Safe: the range lies within the buffer just grown by `wanted` bytes.
                try unsafe file.read(into: UnsafeMutableRawBufferPointer(rebasing: bytes[old...]))
            }
        } catch {
            buffer.removeSubrange(old...)
            throw NodeError(node, "cannot read '\(path)': \(error)")
        }
        buffer.removeSubrange((old + read)...)
        if read == 0 {
            // Ignoring a close error is correct here: the descriptor was only read, every byte has been
            // read, and Linux releases the descriptor even when close reports an error.
            try? file.close()
            return
        }
        bytesRead += UInt64(read)
    }
}

/// `file-writer`: writes every payload's bytes to a file, as they are and with no separators.
///
/// Writes go through a buffer of ``bufferSize`` bytes; ``finish()`` writes what is left and closes the
/// file, so a run that does not reach `finish()` may lose the last buffer's worth. The file is created
/// when missing (mode `0666` less the umask), and truncated unless `append` is set.
public struct FileWriterNode: SinkNode {
    /// The buffer's size in bytes: payloads are written in pieces of at most this size.
    public static let bufferSize = 64 * 1024

    /// The file written.
    public let path: String
    /// Whether the file was opened for appending instead of truncated.
    public let isAppending: Bool
    /// Frames consumed so far.
    public private(set) var frames: UInt64 = 0
    /// Payload bytes consumed so far (written, or waiting in the buffer until ``finish()``).
    public private(set) var bytesWritten: UInt64 = 0

    private let node: String
    /// The open file; closed by ``finish()``.
    private let file: SystemFile
    private var buffer = [UInt8](repeating: 0, count: Self.bufferSize)
    /// Bytes of `buffer` waiting to be written.
    private var used = 0

    /// Opens (and creates or truncates) the file named by the config.
    /// - Parameters:
    ///   - config: `path` (string) and `append` (boolean).
    ///   - context: Where the node runs.
    /// - Throws: A ``NodeError`` when a key is wrong or the file cannot be opened (naming the path and the
    ///   system's reason).
    public init(config: NodeConfig, context: NodeContext) throws(NodeError) {
        node = config.node
        path = try config.string("path")
        guard !path.isEmpty else { throw NodeError(config.node, "config key path is empty; name the file to write") }
        isAppending = try config.bool("append")
        let options: FileDescriptor.OpenOptions = [.writeOnly, .create, isAppending ? .append : .truncate]
        file = try OpenFile.open(path, options: options, purpose: isAppending ? "appending" : "writing", node: node)
    }

    /// Appends the payload to the file (through the buffer).
    /// - Parameters:
    ///   - info: The frame's facts (unused).
    ///   - payload: The bytes written.
    /// - Throws: A ``NodeError`` when the file cannot be written (disk full, say) or is already closed.
    public mutating func consume(_ info: FrameInfo, _ payload: RawSpan) throws {
        guard file.isOpen else {
            throw NodeError(node, "a frame arrived after '\(path)' was closed")
        }
        var offset = 0
        while offset < payload.byteCount {
            let position = used
            let piece = min(payload.byteCount - offset, Self.bufferSize - position)
            var elements = buffer.mutableSpan
            var bytes = unsafe elements.mutableBytes  // safe: a byte is a byte, every pattern valid
            ByteCopy.copy(payload.extracting(offset..<(offset + piece)), into: &bytes, at: position)
            used = position + piece
            offset += piece
            if used == Self.bufferSize { try flush() }
        }
        frames += 1
        bytesWritten += UInt64(payload.byteCount)
    }

    /// Writes what the buffer holds and closes the file; does nothing when already closed.
    /// - Throws: A ``NodeError`` when the last write or the close fails (the file is closed either way).
    public mutating func finish() throws {
        guard file.isOpen else { return }
        do {
            try flush()
        } catch {
            // Ignoring the close error is correct: the write error above is the one to report, and Linux
            // releases the descriptor even when close fails.
            try? file.close()
            throw error
        }
        do {
            try file.close()
        } catch {
            // A delayed write error (NFS, a full disk on some file systems) surfaces at close.
            throw NodeError(node, "cannot close '\(path)': \(error)")
        }
    }

    /// What the summary shows: frames and bytes written.
    public func report() -> NodeReport {
        [("frames", .integer(Int64(frames))), ("bytes", .integer(Int64(bytesWritten)))]
    }

    /// Writes the buffered bytes.
    private mutating func flush() throws(NodeError) {
        guard used > 0, file.isOpen else { return }
        do {
            try unsafe buffer.withUnsafeBytes { bytes in
                // Safe: the first `used` bytes of the buffer, valid for the call.
                try unsafe file.writeAll(UnsafeRawBufferPointer(rebasing: bytes[0..<used]))
            }
        } catch {
            throw NodeError(node, "cannot write to '\(path)': \(error)")
        }
        used = 0
    }
}

/// Opens a node's file, with the message every Chronetix error uses.
enum OpenFile {
    /// Opens `path` (close-on-exec, so worker processes' children do not inherit it).
    /// - Parameters:
    ///   - path: The file.
    ///   - options: `.readOnly`, or `.writeOnly` with creation options (new files get mode `0666` less the umask).
    ///   - purpose: For the message: "reading", "writing", "appending".
    ///   - node: The node's id, for the message.
    /// - Throws: A ``NodeError`` naming the path, the purpose and the errno text (`ENOENT: No such file or
    ///   directory`).
    static func open(_ path: String, options: FileDescriptor.OpenOptions, purpose: String, node: String)
        throws(NodeError) -> SystemFile
    {
        do {
            return try SystemFile(path: path, options: options)
        } catch {
            throw NodeError(node, "cannot open '\(path)' for \(purpose): \(error)")
        }
    }
}
