/// Copies between spans and fills them: the standard library of Swift 6.3 has no safe bulk copy from a
/// `RawSpan` into a `MutableRawSpan`, nor a bulk fill, so this is the module's one `memcpy` and `memset`.
enum ByteCopy {
    /// Copies all of `source` to the start of `destination`.
    /// - Precondition: `destination` holds at least `source.byteCount` bytes.
    static func copy(_ source: RawSpan, into destination: inout MutableRawSpan, at offset: Int = 0) {
        precondition(offset >= 0 && source.byteCount <= destination.byteCount - offset, "copy past the end of a frame")
        guard source.byteCount > 0 else { return }
        // Safe: both buffers are valid for the spans' lifetimes, which outlast this call; the bounds are
        // checked above, and a RawSpan and an exclusive MutableRawSpan cannot overlap.
        unsafe destination.withUnsafeMutableBytes { target in
            unsafe source.withUnsafeBytes { bytes in
                unsafe target.baseAddress!.advanced(by: offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            }
        }
    }

    /// Sets `count` bytes of `destination` from `offset` to `value`.
    /// - Precondition: the range lies within `destination`.
    static func fill(_ destination: inout MutableRawSpan, from offset: Int, count: Int, with value: UInt8) {
        precondition(offset >= 0 && count >= 0 && count <= destination.byteCount - offset, "fill past the end of a frame")
        guard count > 0 else { return }
        // Safe: the buffer is valid for the span's lifetime, which outlasts this call; the bounds are checked above.
        unsafe destination.withUnsafeMutableBytes { target in
            _ = unsafe target.baseAddress!.advanced(by: offset).initializeMemory(as: UInt8.self, repeating: value, count: count)
        }
    }
}
