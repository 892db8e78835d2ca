package import ChronetixCBOR
package import ChronetixCore

/// The bus's messages on the wire: each frame is a 4-byte little-endian length `N` followed by `N` bytes
/// holding one CBOR array `[kind, fields…]` (see `docs/wire-format.md`, "Bus messages").
///
/// Decoding works on a frame in place and returns ranges for envelopes rather than copies, so the host
/// forwards a publish to its subscribers byte for byte, without allocating.
public enum BusWire {
    /// The protocol version this build speaks; negotiated in the hello.
    public static let protocolVersion: UInt64 = 1
    /// The size of a frame's length prefix.
    package static let prefixBytes = 4

    /// Message kinds: the first element of every message array.
    package enum Kind: UInt64, CaseIterable, Sendable {
        case hello = 0
        case welcome = 1
        case refused = 2
        case publish = 3
        case subscribe = 4
        case unsubscribe = 5
        case deliver = 6
        case request = 7
        case reply = 8
        case error = 9
        case heartbeat = 10
        case dropped = 11
        case descriptors = 12
        case goodbye = 13
        case ack = 14
    }

    /// Where an envelope lies in a frame: its bytes (to forward) and its topic (to route).
    package struct EnvelopeSpan: Hashable, Sendable {
        /// The envelope map's bytes, as offsets in the frame.
        package var range: Range<Int>
        /// The topic's UTF-8 bytes, as offsets in the frame.
        package var topicRange: Range<Int>
    }

    /// Subscribe flags: bit 0 marks a responder (serves requests), bit 1 asks for dropping on overflow.
    package enum SubscribeFlag {
        package static let responder: UInt64 = 1
        package static let dropOnOverflow: UInt64 = 2
        package static let known: UInt64 = responder | dropOnOverflow
    }

    /// One decoded message. Text fields are copied; envelopes stay in the frame as spans.
    package enum Message: Sendable {
        case hello(BusHello)
        case welcome(BusWelcome)
        case refused(BusRefusal)
        case publish(EnvelopeSpan)
        case subscribe(correlation: UInt64, subscription: UInt64, pattern: String, flags: UInt64)
        case unsubscribe(correlation: UInt64, subscription: UInt64)
        case deliver(subscription: UInt64, EnvelopeSpan)
        case request(correlation: UInt64, timeoutNanoseconds: UInt64, EnvelopeSpan)
        case reply(correlation: UInt64, EnvelopeSpan)
        case error(correlation: UInt64, code: BusErrorCode, text: String)
        case heartbeat(timeNanoseconds: UInt64)
        case dropped(subscription: UInt64, total: UInt64)
        case descriptors(count: UInt64, label: String)
        case goodbye(reason: BusGoodbyeReason, text: String)
        case ack(correlation: UInt64)

        /// The message's kind.
        package var kind: Kind {
            switch self {
            case .hello: .hello
            case .welcome: .welcome
            case .refused: .refused
            case .publish: .publish
            case .subscribe: .subscribe
            case .unsubscribe: .unsubscribe
            case .deliver: .deliver
            case .request: .request
            case .reply: .reply
            case .error: .error
            case .heartbeat: .heartbeat
            case .dropped: .dropped
            case .descriptors: .descriptors
            case .goodbye: .goodbye
            case .ack: .ack
            }
        }
    }

    /// The most descriptors one `descriptors` message may announce (the kernel's `SCM_MAX_FD`).
    package static let maxDescriptorsPerMessage: UInt64 = 253

    // MARK: - Decoding

    /// Decodes one message from an untrusted peer.
    /// - Parameters:
    ///   - frame: The message's CBOR bytes (without the length prefix); only read during the call.
    ///   - limits: The size and nesting bounds.
    /// - Returns: The message; envelope spans are offsets into `frame`.
    /// - Throws: `BusError` `.protocolViolation` naming what was wrong: bad CBOR, not an array, an unknown
    ///   kind, a missing or mistyped field, an invalid envelope, or a topic that breaks the rules.
    package static func decode(_ frame: UnsafeRawBufferPointer, limits: CBORLimits) throws(BusError) -> Message {
        var unused: Envelope?
        return try unsafe decode(frame, limits: limits, materializing: false, envelope: &unused)
    }

