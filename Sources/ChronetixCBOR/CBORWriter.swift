internal import CLibCBOR

/// A CBOR encoder writing definite-length items, in their shortest form, into a reusable byte buffer.
///
/// Each `write…` call appends one item head (plus a string's bytes) with libcbor's `cbor_encode_*`
/// functions. A writer either owns a growable buffer (``init(capacity:)``; ``reset()`` keeps the
/// memory, so encoding into a warm writer never allocates) or writes into caller memory such as a
/// ring slot (``encode(into:_:)``), where running out of room is reported once at the end.
///
/// Non-copyable because it owns its buffer: a copy would either share or duplicate it silently.
// @safe: the raw pointer never leaves the type except through the closure-scoped `withUnsafeBytes`,
// and every write goes through `reserve`, which bounds it by `capacity`.
@safe
public struct CBORWriter: ~Copyable {
    // Invariant: `base` points at `capacity` writable bytes; bytes `0..<count` are the encoding.
    // For an owned buffer the writer allocated them and frees them in `deinit`; for a borrowed one
    // (`encode(into:_:)`) they belong to the caller and outlive the writer, which never escapes.
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    private let ownsBuffer: Bool
    /// Set when a borrowed buffer ran out of room; every later write is skipped.
    private var hasOverflowed = false

    /// The number of bytes written since creation or the last ``reset()``.
    public private(set) var count: Int = 0

    /// Creates a writer owning a buffer of `capacity` bytes, which grows when needed.
    /// - Parameter capacity: The initial size of the buffer; size it for the largest expected message
    ///   so that encoding never reallocates.
    public init(capacity: Int = 256) {
        precondition(capacity >= 0, "CBORWriter capacity must not be negative")
        self.capacity = max(capacity, 16)
        // Safe: a fresh allocation of `capacity` bytes, freed in `deinit` because `ownsBuffer` is true.
        unsafe self.base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
        self.ownsBuffer = true
    }

