/// Read access to a ring header's fields by their offsets in ``RingLayout``: through the live mapping
/// (``UnsafeRingHeader``, atomic loads) or from a copy read with `pread(2)` (``RingHeaderBytes``).
protocol RingHeaderFields {
    func loadU64(_ offset: Int) -> UInt64
    func loadU32(_ offset: Int) -> UInt32
    func loadI32(_ offset: Int) -> Int32
}

// @unsafe: the conformance hands out loads through the mapping; its users hold the mapping alive.
extension UnsafeRingHeader: @unsafe RingHeaderFields {}

/// A copy of a ring's header page taken with `pread(2)` on the segment's descriptor (docs/adr/0005): a
/// segment another process truncated yields a short read instead of SIGBUS. The fields are little-endian, as
/// on every platform Chronetix runs on; a field is read whole, but the page is not one instant (like
/// ``RingStatus``).
struct RingHeaderBytes: RingHeaderFields {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) {
        precondition(bytes.count == RingLayout.headerSize, "a header copy is one page")
        self.bytes = bytes
    }

    func loadU64(_ offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * index) }
        return value
    }

    func loadU32(_ offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(bytes[offset + index]) << (8 * index) }
        return value
    }

    func loadI32(_ offset: Int) -> Int32 { Int32(bitPattern: loadU32(offset)) }
}