    /// Decodes and validates one message like ``decode(_:limits:)``, and builds the envelope it carries (if
    /// any) in the same pass: what a client does with every delivery, request and reply.
    /// - Parameters:
    ///   - frame: The message's CBOR bytes (without the length prefix); only read during the call.
    ///   - limits: The size and nesting bounds.
    ///   - envelope: Set to the carried envelope, payload copied; left alone for other messages.
    /// - Returns: The message.
    /// - Throws: As ``decode(_:limits:)``.
    package static func decode(
        _ frame: UnsafeRawBufferPointer,
        limits: CBORLimits,
        envelope: inout Envelope?
    ) throws(BusError) -> Message {
        try unsafe decode(frame, limits: limits, materializing: true, envelope: &envelope)
    }

    private static func decode(
        _ frame: UnsafeRawBufferPointer,
        limits: CBORLimits,
        materializing: Bool,
        envelope: inout Envelope?
    ) throws(BusError) -> Message {
        do {
            return try unsafe CBOR.withReader(unsafeBuffer: frame, limits: limits) {
                (reader) throws(CodecError) -> Message in
                try readMessage(&reader, materializing: materializing, envelope: &envelope)
            }
        } catch {
            throw BusError(.protocolViolation, "\(error)")
        }
    }

    private static func readMessage(
        _ reader: inout UnsafeCBORReader,
        materializing: Bool,
        envelope: inout Envelope?
    ) throws(CodecError) -> Message {
        let arrayHead = try reader.readHead()
        guard arrayHead.kind == .array, arrayHead.argument >= 1 else {
            throw CodecError(.typeMismatch, "a bus message is a non-empty array [kind, …]", offset: arrayHead.offset)
        }
        let count = arrayHead.argument
        let kindHead = try reader.readHead()
        guard kindHead.kind == .unsigned, let kind = Kind(rawValue: kindHead.argument) else {
            throw CodecError(.invalidValue, "unknown message kind \(describe(kindHead))", offset: kindHead.offset)
        }
        func expect(_ fields: UInt64) throws(CodecError) {
            guard count == fields + 1 else {
                throw CodecError(
                    .typeMismatch,
                    "a \(kind) message has \(fields) fields after its kind, found \(count - 1)",
                    offset: arrayHead.offset
                )
            }
        }
        switch kind {
        case .hello:
            try expect(5)
            let versionsHead = try reader.readHead()
            guard versionsHead.kind == .array, versionsHead.argument >= 1, versionsHead.argument <= 16 else {
                throw CodecError(.typeMismatch, "hello: versions must be an array of 1 to 16", offset: versionsHead.offset)
            }
            var versions: [UInt64] = []
            for _ in 0..<versionsHead.argument { versions.append(try reader.readUnsigned()) }
            let role = try boundedText(&reader, field: "role", max: 64)
            let name = try boundedText(&reader, field: "name", max: 256)
            let pidHead = try reader.readHead()
            guard pidHead.kind == .unsigned, pidHead.argument <= UInt64(Int32.max) else {
                throw CodecError(.typeMismatch, "hello: pid must be an unsigned 32-bit integer", offset: pidHead.offset)
            }
            let token = try boundedText(&reader, field: "token", max: 256)
            return .hello(
                BusHello(
                    role: role,
                    name: name,
                    processID: Int32(pidHead.argument),
                    token: token,
                    protocolVersions: versions
                )
            )
        case .welcome:
            try expect(6)
            let version = try reader.readUnsigned()
            let connection = try reader.readUnsigned()
            let interval = try reader.readUnsigned()
            let misses = try reader.readUnsigned()
            let maxBytes = try reader.readUnsigned()
            let document = try CBOR.readValue(from: &reader, depth: 0)
            return .welcome(
                BusWelcome(
                    protocolVersion: version,
                    connectionID: connection,
                    heartbeatIntervalNanoseconds: interval,
                    heartbeatMisses: misses,
                    maxMessageBytes: maxBytes,
                    document: document == .null ? nil : document
                )
            )
        case .refused:
            try expect(2)
            let reason = try reader.readUnsigned()
            return .refused(BusRefusal(BusRefusal.Reason(rawValue: reason), try reader.readText()))
        case .publish:
            try expect(1)
            return .publish(try readEnvelope(&reader, materializing: materializing, envelope: &envelope))
        case .subscribe:
            try expect(4)
            let correlation = try reader.readUnsigned()
            let subscription = try reader.readUnsigned()
            let pattern = try boundedText(&reader, field: "pattern", max: Topic.maxLength)
            let flags = try reader.readUnsigned()
            return .subscribe(correlation: correlation, subscription: subscription, pattern: pattern, flags: flags)
        case .unsubscribe:
            try expect(2)
            return .unsubscribe(correlation: try reader.readUnsigned(), subscription: try reader.readUnsigned())
        case .deliver:
            try expect(2)
            let subscription = try reader.readUnsigned()
            return .deliver(subscription: subscription, try readEnvelope(&reader, materializing: materializing, envelope: &envelope))
        case .request:
            try expect(3)
            let correlation = try reader.readUnsigned()
            let timeout = try reader.readUnsigned()
            return .request(correlation: correlation, timeoutNanoseconds: timeout, try readEnvelope(&reader, materializing: materializing, envelope: &envelope))
        case .reply:
            try expect(2)
            let correlation = try reader.readUnsigned()
            return .reply(correlation: correlation, try readEnvelope(&reader, materializing: materializing, envelope: &envelope))
        case .error:
            try expect(3)
            let correlation = try reader.readUnsigned()
            let code = try reader.readUnsigned()
            let text = try boundedText(&reader, field: "text", max: 4096)
            return .error(correlation: correlation, code: BusErrorCode(rawValue: code), text: text)
        case .heartbeat:
            try expect(1)
            return .heartbeat(timeNanoseconds: try reader.readUnsigned())
        case .dropped:
            try expect(2)
            return .dropped(subscription: try reader.readUnsigned(), total: try reader.readUnsigned())
        case .descriptors:
            try expect(2)
            let countHead = try reader.readHead()
            guard countHead.kind == .unsigned, (1...maxDescriptorsPerMessage).contains(countHead.argument) else {
                throw CodecError(
                    .outOfRange,
                    "descriptors: count must be 1...\(maxDescriptorsPerMessage)",
                    offset: countHead.offset
                )
            }
            let label = try boundedText(&reader, field: "label", max: 256)
            return .descriptors(count: countHead.argument, label: label)
        case .goodbye:
            try expect(2)
            let reason = try reader.readUnsigned()
            let text = try boundedText(&reader, field: "text", max: 4096)
            return .goodbye(reason: BusGoodbyeReason(rawValue: reason), text: text)
        case .ack:
            try expect(1)
            return .ack(correlation: try reader.readUnsigned())
        }
    }