    private init(borrowing buffer: UnsafeMutableRawBufferPointer) {
        // Safe: the caller of `encode(into:_:)` guarantees `buffer` stays valid for the writer's
        // scoped lifetime; a zero-size buffer gets a dangling-but-never-dereferenced base.
        unsafe self.base = buffer.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 16)!
        self.capacity = buffer.count
        self.ownsBuffer = false
    }

    deinit {
        // Safe: an owned buffer was allocated by this writer and nothing else refers to it.
        if ownsBuffer { unsafe base.deallocate() }
    }

    /// Forgets what was written and keeps the buffer, so the next message reuses its memory.
    public mutating func reset() {
        count = 0
        hasOverflowed = false
    }

    /// The buffer's current size in bytes.
    public var bufferCapacity: Int { capacity }

    /// A copy of the bytes written so far (allocates an array).
    public var bytes: [UInt8] {
        // Safe: `base` holds `count` initialised bytes (invariant above).
        unsafe [UInt8](UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Calls `body` with the bytes written so far, without copying them.
    /// - Parameter body: Reads the encoding; the pointer must not escape the closure.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    /// - Warning: The buffer is valid only during `body`, and only until the next write.
    public func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        // Safe: `base` holds `count` initialised bytes, and the pointer is scoped to `body`.
        try unsafe body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Encodes into caller memory, such as a ring slot, without allocating.
    ///
    /// - Parameters:
    ///   - buffer: Where to write; the encoding starts at its first byte.
    ///   - body: Writes the items through the writer it is given.
    /// - Returns: The number of bytes written.
    /// - Throws: `CodecError` `.bufferTooSmall` when the encoding does not fit in `buffer`; the
    ///   contents of `buffer` are then unspecified.
    /// - Warning: The writer refers to `buffer` and must not be moved out of `body`.
    public static func encode(
        into buffer: UnsafeMutableRawBufferPointer,
        _ body: (inout CBORWriter) -> Void
    ) throws(CodecError) -> Int {
        var writer = unsafe CBORWriter(borrowing: buffer)
        body(&writer)
        guard !writer.hasOverflowed else {
            throw CodecError(.bufferTooSmall, "the encoding does not fit in a buffer of \(buffer.count) bytes")
        }
        return writer.count
    }

    // MARK: - Items

    /// Writes an unsigned integer (major type 0) in its shortest form, with `cbor_encode_uint`.
    /// - Parameter value: The integer.
    public mutating func writeUnsigned(_ value: UInt64) {
        guard reserve(9) else { return }
        // Safe: `reserve` guaranteed 9 writable bytes at `base + count`; libcbor is told how many remain.
        advance(unsafe cbor_encode_uint(value, (base + count).assumingMemoryBound(to: UInt8.self), remaining))
    }

    /// Writes a signed integer in its shortest form: major type 0 when non-negative, else major type 1
    /// with `cbor_encode_negint`.
    /// - Parameter value: The integer.
    public mutating func writeSigned(_ value: Int64) {
        guard value < 0 else { return writeUnsigned(UInt64(value)) }
        guard reserve(9) else { return }
        // CBOR stores -1 - n; for a negative Int64 that is the bitwise complement.
        let argument = ~UInt64(bitPattern: value)
        // Safe: `reserve` guaranteed 9 writable bytes at `base + count`.
        advance(unsafe cbor_encode_negint(argument, (base + count).assumingMemoryBound(to: UInt8.self), remaining))
    }

    /// Writes a float in the shortest width that holds it exactly (deterministic encoding).
    ///
    /// Half precision (`cbor_encode_half`) when `Float16` round-trips the value, else single
    /// (`cbor_encode_single`) when `Float` does, else double (`cbor_encode_double`). Every NaN becomes
    /// the half NaN `f9 7e 00` (its payload and sign are not kept). One exception: libcbor 0.8's
    /// `cbor_encode_half` keeps only the leading bit of a half subnormal, so a subnormal half with more
    /// than one significand bit set is written as a single instead.
    /// - Parameter value: The number.
    public mutating func writeDouble(_ value: Double) {
        guard reserve(9) else { return }
        // Safe (all three calls): `reserve` guaranteed 9 writable bytes at `base + count`.
        let out = unsafe (base + count).assumingMemoryBound(to: UInt8.self)
        if value.isNaN {
            advance(unsafe cbor_encode_half(Float.nan, out, remaining))
            return
        }
        let single = Float(value)
        guard Double(single) == value else {
            advance(unsafe cbor_encode_double(value, out, remaining))
            return
        }
        let half = Float16(single)
        let halfIsEncodable =
            Float(half) == single
            && (!half.isSubnormal || half.significandBitPattern.nonzeroBitCount == 1)
        // Comparing with == treats 0.0 and -0.0 as equal; the sign survives the conversions anyway.
        if halfIsEncodable {
            advance(unsafe cbor_encode_half(single, out, remaining))
        } else {
            advance(unsafe cbor_encode_single(single, out, remaining))
        }
    }

    /// Writes `true` or `false` with `cbor_encode_bool`.
    /// - Parameter value: The boolean.
    public mutating func writeBool(_ value: Bool) {
        guard reserve(1) else { return }
        // Safe: `reserve` guaranteed 1 writable byte at `base + count`.
        advance(unsafe cbor_encode_bool(value, (base + count).assumingMemoryBound(to: UInt8.self), remaining))
    }

    /// Writes `null` with `cbor_encode_null`.
    public mutating func writeNull() {
        guard reserve(1) else { return }
        // Safe: `reserve` guaranteed 1 writable byte at `base + count`.
        advance(unsafe cbor_encode_null((base + count).assumingMemoryBound(to: UInt8.self), remaining))
    }

    /// Writes the head of a definite-length array of `count` items (`cbor_encode_array_start`); the
    /// caller then writes exactly `count` items.
    /// - Parameter count: The number of items that follow.
    public mutating func writeArrayHeader(count: Int) {
        precondition(count >= 0, "a CBOR array cannot have a negative count")
        guard reserve(9) else { return }
        // Safe: `reserve` guaranteed 9 writable bytes at `base + count`.
        advance(
            unsafe cbor_encode_array_start(count, (base + self.count).assumingMemoryBound(to: UInt8.self), remaining)
        )
    }

    /// Writes the head of a definite-length map of `count` entries (`cbor_encode_map_start`); the
    /// caller then writes `count` key-value pairs.
    /// - Parameter count: The number of entries that follow.
    public mutating func writeMapHeader(count: Int) {
        precondition(count >= 0, "a CBOR map cannot have a negative count")
        guard reserve(9) else { return }
        // Safe: `reserve` guaranteed 9 writable bytes at `base + count`.
        advance(
            unsafe cbor_encode_map_start(count, (base + self.count).assumingMemoryBound(to: UInt8.self), remaining)
        )
    }

    /// Writes a text string (major type 3): `cbor_encode_string_start`, then the UTF-8 bytes.
    /// - Parameter text: The string.
    public mutating func writeText(_ text: String) {
        let written: Void? = unsafe text.utf8.withContiguousStorageIfAvailable { utf8 in
            // Safe: the raw view covers exactly the string's contiguous UTF-8 storage, for this closure.
            unsafe writeString(major: .text, UnsafeRawBufferPointer(utf8))
        }
        if written == nil {
            // Not contiguous (a bridged or lazily produced string): copy it once.
            let utf8 = Array(text.utf8)
            // Safe: the raw view covers `utf8` for this closure.
            unsafe utf8.withUnsafeBytes { unsafe writeString(major: .text, $0) }
        }
    }

    /// Writes a byte string (major type 2): `cbor_encode_bytestring_start`, then the bytes.
    /// - Parameter bytes: The bytes.
    public mutating func writeBytes(_ bytes: [UInt8]) {
        // Safe: the raw view covers the array's storage for this closure.
        unsafe bytes.withUnsafeBytes { unsafe writeString(major: .bytes, $0) }
    }

    /// Writes a byte string (major type 2) from caller memory.
    /// - Parameter bytes: The bytes, copied into the encoding.
    public mutating func writeBytes(_ bytes: UnsafeRawBufferPointer) {
        unsafe writeString(major: .bytes, bytes)
    }

    /// Writes an item the caller has already encoded, byte for byte (no validation).
    /// - Parameter encoded: One or more complete CBOR items.
    package mutating func writeEncoded(_ encoded: UnsafeRawBufferPointer) {
        guard reserve(encoded.count) else { return }
        if let source = encoded.baseAddress, encoded.count > 0 {
            // Safe: `reserve` guaranteed `encoded.count` writable bytes; the regions cannot overlap
            // because the writer's buffer is private to it.
            unsafe (base + count).copyMemory(from: source, byteCount: encoded.count)
        }
        count += encoded.count
    }

    /// Writes a traceparent as its 26-byte binary form without building an array.
    /// - Parameters:
    ///   - version: The version byte.
    ///   - words: Trace id high, trace id low, parent id; written big-endian.
    ///   - flags: The flags byte.
    package mutating func writeTraceParentBytes(version: UInt8, _ words: (UInt64, UInt64, UInt64), flags: UInt8) {
        // The head of a 26-byte string takes 2 bytes (0x58 0x1a): 26 is above the 23 that fit in one.
        guard reserve(2 + 26) else { return }
        // Safe: `reserve` guaranteed 28 writable bytes at `base + count`.
        advance(
            unsafe cbor_encode_bytestring_start(26, (base + count).assumingMemoryBound(to: UInt8.self), remaining)
        )
        // Safe: the head took 2 bytes, so the 26 written below lie within the 28 reserved.
        unsafe base.storeBytes(of: version, toByteOffset: count, as: UInt8.self)
        unsafe base.storeBytes(of: words.0.bigEndian, toByteOffset: count + 1, as: UInt64.self)
        unsafe base.storeBytes(of: words.1.bigEndian, toByteOffset: count + 9, as: UInt64.self)
        unsafe base.storeBytes(of: words.2.bigEndian, toByteOffset: count + 17, as: UInt64.self)
        unsafe base.storeBytes(of: flags, toByteOffset: count + 25, as: UInt8.self)
        count += 26
    }

    // MARK: - Framing (the bus's length prefixes and outbound queue)

    /// Appends a 32-bit little-endian integer as raw bytes (not a CBOR item): a frame's length prefix.
    /// - Parameter value: The integer.
    package mutating func writeRawUInt32LittleEndian(_ value: UInt32) {
        guard reserve(4) else { return }
        // Safe: `reserve` guaranteed 4 writable bytes at `base + count`.
        unsafe base.storeBytes(of: value.littleEndian, toByteOffset: count, as: UInt32.self)
        count += 4
    }

    /// Overwrites 4 bytes already written with a 32-bit little-endian integer: fills in a length prefix
    /// once the frame behind it is encoded.
    /// - Parameters:
    ///   - value: The integer.
    ///   - offset: Where the 4 bytes start; `offset + 4` must not exceed ``count``.
    package mutating func overwriteRawUInt32LittleEndian(_ value: UInt32, at offset: Int) {
        precondition(offset >= 0 && offset + 4 <= count, "overwrite outside the bytes written")
        // Safe: bytes `offset..<offset + 4` lie within the `count` written bytes (checked above).
        unsafe base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
    }

    /// Forgets the bytes after the first `newCount`: rolls back a frame that turned out too large.
    /// - Parameter newCount: The number of bytes to keep; at most ``count``.
    package mutating func truncate(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count, "truncate beyond the bytes written")
        count = newCount
    }

    /// Removes the first `byteCount` bytes, moving the rest to the front: the part of an outbound
    /// queue that the socket has taken.
    /// - Parameter byteCount: How many bytes to drop; at most ``count``.
    package mutating func removeFirst(_ byteCount: Int) {
        precondition(byteCount >= 0 && byteCount <= count, "removeFirst beyond the bytes written")
        let remainder = count - byteCount
        if remainder > 0 {
            // Safe: both ranges lie within the `count` written bytes; the raw pointer's `copyMemory`
            // allows the regions to overlap (it is a memmove).
            unsafe base.copyMemory(from: base + byteCount, byteCount: remainder)
        }
        count = remainder
    }

    // MARK: - Buffer management

    private enum StringMajor { case bytes, text }

    private mutating func writeString(major: StringMajor, _ content: UnsafeRawBufferPointer) {
        guard reserve(9 + content.count) else { return }
        // Safe: `reserve` guaranteed 9 + content.count writable bytes at `base + count`.
        let out = unsafe (base + count).assumingMemoryBound(to: UInt8.self)
        switch major {
        case .bytes: advance(unsafe cbor_encode_bytestring_start(content.count, out, remaining))
        case .text: advance(unsafe cbor_encode_string_start(content.count, out, remaining))
        }
        if let source = content.baseAddress, content.count > 0 {
            // Safe: the head took at most 9 of the reserved bytes, so content.count remain; the source
            // is caller memory, which cannot overlap the writer's private buffer.
            unsafe (base + count).copyMemory(from: source, byteCount: content.count)
        }
        count += content.count
    }

    /// The bytes left in the buffer.
    private var remaining: Int { capacity - count }

    /// Makes room for `byteCount` more bytes; false (and the writer marked overflowed) when a borrowed
    /// buffer is too small.
    private mutating func reserve(_ byteCount: Int) -> Bool {
        if byteCount <= capacity - count { return !hasOverflowed }
        guard ownsBuffer else {
            hasOverflowed = true
            return false
        }
        grow(toAtLeast: count + byteCount)
        return true
    }

    private mutating func grow(toAtLeast required: Int) {
        var newCapacity = capacity
        while newCapacity < required { newCapacity = newCapacity > Int.max / 2 ? required : newCapacity * 2 }
        // Safe: a fresh allocation; the first `count` bytes are copied from the old buffer, which this
        // writer owns and frees right after.
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        unsafe newBase.copyMemory(from: base, byteCount: count)
        unsafe base.deallocate()
        unsafe base = newBase
        capacity = newCapacity
    }

    /// Records what a `cbor_encode_*` call wrote; 0 would mean the reservation was wrong.
    private mutating func advance(_ written: Int) {
        precondition(written > 0, "libcbor refused to encode into a buffer reserved for it")
        count += written
    }
}
