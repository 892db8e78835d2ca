package import ChronetixCBOR
package import ChronetixSystem

/// The sending half of a bus connection: frames encoded straight into one growable buffer, written to
/// the socket in as few calls as possible.
///
/// Frames are encoded in place behind a 4-byte length prefix that is filled in afterwards, so a message
/// costs no allocation once the buffer is warm. A flush writes everything pending in one `send`; a
/// partial write leaves the rest for the next flush. Descriptors to pass (`SCM_RIGHTS`) are attached to
/// the frame that announces them and leave with its first byte.
package struct OutboundBuffer: ~Copyable {
    private var writer: CBORWriter
    /// Bytes `0..<sent` of the writer have been written to the socket.
    private var sent = 0
    /// Where the first frame not completely written starts (a frame boundary, at most `sent`).
    private var unsentFrameStart = 0
    /// Descriptors waiting to leave with the byte at `offset` (an offset in the writer), owned until then.
    private var attachments: [(offset: Int, descriptors: [Int32])] = []
    /// The largest frame body this side may send.
    package var maxFrameBytes: Int

    /// Creates a buffer.
    /// - Parameters:
    ///   - maxFrameBytes: The largest message the peer accepts.
    ///   - capacity: The starting size of the buffer.
    package init(maxFrameBytes: Int, capacity: Int = 64 * 1024) {
        self.maxFrameBytes = maxFrameBytes
        writer = CBORWriter(capacity: capacity)
    }

    deinit {
        for attachment in attachments {
            for descriptor in attachment.descriptors { FileDescriptor(adopting: descriptor).close() }
        }
    }

    /// Bytes encoded and not yet taken by the socket.
    package var pendingByteCount: Int { writer.count - sent }

    /// Whether nothing waits to be written.
    package var isEmpty: Bool { writer.count == sent }

    /// Encodes one frame: the length prefix, then what `body` writes.
    /// - Parameter body: Writes exactly one CBOR message.
    /// - Returns: The frame's total size in bytes (prefix included).
    /// - Throws: `.messageTooLarge` when the message exceeds ``maxFrameBytes``; nothing is queued then.
    @discardableResult
    package mutating func appendFrame(_ body: (inout CBORWriter) -> Void) throws(BusError) -> Int {
        let frameStart = writer.count
        writer.writeRawUInt32LittleEndian(0)
        body(&writer)
        let length = writer.count - frameStart - BusWire.prefixBytes
        guard length <= maxFrameBytes else {
            writer.truncate(to: frameStart)
            throw BusError(.messageTooLarge, "a message of \(length) bytes exceeds the limit of \(maxFrameBytes)")
        }
        writer.overwriteRawUInt32LittleEndian(UInt32(length), at: frameStart)
        return length + BusWire.prefixBytes
    }

    /// Encodes one frame whose bytes carry descriptors to the peer.
    /// - Parameters:
    ///   - descriptors: Raw descriptors the buffer now owns; closed once sent (the peer has its copies)
    ///     or when the buffer goes away.
    ///   - body: Writes exactly one CBOR message.
    /// - Throws: As ``appendFrame(_:)``; the descriptors are closed then.
    package mutating func appendFrame(
        passing descriptors: [Int32],
        _ body: (inout CBORWriter) -> Void
    ) throws(BusError) {
        let frameStart = writer.count
        do {
            try appendFrame(body)
        } catch {
            for descriptor in descriptors { FileDescriptor(adopting: descriptor).close() }
            throw error
        }
        attachments.append((frameStart, descriptors))
    }

    /// Writes as much as the socket takes.
    /// - Parameter socket: A stream socket (non-blocking, or blocking when the caller wants to wait).
    /// - Returns: `true` when everything pending was written.
    /// - Throws: The `Errno` of `send`/`sendmsg` (`EPIPE`, `ECONNRESET` when the peer is gone).
    package mutating func flush(to socket: borrowing FileDescriptor) throws(Errno) -> Bool {
        while sent < writer.count {
            let attachment = attachments.first
            // Plain bytes run up to the next attachment; the attachment's frame leaves with its descriptors.
            let stop = attachment.map { $0.offset > sent ? $0.offset : writer.count } ?? writer.count
            let from = sent
            let result: IOResult
            if let attachment, attachment.offset == sent {
                result = try unsafe writer.withUnsafeBytes { bytes throws(Errno) in
                    // Safe: `from < stop <= bytes.count`; the view is scoped to the call.
                    try unsafe socket.send(
                        UnsafeRawBufferPointer(rebasing: bytes[from..<stop]),
                        descriptors: attachment.descriptors
                    )
                }
                if case .done = result {
                    attachments.removeFirst()
                    for descriptor in attachment.descriptors { FileDescriptor(adopting: descriptor).close() }
                }
            } else {
                result = try unsafe writer.withUnsafeBytes { bytes throws(Errno) in
                    // Safe: as above.
                    try unsafe socket.write(from: UnsafeRawBufferPointer(rebasing: bytes[from..<stop]))
                }
            }
            switch result {
            case .done(let count):
                sent += count
                advanceFrameBoundary()
            case .wouldBlock, .endOfFile:
                compact()
                return false
            }
        }
        compact()
        return true
    }

    /// Drops every frame the socket has not started to take (and the descriptors they carry), keeping a
    /// frame already partly written so that the stream stays whole: what the peer reads next is what is
    /// appended after this call (a goodbye).
    package mutating func discardUnsentFrames() {
        var keep = sent
        if unsentFrameStart < sent { keep = unsentFrameStart + BusWire.prefixBytes + frameLength(at: unsentFrameStart) }
        while let last = attachments.last, last.offset >= keep {
            attachments.removeLast()
            for descriptor in last.descriptors { FileDescriptor(adopting: descriptor).close() }
        }
        writer.truncate(to: keep)
    }

    private func frameLength(at offset: Int) -> Int {
        // Safe: every frame in the buffer is whole, so its 4-byte prefix at a frame boundary is present.
        unsafe writer.withUnsafeBytes { bytes in
            Int(UInt32(littleEndian: unsafe bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        }
    }

    private mutating func advanceFrameBoundary() {
        while unsentFrameStart < sent {
            let end = unsentFrameStart + BusWire.prefixBytes + frameLength(at: unsentFrameStart)
            guard end <= sent else { return }
            unsentFrameStart = end
        }
    }

    /// Drops what the socket has taken: resets an empty buffer, and moves a large remainder to the
    /// front only when the taken part dominates, so compaction stays amortised.
    private mutating func compact() {
        if sent == writer.count {
            writer.reset()
            sent = 0
            unsentFrameStart = 0
        } else if unsentFrameStart > 64 * 1024 && unsentFrameStart > writer.count / 2 {
            // Cut at a frame boundary, so that the partly written frame keeps its prefix.
            let cut = unsentFrameStart
            writer.removeFirst(cut)
            for index in attachments.indices { attachments[index].offset -= cut }
            sent -= cut
            unsentFrameStart = 0
        }
    }

}
