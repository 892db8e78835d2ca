// CLibCBOR: libcbor (Debian libcbor-dev 0.8) as seen from Swift.
// Only ChronetixCBOR imports this module; no libcbor type crosses that module's API.
//
// Why the decoder glue is C and not Swift `@convention(c)` closures: `cbor_stream_decode` calls one of
// 26 function pointers for the single item head it decodes, and it calls them unconditionally (none
// may be NULL). Written here, each callback is a two-line store into a plain token struct, the
// callback table is built on the stack with designated initializers (no global variable, no lazy
// Swift global with its `swift_once` check, no context-pointer rebinding in Swift), and the Swift side
// sees one pure function: bytes in, `cx_cbor_head` out. The token holds no pointer (a string's bytes
// are found from `read - argument`), so nothing here can dangle.
#ifndef CHRONETIX_CLIBCBOR_SHIM_H
#define CHRONETIX_CLIBCBOR_SHIM_H

#include <cbor.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/// What kind of item head `cbor_stream_decode` reported.
typedef enum __attribute__((enum_extensibility(closed))) cx_cbor_kind {
    /// No callback ran: the input was truncated or malformed (see `cx_cbor_head.status`).
    CX_CBOR_KIND_NONE = 0,
    /// Major type 0; `argument` is the value.
    CX_CBOR_KIND_UNSIGNED,
    /// Major type 1; the value is `-1 - argument`.
    CX_CBOR_KIND_NEGATIVE,
    /// A definite byte string; `argument` is its length, its bytes end at `read`.
    CX_CBOR_KIND_BYTES,
    /// A definite text string; `argument` is its length, its bytes end at `read`.
    CX_CBOR_KIND_TEXT,
    /// A definite array; `argument` is the element count.
    CX_CBOR_KIND_ARRAY,
    /// A definite map; `argument` is the entry count.
    CX_CBOR_KIND_MAP,
    /// A tag; `argument` is the tag number.
    CX_CBOR_KIND_TAG,
    /// A half, single or double float; `number` holds it, `argument` its width in bytes (2, 4, 8).
    CX_CBOR_KIND_FLOAT,
    /// `true` or `false`; `argument` is 1 or 0.
    CX_CBOR_KIND_BOOL,
    /// `null`.
    CX_CBOR_KIND_NULL,
    /// `undefined`.
    CX_CBOR_KIND_UNDEFINED,
    /// The start of an indefinite-length string, array or map.
    CX_CBOR_KIND_INDEFINITE,
    /// The "break" stop code of an indefinite-length item.
    CX_CBOR_KIND_BREAK,
} cx_cbor_kind;

/// The outcome of decoding one item head, mirroring `enum cbor_decoder_status`.
typedef enum __attribute__((enum_extensibility(closed))) cx_cbor_status {
    /// One head (and, for strings, its bytes) was decoded.
    CX_CBOR_STATUS_FINISHED = 0,
    /// The input ends before the head (or a string's declared bytes) does.
    CX_CBOR_STATUS_TRUNCATED,
    /// Reserved or unassigned initial byte.
    CX_CBOR_STATUS_MALFORMED,
} cx_cbor_status;

/// One decoded item head: the token a Swift pull parser works with.
typedef struct cx_cbor_head {
    /// What was decoded.
    cx_cbor_kind kind;
    /// Whether anything was decoded.
    cx_cbor_status status;
    /// Value, length, count, tag number or float width, depending on `kind`.
    uint64_t argument;
    /// The float value when `kind` is `CX_CBOR_KIND_FLOAT`, widened exactly to double.
    double number;
    /// Bytes consumed: the head plus, for strings, the string's bytes. 0 unless finished.
    size_t read;
} cx_cbor_head;