    /// Reads an envelope in place and checks its topic; nothing is copied unless `materializing`, when
    /// `envelope` receives it, payload and all.
    private static func readEnvelope(
        _ reader: inout UnsafeCBORReader,
        materializing: Bool,
        envelope: inout Envelope?
    ) throws(CodecError) -> EnvelopeSpan {
        let start = reader.offset
        let read = try Envelope.read(from: &reader, copyingPayload: materializing, materializingText: materializing)
        if materializing { envelope = read.envelope }
        let problem = unsafe reader.withBytes(in: read.topicRange) { topic in
            unsafe Topic.problem(in: topic, allowingWildcards: false)
        }
        if let problem {
            throw CodecError(.invalidValue, "envelope topic \(problem)", offset: read.topicRange.lowerBound)
        }
        return EnvelopeSpan(range: start..<reader.offset, topicRange: read.topicRange)
    }

    private static func boundedText(
        _ reader: inout UnsafeCBORReader,
        field: String,
        max: Int
    ) throws(CodecError) -> String {
        let head = try reader.readHead()
        guard head.kind == .text else { throw UnsafeCBORReader.mismatch(expected: "\(field) as text", found: head) }
        guard head.contentRange.count <= max else {
            throw CodecError(.outOfRange, "\(field) is \(head.contentRange.count) bytes; the limit is \(max)", offset: head.offset)
        }
        return try reader.text(of: head)
    }

    private static func describe(_ head: UnsafeCBORReader.Head) -> String {
        head.kind == .unsigned ? "\(head.argument)" : "(a \(head.kind.name))"
    }

    // MARK: - Encoding

    /// Writes a hello's message.
    package static func writeHello(_ hello: BusHello, into writer: inout CBORWriter) {
        writer.writeArrayHeader(count: 6)
        writer.writeUnsigned(Kind.hello.rawValue)
        writer.writeArrayHeader(count: hello.protocolVersions.count)
        for version in hello.protocolVersions { writer.writeUnsigned(version) }
        writer.writeText(hello.role)
        writer.writeText(hello.name)
        writer.writeUnsigned(UInt64(max(hello.processID, 0)))
        writer.writeText(hello.token)
    }

