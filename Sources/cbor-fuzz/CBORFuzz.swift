// cbor-fuzz: a libFuzzer target for ChronetixCBOR's decoders (see scripts/fuzz-cbor.sh).
//
// Built with `-Xswiftc -sanitize=fuzzer,address -Xswiftc -DCBOR_FUZZ`, libFuzzer provides `main` and
// calls `LLVMFuzzerTestOneInput`. A plain `swift build` compiles the replay `main` below instead, so the
// package builds without sanitizer flags: it prints the seed corpus (`--print-seeds`, one hex line per
// seed) or decodes hex lines from stdin (`xxd -p crash-… | tr -d '\n' | cbor-fuzz`) to replay a finding.
// No Foundation or Glibc here: file handling stays in the script.

import ChronetixCBOR
import ChronetixCore

/// Decodes `bytes` as a document and as an envelope. A `CodecError` is the expected outcome for junk;
/// a value that decodes must survive encode → decode unchanged, otherwise this traps (a finding).
func checkOneInput(_ bytes: [UInt8]) {
    if let value = try? CBOR.decodeValue(bytes) {  // a CodecError is the normal outcome for junk
        let again: StructuredValue
        do {
            again = try CBOR.decodeValue(CBOR.encode(value))
        } catch {
            fatalError("re-encoded document fails to decode: \(error)")
        }
        precondition(equivalent(value, again), "document changed across a round trip: \(value) vs \(again)")
    }
    if let envelope = try? Envelope(cbor: bytes) {  // as above
        let again: Envelope
        do {
            again = try Envelope(cbor: CBOR.encode(envelope), limits: CBORLimits(maxBytes: 2 << 20))
        } catch {
            fatalError("re-encoded envelope fails to decode: \(error)")
        }
        precondition(envelope == again, "envelope changed across a round trip")
    }
}

/// Equality in which NaN equals NaN.
func equivalent(_ lhs: StructuredValue, _ rhs: StructuredValue) -> Bool {
    switch (lhs, rhs) {
    case (.double(let a), .double(let b)): (a.isNaN && b.isNaN) || a.bitPattern == b.bitPattern
    case (.array(let a), .array(let b)): a.count == b.count && zip(a, b).allSatisfy { equivalent($0, $1) }
    case (.map(let a), .map(let b)):
        a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && equivalent($0.value, $1.value) }
    default: lhs == rhs
    }
}

/// Valid messages for libFuzzer to start mutating from.
func seedCorpus() -> [[UInt8]] {
    let traceParent = TraceParent(
        traceIDHigh: 0x4BF9_2F35_77B3_4DA6,
        traceIDLow: 0xA3CE_929D_0E0E_4736,
        parentID: 0xF067
    )
    let envelopes = [
        Envelope(id: 1, topic: "flow.a.b", payload: [1, 2, 3]),
        Envelope(
            id: 0xFFFF_FFFF_FFFF,
            topic: "flow.sensor-chain.gain.events",
            contentType: ContentType.cbor.mediaType,
            schemaVersion: 7,
            deadlineNanoseconds: 1_700_000_000_000,
            priority: .realtime,
            traceParent: traceParent,
            traceState: "rojo=00f067aa0ba902b7",
            headers: [.init("retry", "1"), .init("retry", "2")],
            payload: Array(0..<64)
        ),
    ]
    let documents: [StructuredValue] = [
        .map([
            .init("format", 1), .init("name", "gain"), .init("ratio", 1.1), .init("half", 1.5),
            .init("flags", [true, false, nil]), .init("blob", .bytes([0, 0xFF])),
            .init("nested", .map([.init("deeper", [[1, -2], [.map([.init("x", "ü水𐅑")])]])])),
        ]),
        [0, 23, 24, 255, 256, 65536, .integer(.max), .integer(.min), -1, 100000.0, 1e300],
    ]
    return envelopes.map { CBOR.encode($0) } + documents.map { CBOR.encode($0) }
}

#if CBOR_FUZZ
    /// libFuzzer's entry point.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        // libFuzzer passes a valid buffer of `size` bytes (or NULL with size 0) for the call's duration.
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        checkOneInput(bytes)
        return 0
    }
#else
    @main
    enum CBORFuzzReplay {
        static func main() {
            if CommandLine.arguments.dropFirst().first == "--print-seeds" {
                for seed in seedCorpus() { print(seed.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()) }
                return
            }
            var count = 0
            while let line = readLine() {
                let digits = Array(line.utf8.filter { $0 != UInt8(ascii: " ") })
                var bytes: [UInt8] = []
                var index = 0
                while index + 1 < digits.count {
                    guard let byte = UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) else {
                        print("not hex: \(line)")
                        return
                    }
                    bytes.append(byte)
                    index += 2
                }
                checkOneInput(bytes)
                count += 1
            }
            print("replayed \(count) inputs without a finding")
        }
    }
#endif
