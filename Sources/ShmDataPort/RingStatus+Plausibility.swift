extension RingStatus {
    /// Why these counters cannot all have been written by correct peers, or `nil` when they can: what a
    /// report checks before it prints any of them as figures (a forged or random header must never show up as
    /// "9223372036854775807 drops").
    ///
    /// Pure: judged against the ring's own configuration, as its creator knows it, not against the header.
    /// - Parameters:
    ///   - dataCapacity: The data area's size in bytes.
    ///   - frameAlignment: The frame alignment in bytes.
    /// - Returns: The first impossible field, with its value and the bound it breaks.
    public func implausibility(dataCapacity: UInt64, frameAlignment: UInt64) -> String? {
        if closedFlag > 1 { return "closed is \(closedFlag); expected 0 or 1" }
        if writeBytes % frameAlignment != 0 {
            return "write_bytes \(writeBytes) is not a frame boundary (a multiple of the frame alignment \(frameAlignment))"
        }
        // Every frame takes at least its 32-byte header; write_frames may run ahead of write_bytes by what a
        // producer that died in publish() had not published yet (at most a ring's worth).
        let frameBound = (writeBytes / UInt64(RingLayout.frameHeaderSize)) &+ dataCapacity / UInt64(RingLayout.frameHeaderSize)
        if writeFrames > frameBound {
            return "write_frames \(writeFrames) is more than \(writeBytes) bytes written can hold"
        }
        for (index, consumer) in consumers.enumerated() {
            let slot = "consumers[\(index)]"
            if case .unknown(let raw) = consumer.state { return "\(slot).state is \(raw); expected 1, 2 or 3" }
            for (field, position) in [("released_bytes", consumer.releasedBytes), ("read_bytes", consumer.readBytes)] {
                if position > writeBytes { return "\(slot).\(field) \(position) is beyond write_bytes \(writeBytes)" }
                if position % frameAlignment != 0 {
                    return "\(slot).\(field) \(position) is not a frame boundary (a multiple of the frame alignment \(frameAlignment))"
                }
            }
            // A retired slot is no longer waited for: the producer may have run on past it.
            if consumer.state != .retired && writeBytes - consumer.releasedBytes > dataCapacity {
                return "\(slot).released_bytes \(consumer.releasedBytes) is more than the capacity \(dataCapacity) behind write_bytes \(writeBytes)"
            }
            for (field, count) in [("released_frames", consumer.releasedFrames), ("read_frames", consumer.readFrames), ("drops", consumer.drops)]
            where count > writeFrames {
                return "\(slot).\(field) is \(count), more than the \(writeFrames) frames written"
            }
            // Each attach delivers again at most what the ring held, so never more than every frame per attach.
            if consumer.duplicates / max(1, consumer.attachCount) > writeFrames {
                return "\(slot).duplicates is \(consumer.duplicates), more than \(consumer.attachCount) attaches can deliver again"
            }
        }
        return nil
    }

    /// Frames committed to the ring that consumer slot `slot` neither read nor lost to its queue policy
    /// (`read_frames` counts the frames skipped before it; `released_frames` may be ahead of it by frames
    /// the producer dropped since the consumer last looked). 0 for every slot of a stream that drained.
    /// - Parameter slot: The consumer slot.
    /// - Returns: `write_frames` less what the slot accounts for; 0 when it accounts for more.
    public func unaccountedFrames(slot: Int) -> UInt64 {
        guard consumers.indices.contains(slot) else { return 0 }
        let accounted = max(consumers[slot].readFrames, consumers[slot].releasedFrames)
        return writeFrames > accounted ? writeFrames - accounted : 0
    }
}
