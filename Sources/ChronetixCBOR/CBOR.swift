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
        guard byteCount <= limits.maxBytes else { throw tooLarge(byteCount, limits) }
        // Safe: the raw view covers the collection's contiguous storage for the closure's duration.
        let outcome = bytes.withContiguousStorageIfAvailable { buffer in
            Swift.Result { () throws(CodecError) -> Result in
                try unsafe withReader(unsafeBuffer: UnsafeRawBufferPointer(buffer), limits: limits, body)
            }
        }
        if let outcome { return try outcome.get() }
        // Safe: as above, for a contiguous copy of a non-contiguous collection.
        return try unsafe Array(bytes).withUnsafeBytes { buffer in
            Swift.Result { () throws(CodecError) -> Result in
                try unsafe withReader(unsafeBuffer: buffer, limits: limits, body)
            }
        }.get()
    }

    /// Runs `body` with a reader over caller memory, then requires that it consumed every byte.
    ///
    /// - Parameters:
    ///   - buffer: One complete message; valid for the duration of the call.
    ///   - limits: The bounds; ``CBORLimits/maxBytes`` is checked before anything is decoded.
    ///   - body: Decodes the message's one top-level item.
    /// - Returns: What `body` returns.
    /// - Throws: As ``withReader(_:limits:_:)``.
    package static func withReader<Result>(
        unsafeBuffer buffer: UnsafeRawBufferPointer,
        limits: CBORLimits,
        _ body: (inout UnsafeCBORReader) throws(CodecError) -> Result
    ) throws(CodecError) -> Result {
        guard buffer.count <= limits.maxBytes else { throw tooLarge(buffer.count, limits) }
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

    private static func tooLarge(_ byteCount: Int, _ limits: CBORLimits) -> CodecError {
        CodecError(.tooLarge, "message of \(byteCount) bytes exceeds the limit of \(limits.maxBytes)")
    }
}