    /// Writes a welcome's message.
    package static func writeWelcome(_ welcome: BusWelcome, into writer: inout CBORWriter) {
        writer.writeArrayHeader(count: 7)
        writer.writeUnsigned(Kind.welcome.rawValue)
        writer.writeUnsigned(welcome.protocolVersion)
        writer.writeUnsigned(welcome.connectionID)
        writer.writeUnsigned(welcome.heartbeatIntervalNanoseconds)
        writer.writeUnsigned(welcome.heartbeatMisses)
        writer.writeUnsigned(welcome.maxMessageBytes)
        CBOR.encode(welcome.document ?? .null, into: &writer)
    }

    /// Writes a refusal's message.
    package static func writeRefused(_ refusal: BusRefusal, into writer: inout CBORWriter) {
        writer.writeArrayHeader(count: 3)
        writer.writeUnsigned(Kind.refused.rawValue)
        writer.writeUnsigned(refusal.reason.rawValue)
        writer.writeText(refusal.text)
    }

    /// Writes a message of `kind` whose fields are up to two unsigned integers and, last, an envelope.
    /// - Parameters:
    ///   - kind: `.publish`, `.deliver`, `.request` or `.reply`.
    ///   - first: The first integer field, if the kind has one.
    ///   - second: The second integer field, if the kind has one.
    ///   - envelope: The envelope.
    ///   - writer: Where the bytes go.
    package static func writeEnvelopeMessage(
        _ kind: Kind,
        _ first: UInt64? = nil,
        _ second: UInt64? = nil,
        envelope: Envelope,
        into writer: inout CBORWriter
    ) {
        writer.writeArrayHeader(count: 2 + (first == nil ? 0 : 1) + (second == nil ? 0 : 1))
        writer.writeUnsigned(kind.rawValue)
        if let first { writer.writeUnsigned(first) }
        if let second { writer.writeUnsigned(second) }
        envelope.encode(into: &writer)
    }

    /// Writes a message of `kind` whose fields are unsigned integers and, last, envelope bytes already
    /// encoded (forwarded from another peer's frame).
    package static func writeForwarded(
        _ kind: Kind,
        _ first: UInt64,
        _ second: UInt64?,
        envelopeBytes: UnsafeRawBufferPointer,
        into writer: inout CBORWriter
    ) {
        writer.writeArrayHeader(count: second == nil ? 3 : 4)
        writer.writeUnsigned(kind.rawValue)
        writer.writeUnsigned(first)
        if let second { writer.writeUnsigned(second) }
        unsafe writer.writeEncoded(envelopeBytes)
    }

    /// Writes a message whose fields are all unsigned integers (`heartbeat`, `ack`, `dropped`, `unsubscribe`).
    package static func writeIntegers(_ kind: Kind, _ fields: UInt64..., into writer: inout CBORWriter) {
        writer.writeArrayHeader(count: 1 + fields.count)
        writer.writeUnsigned(kind.rawValue)
        for field in fields { writer.writeUnsigned(field) }
    }

    /// Writes a subscribe message.
    package static func writeSubscribe(
        correlation: UInt64,
        subscription: UInt64,
        pattern: String,
        flags: UInt64,
        into writer: inout CBORWriter
    ) {
        writer.writeArrayHeader(count: 5)
        writer.writeUnsigned(Kind.subscribe.rawValue)
        writer.writeUnsigned(correlation)
        writer.writeUnsigned(subscription)
        writer.writeText(pattern)
        writer.writeUnsigned(flags)
    }

    /// Writes an error message.
    package static func writeError(
        correlation: UInt64,
        code: BusErrorCode,
        text: String,
        into writer: inout CBORWriter
    ) {
        writer.writeArrayHeader(count: 4)
        writer.writeUnsigned(Kind.error.rawValue)
        writer.writeUnsigned(correlation)
        writer.writeUnsigned(code.rawValue)
        writer.writeText(text)
    }

    /// Writes a descriptors message (the descriptors themselves travel as `SCM_RIGHTS` with its bytes).
    package static func writeDescriptors(count: Int, label: String, into writer: inout CBORWriter) {
        writer.writeArrayHeader(count: 3)
        writer.writeUnsigned(Kind.descriptors.rawValue)
        writer.writeUnsigned(UInt64(count))
        writer.writeText(label)
    }

    /// Writes a goodbye message.
    package static func writeGoodbye(_ reason: BusGoodbyeReason, _ text: String, into writer: inout CBORWriter) {
        writer.writeArrayHeader(count: 3)
        writer.writeUnsigned(Kind.goodbye.rawValue)
        writer.writeUnsigned(reason.rawValue)
        writer.writeText(text)
    }
}
