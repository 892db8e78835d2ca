/// CBOR (RFC 8949) encoding and decoding of Chronetix values, on libcbor's low-level API.
///
/// Encoding writes definite-length items in their shortest form through ``CBORWriter``; decoding
/// pulls one item head at a time with `cbor_stream_decode` and treats every message as untrusted
/// (see ``CBORLimits`` and `docs/wire-format.md`). libcbor item trees are never built.
public enum CBOR {
    /// Runs `body` with a reader over `bytes`, then requires that it consumed every byte.
    ///
    /// - Parameters:
    ///   - bytes: One complete message.
    ///   - limits: The bounds; ``CBORLimits/maxBytes`` is checked before anything is decoded.
    ///   - body: Decodes the message's one top-level item.
    /// - Returns: What `body` returns.
    /// - Throws: `.tooLarge` for an oversized message, `.trailingBytes` when `body` leaves bytes
    ///   unread, and whatever `body` throws.
    package static func withReader<Result>(
        _ bytes: some Collection<UInt8>,
        limits: CBORLimits,
        _ body: (inout UnsafeCBORReader) throws(CodecError) -> Result
    ) throws(CodecError) -> Result {
        let byteCount = bytes.count
        guard byteCount <= limits.maxBytes else {
            throw CodecError(.tooLarge, "message of \(byteCount) bytes exceeds the limit of \(limits.maxBytes)")
        }
        func run(_ buffer: UnsafeRawBufferPointer) -> Swift.Result<Result, CodecError> {
            Swift.Result { () throws(CodecError) -> Result in
                // Safe: `buffer` is valid for this call, and the reader does not outlive it.
                var reader = unsafe UnsafeCBORReader(unsafeBytes: buffer, limits: limits)
                let value = try body(&reader)
                guard reader.isAtEnd else {
                    throw CodecError(
                        .trailingBytes,
                        "\(reader.remainingCount) bytes follow the top-level item",
                        offset: reader.offset
                    )
                }
                return value
            }
        }
        // Safe: the raw view covers the collection's contiguous storage for the closure's duration.
        if let result = bytes.withContiguousStorageIfAvailable({ unsafe run(UnsafeRawBufferPointer($0)) }) {
            return try result.get()
        }
        // Safe: as above, for a contiguous copy of a non-contiguous collection.
        return try unsafe Array(bytes).withUnsafeBytes { unsafe run($0) }.get()
    }
}
