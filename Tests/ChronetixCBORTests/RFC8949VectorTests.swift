import ChronetixCBOR
import ChronetixCore
import Testing

/// Exact bytes from RFC 8949 Appendix A: proves shortest-form integers and float widths.
struct RFC8949VectorTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let value: StructuredValue
        let encoding: String
        var testDescription: String { encoding }
    }

    static let integers: [Vector] = [
        .init(value: 0, encoding: "00"), .init(value: 1, encoding: "01"), .init(value: 10, encoding: "0a"),
        .init(value: 23, encoding: "17"), .init(value: 24, encoding: "1818"), .init(value: 25, encoding: "1819"),
        .init(value: 100, encoding: "1864"), .init(value: 1000, encoding: "1903e8"),
        .init(value: 1_000_000, encoding: "1a000f4240"),
        .init(value: 1_000_000_000_000, encoding: "1b000000e8d4a51000"),
        .init(value: .integer(Int64.max), encoding: "1b7fffffffffffffff"),
        .init(value: -1, encoding: "20"), .init(value: -10, encoding: "29"), .init(value: -100, encoding: "3863"),
        .init(value: -1000, encoding: "3903e7"),
        .init(value: .integer(Int64.min), encoding: "3b7fffffffffffffff"),
    ]

    static let floats: [Vector] = [
        .init(value: 0.0, encoding: "f90000"), .init(value: -0.0, encoding: "f98000"),
        .init(value: 1.0, encoding: "f93c00"), .init(value: 1.1, encoding: "fb3ff199999999999a"),
        .init(value: 1.5, encoding: "f93e00"), .init(value: 65504.0, encoding: "f97bff"),
        .init(value: 100000.0, encoding: "fa47c35000"),
        .init(value: 3.4028234663852886e+38, encoding: "fa7f7fffff"),
        .init(value: 1.0e+300, encoding: "fb7e37e43c8800759c"),
        .init(value: 5.960464477539063e-8, encoding: "f90001"),
        .init(value: 0.00006103515625, encoding: "f90400"), .init(value: -4.0, encoding: "f9c400"),
        .init(value: -4.1, encoding: "fbc010666666666666"),
        .init(value: .double(.infinity), encoding: "f97c00"),
        .init(value: .double(-.infinity), encoding: "f9fc00"),
    ]

    static let others: [Vector] = [
        .init(value: false, encoding: "f4"), .init(value: true, encoding: "f5"), .init(value: nil, encoding: "f6"),
        .init(value: .bytes([]), encoding: "40"), .init(value: .bytes([1, 2, 3, 4]), encoding: "4401020304"),
        .init(value: "", encoding: "60"), .init(value: "a", encoding: "6161"),
        .init(value: "IETF", encoding: "6449455446"), .init(value: "\"\\", encoding: "62225c"),
        .init(value: "\u{00fc}", encoding: "62c3bc"), .init(value: "\u{6c34}", encoding: "63e6b0b4"),
        .init(value: "\u{10151}", encoding: "64f0908591"),
        .init(value: [], encoding: "80"), .init(value: [1, 2, 3], encoding: "83010203"),
        .init(value: [1, [2, 3], [4, 5]], encoding: "8301820203820405"),
        .init(
            value: .array((1...25).map { .integer(Int64($0)) }),
            encoding: "98190102030405060708090a0b0c0d0e0f101112131415161718181819"
        ),
        .init(value: .map([]), encoding: "a0"),
        .init(value: .map([.init("a", 1), .init("b", [2, 3])]), encoding: "a26161016162820203"),
        .init(value: ["a", .map([.init("b", "c")])], encoding: "826161a161626163"),
        .init(
            value: .map(["a", "b", "c", "d", "e"].map { .init($0, .string($0.uppercased())) }),
            encoding: "a56161614161626142616361436164614461656145"
        ),
    ]

    @Test(arguments: integers + floats + others)
    func encodesExactly(_ vector: Vector) throws {
        #expect(hexString(CBOR.encode(vector.value)) == vector.encoding)
    }

    @Test(arguments: integers + floats + others)
    func decodesExactly(_ vector: Vector) throws {
        let decoded = try CBOR.decodeValue(hex(vector.encoding))
        #expect(equivalent(decoded, vector.value), "\(decoded) != \(vector.value)")
    }

    @Test func writesLargestUnsignedInEightBytes() {
        var writer = CBORWriter()
        writer.writeUnsigned(UInt64.max)
        #expect(hexString(writer.bytes) == "1bffffffffffffffff")
    }

    @Test func encodesEveryNaNAsHalfNaN() {
        for nan in [Double.nan, -Double.nan, Double.signalingNaN, Double(bitPattern: 0x7FF0_0000_0000_0001)] {
            #expect(hexString(CBOR.encode(.double(nan))) == "f97e00")
        }
        let decoded = try? CBOR.decodeValue(hex("f97e00"))  // nil would fail the expectation below
        #expect(decoded.map { if case .double(let d) = $0 { d.isNaN } else { false } } == true)
    }

    @Test func writesMultiBitHalfSubnormalAsSingle() throws {
        // 3 * 2^-24 is a half subnormal with two significand bits, which libcbor 0.8 would truncate.
        let value = 3 * 5.960464477539063e-8
        #expect(hexString(CBOR.encode(.double(value))) == "fa34400000")
        #expect(try CBOR.decodeValue(hex("fa34400000")) == .double(value))
        #expect(try CBOR.decodeValue(hex("f90003")) == .double(value))
    }

    @Test func acceptsNonShortestForms() throws {
        #expect(try CBOR.decodeValue(hex("1b0000000000000001")) == 1)
        #expect(try CBOR.decodeValue(hex("fb3ff8000000000000")) == 1.5)
        #expect(try CBOR.decodeValue(hex("fa3fc00000")) == 1.5)
        #expect(try CBOR.decodeValue(hex("5800")) == .bytes([]))
    }

    @Test func keepsIntegersAndDoublesDistinct() throws {
        #expect(hexString(CBOR.encode(2)) == "02")
        #expect(hexString(CBOR.encode(2.0)) == "f94000")
        #expect(try CBOR.decodeValue(hex("f94000")) == .double(2))
    }
}
