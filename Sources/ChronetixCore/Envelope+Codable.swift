/// The document form of an envelope (JSON and text-keyed CBOR): snake_case keys, the priority by name,
/// the traceparent in its text form, the payload as bytes (base64 in JSON). Optional fields are left out
/// when absent, as in the integer-keyed wire form.
extension Envelope: Codable {
    private enum CodingKeys: String, CodingKey {
        case id, topic, priority, headers, payload, traceparent, tracestate
        case contentType = "content_type"
        case schemaVersion = "schema_ver"
        case deadlineNanoseconds = "deadline_ns"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(topic, forKey: .topic)
        try container.encode(contentType, forKey: .contentType)
        try container.encode(schemaVersion, forKey: .schemaVersion)
        if deadlineNanoseconds != 0 { try container.encode(deadlineNanoseconds, forKey: .deadlineNanoseconds) }
        try container.encode(priority, forKey: .priority)
        try container.encodeIfPresent(traceParent?.text, forKey: .traceparent)
        try container.encodeIfPresent(traceState, forKey: .tracestate)
        if !headers.isEmpty { try container.encode(headers.map { [$0.name, $0.value] }, forKey: .headers) }
        try container.encode(payload, forKey: .payload)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        var traceParent: TraceParent?
        if let text = try container.decodeIfPresent(String.self, forKey: .traceparent) {
            guard let parsed = TraceParent(text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .traceparent,
                    in: container,
                    debugDescription: "'\(text)' is not a W3C traceparent"
                )
            }
            traceParent = parsed
        }
        var headers: [Header] = []
        for pair in try container.decodeIfPresent([[String]].self, forKey: .headers) ?? [] {
            guard pair.count == 2 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .headers,
                    in: container,
                    debugDescription: "a header is a [name, value] pair"
                )
            }
            headers.append(Header(pair[0], pair[1]))
        }
        self.init(
            id: try container.decode(UInt64.self, forKey: .id),
            topic: try container.decode(String.self, forKey: .topic),
            contentType: try container.decode(String.self, forKey: .contentType),
            schemaVersion: try container.decode(UInt32.self, forKey: .schemaVersion),
            deadlineNanoseconds: try container.decodeIfPresent(UInt64.self, forKey: .deadlineNanoseconds) ?? 0,
            priority: try container.decode(QoSClass.self, forKey: .priority),
            traceParent: traceParent,
            traceState: try container.decodeIfPresent(String.self, forKey: .tracestate),
            headers: headers,
            payload: try container.decode([UInt8].self, forKey: .payload)
        )
    }
}
