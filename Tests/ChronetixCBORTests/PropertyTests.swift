import ChronetixCBOR
import ChronetixCore
import ChronetixTestSupport
import Testing

/// Seeded random round trips and mutations. The seed is printed in every failure; rerun with
/// `CHRONETIX_TEST_SEED=<seed> swift test --filter ChronetixCBORTests` to reproduce.
struct PropertyTests {
    @Test func randomDocumentsRoundTrip() throws {
        var random = SplitMix64(seed: propertySeed)
        for iteration in 0..<500 {
            let value = random.structuredValue()
            let bytes = CBOR.encode(value)
            let decoded = try CBOR.decodeValue(bytes, limits: CBORLimits(maxBytes: 1 << 24))
            #expect(equivalent(decoded, value), "seed \(propertySeed), iteration \(iteration): \(value)")
            // Deterministic: decoding and re-encoding gives the same bytes.
            #expect(CBOR.encode(decoded) == bytes, "seed \(propertySeed), iteration \(iteration)")
        }
    }

    @Test func randomEnvelopesRoundTrip() throws {
        var random = SplitMix64(seed: propertySeed ^ 0xE4E1)
        var writer = CBORWriter()
        for iteration in 0..<500 {
            let envelope = random.envelope()
            writer.reset()
            envelope.encode(into: &writer)
            #expect(writer.bytes == CBOR.encode(envelope))
            let decoded = try Envelope(cbor: writer.bytes)
            #expect(decoded == envelope, "seed \(propertySeed), iteration \(iteration): \(envelope)")
        }
    }

    @Test func randomDoublesKeepTheirBits() throws {
        var random = SplitMix64(seed: propertySeed ^ 0xD0)
        for _ in 0..<5000 {
            let number = random.double()
            let decoded = try CBOR.decodeValue(CBOR.encode(.double(number)))
            guard case .double(let back) = decoded else {
                Issue.record("seed \(propertySeed): \(number) decoded as \(decoded)")
                continue
            }
            if number.isNaN {
                #expect(back.isNaN)
            } else {
                #expect(back.bitPattern == number.bitPattern, "seed \(propertySeed): \(number) came back as \(back)")
            }
        }
    }

    // MARK: - Mutations

    enum Mutation: CaseIterable { case flipBit, insert, delete, replace, duplicateRange, lengthBomb }

    /// Applies 1-3 random mutations.
    static func mutate(_ input: [UInt8], using random: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<random.int(1...3) {
            let position = bytes.isEmpty ? 0 : random.int(0...bytes.count - 1)
            switch Mutation.allCases[random.int(0...Mutation.allCases.count - 1)] {
            case .flipBit where !bytes.isEmpty:
                bytes[position] ^= 1 << UInt8(random.int(0...7))
            case .insert:
                bytes.insert(UInt8(random.int(0...255)), at: min(position, bytes.count))
            case .delete where !bytes.isEmpty:
                bytes.remove(at: position)
            case .replace where !bytes.isEmpty:
                bytes[position] =
                    [0x00, 0x17, 0x18, 0x1B, 0x5F, 0x7F, 0x9F, 0xBF, 0xC0, 0xF7, 0xFF, 0xF9][random.int(0...11)]
            case .duplicateRange where !bytes.isEmpty:
                let end = min(bytes.count, position + random.int(1...16))
                bytes.insert(contentsOf: bytes[position..<end], at: end)
            case .lengthBomb:
                // A head claiming an enormous length or count.
                let head: [UInt8] = [[0x5B], [0x7B], [0x9B], [0xBB], [0x5A], [0x9A]][random.int(0...5)]
                let argument: [UInt8] = head[0] & 0x1F == 27 ? [0x40, 0, 0, 0, 0, 0, 0, 0] : [0x7F, 0xFF, 0xFF, 0xFF]
                bytes.insert(contentsOf: head + argument, at: min(position, bytes.count))
            default:
                break
            }
        }
        return bytes
    }

    @Test func mutatedDocumentsFailCleanlyOrStayConsistent() {
        var random = SplitMix64(seed: propertySeed ^ 0x3117)
        let seeds = [CBOR.encode(nestedDocument)] + (0..<40).map { _ in CBOR.encode(random.structuredValue()) }
        var decodedCount = 0
        for iteration in 0..<6000 {
            let mutated = Self.mutate(seeds[iteration % seeds.count], using: &random)
            do {
                let value = try CBOR.decodeValue(mutated)
                decodedCount += 1
                let again = try CBOR.decodeValue(CBOR.encode(value))
                #expect(equivalent(again, value), "seed \(propertySeed), iteration \(iteration): \(hexString(mutated))")
            } catch {
                // Typed throws: every failure is a CodecError; its offset must point into the input.
                #expect(error.offset.map { $0 >= 0 && $0 <= mutated.count } ?? true, "\(error)")
            }
        }
        #expect(decodedCount > 0, "the mutator should leave some inputs valid")
    }

    @Test func mutatedEnvelopesFailCleanlyOrStayConsistent() {
        var random = SplitMix64(seed: propertySeed ^ 0x3118)
        let seeds =
            [CBOR.encode(fullEnvelope), CBOR.encode(minimalEnvelope)]
            + (0..<30).map { _ in CBOR.encode(random.envelope()) }
        for iteration in 0..<6000 {
            let mutated = Self.mutate(seeds[iteration % seeds.count], using: &random)
            do {
                let envelope = try Envelope(cbor: mutated)
                let again = try Envelope(cbor: CBOR.encode(envelope))
                #expect(again == envelope, "seed \(propertySeed), iteration \(iteration): \(hexString(mutated))")
            } catch {
                // Typed throws: every failure is a CodecError; its offset must point into the input.
                #expect(error.offset.map { $0 >= 0 && $0 <= mutated.count } ?? true, "\(error)")
            }
        }
    }
}
