/// One frame found in the data area by ``FrameWalker``.
@usableFromInline
struct WalkedFrame {
    /// Bytes from this frame's start to the next frame's start.
    @usableFromInline var advance: UInt64
    /// Whether it is a data frame (not a pad or an unmarked tail).
    @usableFromInline var isData: Bool
    /// The data frame's sequence number.
    @usableFromInline var sequence: UInt64
    /// The data frame's payload length.
    @usableFromInline var length: Int
    /// The frame's offset in the data area.
    @usableFromInline var offset: Int

    @inlinable
    init(advance: UInt64, isData: Bool, sequence: UInt64, length: Int, offset: Int) {
        self.advance = advance
        self.isData = isData
        self.sequence = sequence
        self.length = length
        self.offset = offset
    }
}

/// Reads frame headers in the data area without ever trusting them: every length is checked against the
/// end of the data area and against the producer's write counter before anything beyond the header is touched.
///
/// - Warning: Holds the data area's address; valid only while the owning mapping lives.
@unsafe
@usableFromInline
struct FrameWalker {
    @usableFromInline let data: UnsafeRawPointer
    @usableFromInline let capacity: UInt64
    @usableFromInline let alignment: UInt64
    @usableFromInline let name: String

    @inlinable
    init(data: UnsafeRawPointer, capacity: UInt64, alignment: UInt64, name: String) {
        unsafe self.data = data
        unsafe self.capacity = capacity
        unsafe self.alignment = alignment
        unsafe self.name = name
    }

    /// The frame that starts at counter `position`, given that frames end at counter `limit`.
    ///
    /// The caller guarantees `position != limit`, `limit - position <= capacity` and that `position` is a
    /// multiple of the alignment (all checked when the counters were read).
    @inlinable @inline(always)
    func frame(at position: UInt64, limit: UInt64) throws(RingError) -> WalkedFrame {
        let offset = unsafe Int(position & (capacity &- 1))
        let contiguous = unsafe capacity &- UInt64(offset)
        let available = limit &- position
        let headerSize = UInt64(RingLayout.frameHeaderSize)
        if contiguous < headerSize {
            // A tail too short for a frame header is skipped by rule (the producer writes nothing there).
            guard contiguous <= available else { throw unsafe corrupt(position, "the tail skip runs past write_bytes") }
            return WalkedFrame(advance: contiguous, isData: false, sequence: 0, length: 0, offset: offset)
        }
        guard available >= headerSize else { throw unsafe corrupt(position, "a frame header runs past write_bytes") }
        let frame = unsafe data + offset
        let length = unsafe UInt64(frame.load(fromByteOffset: RingLayout.Frame.length, as: UInt32.self))
        let kind = unsafe frame.load(fromByteOffset: RingLayout.Frame.kind, as: UInt8.self)
        if kind == RingLayout.frameKindPad {
            guard length == contiguous &- headerSize, contiguous <= available else {
                throw unsafe corrupt(position, "a pad of \(length) bytes does not fill the \(contiguous &- headerSize) bytes to the end")
            }
            return WalkedFrame(advance: contiguous, isData: false, sequence: 0, length: 0, offset: offset)
        }
        guard kind == RingLayout.frameKindData else { throw unsafe corrupt(position, "frame kind \(kind) is neither data (1) nor pad (2)") }
        let slot = unsafe RingIndex.slotSize(payloadLength: length, alignment: alignment)
        guard slot <= contiguous, slot <= available else {
            throw unsafe corrupt(position, "a frame of \(length) bytes runs past \(slot > contiguous ? "the end of the data area" : "write_bytes")")
        }
        let sequence = unsafe frame.load(fromByteOffset: RingLayout.Frame.sequence, as: UInt64.self)
        return WalkedFrame(advance: slot, isData: true, sequence: sequence, length: Int(length), offset: offset)
    }

    @usableFromInline
    func corrupt(_ position: UInt64, _ message: String) -> RingError {
        unsafe RingError(.corruptFrame, segment: name, unsafe "at byte counter \(position) (offset \(position & (capacity &- 1))): \(message)")
    }
}