// The callbacks: each records what it saw in the `cx_cbor_head` passed as libcbor's context.
static inline void cx_cbor_on_uint8(void *_Nonnull context, uint8_t value) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_UNSIGNED;
    ((cx_cbor_head *)context)->argument = value;
}
static inline void cx_cbor_on_uint16(void *_Nonnull context, uint16_t value) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_UNSIGNED;
    ((cx_cbor_head *)context)->argument = value;
}
static inline void cx_cbor_on_uint32(void *_Nonnull context, uint32_t value) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_UNSIGNED;
    ((cx_cbor_head *)context)->argument = value;
}
static inline void cx_cbor_on_uint64(void *_Nonnull context, uint64_t value) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_UNSIGNED;
    ((cx_cbor_head *)context)->argument = value;
}
static inline void cx_cbor_on_negint8(void *_Nonnull context, uint8_t value) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_NEGATIVE;
    ((cx_cbor_head *)context)->argument = value;
}
static inline void cx_cbor_on_negint16(void *_Nonnull context, uint16_t value) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_NEGATIVE;
    ((cx_cbor_head *)context)->argument = value;
}
static inline void cx_cbor_on_negint32(void *_Nonnull context, uint32_t value) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_NEGATIVE;
    ((cx_cbor_head *)context)->argument = value;
}
static inline void cx_cbor_on_negint64(void *_Nonnull context, uint64_t value) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_NEGATIVE;
    ((cx_cbor_head *)context)->argument = value;
}
static inline void cx_cbor_on_bytes(void *_Nonnull context, cbor_data _Nonnull data, size_t length) {
    (void)data;  // found again from `read - argument`, so the token holds no pointer
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_BYTES;
    ((cx_cbor_head *)context)->argument = length;
}
static inline void cx_cbor_on_text(void *_Nonnull context, cbor_data _Nonnull data, size_t length) {
    (void)data;  // found again from `read - argument`, so the token holds no pointer
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_TEXT;
    ((cx_cbor_head *)context)->argument = length;
}
static inline void cx_cbor_on_array(void *_Nonnull context, size_t count) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_ARRAY;
    ((cx_cbor_head *)context)->argument = count;
}
static inline void cx_cbor_on_map(void *_Nonnull context, size_t count) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_MAP;
    ((cx_cbor_head *)context)->argument = count;
}
static inline void cx_cbor_on_tag(void *_Nonnull context, uint64_t value) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_TAG;
    ((cx_cbor_head *)context)->argument = value;
}
static inline void cx_cbor_on_half(void *_Nonnull context, float value) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_FLOAT;
    ((cx_cbor_head *)context)->argument = 2;
    ((cx_cbor_head *)context)->number = (double)value;
}
static inline void cx_cbor_on_single(void *_Nonnull context, float value) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_FLOAT;
    ((cx_cbor_head *)context)->argument = 4;
    ((cx_cbor_head *)context)->number = (double)value;
}
static inline void cx_cbor_on_double(void *_Nonnull context, double value) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_FLOAT;
    ((cx_cbor_head *)context)->argument = 8;
    ((cx_cbor_head *)context)->number = value;
}
static inline void cx_cbor_on_bool(void *_Nonnull context, bool value) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_BOOL;
    ((cx_cbor_head *)context)->argument = value ? 1 : 0;
}
static inline void cx_cbor_on_null(void *_Nonnull context) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_NULL;
}
static inline void cx_cbor_on_undefined(void *_Nonnull context) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_UNDEFINED;
}
static inline void cx_cbor_on_indefinite(void *_Nonnull context) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_INDEFINITE;
}
static inline void cx_cbor_on_break(void *_Nonnull context) {
    ((cx_cbor_head *)context)->kind = CX_CBOR_KIND_BREAK;
}

/// Decodes the one item head at the start of `bytes` with `cbor_stream_decode`.
///
/// Never reads past `bytes + length`, never allocates. libcbor reports a string's bytes with the head,
/// so for strings `read` covers them too; a declared length beyond `length` comes back as
/// `CX_CBOR_STATUS_TRUNCATED` without touching those bytes. In C because it builds the callback table
/// libcbor requires (see the file comment).
static inline cx_cbor_head cx_cbor_decode_head(const uint8_t *_Nonnull bytes, size_t length) {
    // A function-local `static const`, not a header variable: built once at compile time instead of
    // 24 pointer stores on every call (measurable: ~13 calls per envelope), immutable, and private
    // to the one translation unit (ChronetixCBOR's Clang module) that emits this inline function.
    static const struct cbor_callbacks callbacks = {
        .uint8 = cx_cbor_on_uint8,
        .uint16 = cx_cbor_on_uint16,
        .uint32 = cx_cbor_on_uint32,
        .uint64 = cx_cbor_on_uint64,
        .negint64 = cx_cbor_on_negint64,
        .negint32 = cx_cbor_on_negint32,
        .negint16 = cx_cbor_on_negint16,
        .negint8 = cx_cbor_on_negint8,
        // libcbor 0.8's header comments swap these two: `byte_string` is the definite one.
        .byte_string_start = cx_cbor_on_indefinite,
        .byte_string = cx_cbor_on_bytes,
        .string = cx_cbor_on_text,
        .string_start = cx_cbor_on_indefinite,
        .indef_array_start = cx_cbor_on_indefinite,
        .array_start = cx_cbor_on_array,
        .indef_map_start = cx_cbor_on_indefinite,
        .map_start = cx_cbor_on_map,
        .tag = cx_cbor_on_tag,
        .float2 = cx_cbor_on_half,
        .float4 = cx_cbor_on_single,
        .float8 = cx_cbor_on_double,
        .undefined = cx_cbor_on_undefined,
        .null = cx_cbor_on_null,
        .boolean = cx_cbor_on_bool,
        .indef_break = cx_cbor_on_break,
    };
    cx_cbor_head head = {.kind = CX_CBOR_KIND_NONE, .status = CX_CBOR_STATUS_MALFORMED};
    struct cbor_decoder_result result = cbor_stream_decode(bytes, length, &callbacks, &head);
    switch (result.status) {
    case CBOR_DECODER_FINISHED:
        head.status = CX_CBOR_STATUS_FINISHED;
        head.read = result.read;
        break;
    case CBOR_DECODER_NEDATA:
        head.kind = CX_CBOR_KIND_NONE;
        head.status = CX_CBOR_STATUS_TRUNCATED;
        head.read = 0;
        break;
    default:
        head.kind = CX_CBOR_KIND_NONE;
        head.status = CX_CBOR_STATUS_MALFORMED;
        head.read = 0;
        break;
    }
    return head;
}

#endif
