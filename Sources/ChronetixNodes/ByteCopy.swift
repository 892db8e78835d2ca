/// Copies between spans: the standard library of Swift 6.3 has no safe copy from a `RawSpan` into a
/// `MutableRawSpan`, so this is the module's one `memcpy`.
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
}
