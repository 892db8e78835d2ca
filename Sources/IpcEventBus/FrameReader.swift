package import ChronetixSystem

/// The receiving half of a bus connection: a buffer that reads from a socket and cuts complete frames
/// out of the byte stream.
///
/// A frame's declared length is checked against the limit before any memory is set aside for it, so a
/// peer that announces 4 GiB gets an error, not an allocation. Many frames arrive per read; a frame that
/// straddles two reads is completed in place. Descriptors that arrive with the bytes (`SCM_RIGHTS`) are
/// kept, in order, until a `descriptors` message claims them.
package struct FrameReader: ~Copyable {
    /// The buffer: bytes `start..<end` are received and not yet cut into frames.
    private var storage: [UInt8]
    private var start = 0
    private var end = 0
    private let initialCapacity: Int
    /// The largest frame body accepted, in bytes.
    package let maxFrameBytes: Int
    /// Descriptors received and not yet claimed, oldest first; owned (closed on `deinit`).
    private var descriptors: [Int32] = []

    /// Creates a reader.
    /// - Parameters:
    ///   - maxFrameBytes: The largest message accepted (without the prefix).
    ///   - initialCapacity: The buffer's starting size; it grows only for a larger frame.
    package init(maxFrameBytes: Int, initialCapacity: Int = 64 * 1024) {
        self.maxFrameBytes = maxFrameBytes
        self.initialCapacity = max(initialCapacity, 4096)
        storage = [UInt8](repeating: 0, count: self.initialCapacity)
    }

    deinit {
        for descriptor in descriptors { FileDescriptor(adopting: descriptor).close() }
    }

    /// Whether part of a frame has arrived and the rest has not.
    package var hasPartialFrame: Bool { end > start }

    /// How many received descriptors wait to be claimed.
    package var pendingDescriptorCount: Int { descriptors.count }

    /// Reads what the socket has (one `recvmsg`), keeping any descriptors that come with it.
    /// - Parameter socket: A non-blocking stream socket.
    /// - Returns: `.done(n)`, `.wouldBlock`, or `.endOfFile`.
    /// - Throws: The `Errno` of `recvmsg` (`ECONNRESET` when the peer vanished).
    package mutating func fill(from socket: borrowing FileDescriptor) throws(Errno) -> IOResult {
        if storage.count - end < 4096 || (start > 0 && start == end) { compact() }
        let offset = end
        var received: [Int32] = []
        let result = try unsafe storage.withUnsafeMutableBytes { buffer in
            // Safe: `offset < buffer.count` (compact leaves at least 4 KiB free); the view is scoped.
            let free = unsafe UnsafeMutableRawBufferPointer(rebasing: buffer[offset...])
            return Result { () throws(Errno) -> IOResult in
                try unsafe socket.receive(into: free) { descriptor in
                    // Escapes its owner: an array cannot hold `~Copyable` values. The reader owns the raw number
                    // from here: `takeDescriptors` hands them on (as raw numbers; the caller adopts them), `deinit`
                    // closes those never claimed.
                    received.append(descriptor.takeRawValue())
                }
            }
        }.get()
        descriptors.append(contentsOf: received)
        if case .done(let count) = result { end += count }
        return result
    }

    /// Cuts the next complete frame out of the buffer.
    /// - Returns: The frame body's range in the buffer (valid until the next ``fill(from:)``), or `nil`
    ///   when no complete frame has arrived yet.
    /// - Throws: `.messageTooLarge` when a length exceeds the limit, `.protocolViolation` for a zero length.
    package mutating func nextFrame() throws(BusError) -> Range<Int>? {
        guard end - start >= BusWire.prefixBytes else {
            if start == end { start = 0; end = 0 }
            return nil
        }
        let length = Int(
            UInt32(storage[start]) | UInt32(storage[start + 1]) << 8 | UInt32(storage[start + 2]) << 16
                | UInt32(storage[start + 3]) << 24
        )
        guard length <= maxFrameBytes else {
            throw BusError(.messageTooLarge, "a frame declares \(length) bytes; the limit is \(maxFrameBytes)")
        }
        guard length > 0 else { throw BusError(.protocolViolation, "a frame declares 0 bytes") }
        let total = BusWire.prefixBytes + length
        guard end - start >= total else {
            // Incomplete: make sure the whole frame will fit once it arrives (the limit was checked above).
            if total > storage.count {
                compact()
                storage.append(contentsOf: repeatElement(0, count: total - storage.count))
            } else if start + total > storage.count {
                compact()
            }
            return nil
        }
        let body = start + BusWire.prefixBytes..<start + total
        start += total
        return body
    }

    /// Calls `body` with a frame's bytes in place.
    /// - Parameters:
    ///   - range: A range ``nextFrame()`` returned, before the next fill.
    ///   - body: Reads the frame; the pointer must not escape.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    package func withFrame<Result, Failure: Error>(
        _ range: Range<Int>,
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        precondition(range.upperBound <= storage.count, "frame range outside the reader's buffer")
        // Safe: the range lies within the storage (checked above), and the view is scoped to `body`.
        return try unsafe storage.withUnsafeBytes { buffer in
            Swift.Result { () throws(Failure) -> Result in try unsafe body(UnsafeRawBufferPointer(rebasing: buffer[range])) }
        }.get()
    }

    /// A frame's bytes as a slice of the buffer (no copy while the slice is only read).
    /// - Parameter range: A range ``nextFrame()`` returned, before the next fill.
    /// - Returns: The bytes.
    package func bytes(_ range: Range<Int>) -> ArraySlice<UInt8> {
        storage[range]
    }

    /// Takes the oldest `count` received descriptors, which the caller now owns.
    /// - Parameter count: How many; at most ``pendingDescriptorCount``.
    /// - Returns: The raw descriptors, oldest first.
    package mutating func takeDescriptors(_ count: Int) -> [Int32] {
        precondition(count <= descriptors.count, "more descriptors taken than received")
        let taken = Array(descriptors.prefix(count))
        descriptors.removeFirst(count)
        return taken
    }

    /// Moves the unread bytes to the front, and gives back memory a large frame needed once.
    private mutating func compact() {
        let unread = end - start
        if unread == 0 && storage.count > initialCapacity {
            storage = [UInt8](repeating: 0, count: initialCapacity)
        } else if start > 0 && unread > 0 {
            let from = start
            unsafe storage.withUnsafeMutableBytes { buffer in
                // Safe: both ranges lie within the buffer; raw `copyMemory` allows overlap (memmove).
                unsafe buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + from, byteCount: unread)
            }
        }
        start = 0
        end = unread
    }
}
