/// A frame a ``RingTap`` saw passing on a ring: its header and a copy of its first payload bytes.
///
/// Everything here is a copy taken out of the ring and validated after the copy (the producer had not lapped
/// the tap while it copied), so it stays valid for as long as the caller keeps it.
public struct TappedFrame: Hashable, Sendable {
    /// The frame's sequence number: data frames are numbered from 0 by the producer, without gaps.
    public var sequenceNumber: UInt64
    /// The frame's metadata: timestamp, deadline, priority, content type, flags.
    public var metadata: FrameMetadata
    /// The payload's full length in bytes, as the producer committed it.
    public var length: Int
    /// The first `min(length, maximumPayloadBytes)` payload bytes.
    public var payload: [UInt8]
    /// Frames the tap missed just before this one (the producer overwrote them before the tap read them).
    public var skippedBefore: UInt64

    /// Creates a tapped frame.
    /// - Parameters:
    ///   - sequenceNumber: The frame's sequence number.
    ///   - metadata: Its metadata.
    ///   - length: Its full payload length.
    ///   - payload: The copied payload prefix.
    ///   - skippedBefore: Frames missed just before it.
    public init(sequenceNumber: UInt64, metadata: FrameMetadata, length: Int, payload: [UInt8], skippedBefore: UInt64) {
        self.sequenceNumber = sequenceNumber
        self.metadata = metadata
        self.length = length
        self.payload = payload
        self.skippedBefore = skippedBefore
    }

    /// Whether the copy holds fewer bytes than the frame carried.
    public var isPayloadTruncated: Bool { payload.count < length }
}

/// What a tap's ``RingTap/next(timeout:)`` found.
public enum TapResult: Hashable, Sendable {
    /// The next frame the tap could read intact.
    case frame(TappedFrame)
    /// No new frame before the timeout ran out.
    case wouldBlock
    /// The producer closed the stream and the tap has passed its last frame; ``RingTap/framesSkipped``
    /// is final.
    case endOfStream
}
