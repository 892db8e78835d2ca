/// The little HTTP/1.1 the metrics endpoint speaks, without I/O: what a request's head says and what to
/// answer. One request per connection, answered and closed (`Connection: close`), which is all a Prometheus
/// scraper or `curl` needs.
public enum MetricsHTTP {
    /// The most bytes a request's head may take; a longer one is a bad request.
    public static let maxHeadBytes = 8192

    /// What the bytes received so far amount to.
    public enum Parse: Hashable, Sendable {
        /// No blank line yet, within the size limit: read more.
        case incomplete
        /// A whole head: its method and its target's path (the query dropped).
        case request(method: String, path: String)
        /// Not an HTTP/1.x request head (or too long); `reason` is for the 400 body.
        case bad(String)
    }

    /// Parses what a client sent: a request line `METHOD SP TARGET SP HTTP/1.x`, header lines, a blank line.
    /// - Parameter bytes: Everything received on the connection so far.
    /// - Returns: Whether the head is incomplete, complete, or bad.
    public static func parse(_ bytes: [UInt8]) -> Parse {
        guard let end = headEnd(bytes) else {
            if bytes.count > maxHeadBytes { return .bad("request head longer than \(maxHeadBytes) bytes") }
            // A request line must start with a method's letters; anything else is not worth waiting for.
            if let first = bytes.first, !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) {
                return .bad("not an HTTP request")
            }
            return .incomplete
        }
        guard end <= maxHeadBytes else { return .bad("request head longer than \(maxHeadBytes) bytes") }
        let head = bytes[..<end]
        let lineEnd = head.firstIndex(of: UInt8(ascii: "\r")) ?? head.firstIndex(of: UInt8(ascii: "\n")) ?? head.endIndex
        let line = head[..<lineEnd]
        guard line.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return .bad("the request line has control or non-ASCII bytes") }
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .bad("the request line is not METHOD TARGET VERSION") }
        let method = String(decoding: parts[0], as: UTF8.self)
        let target = String(decoding: parts[1], as: UTF8.self)
        let version = String(decoding: parts[2], as: UTF8.self)
        guard !method.isEmpty, method.utf8.allSatisfy({ (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) else {
            return .bad("bad method")
        }
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else { return .bad("not HTTP/1.0 or HTTP/1.1") }
        guard target.hasPrefix("/") else { return .bad("the target is not a path") }
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? target
        return .request(method: method, path: path)
    }

    /// The index just past the blank line ending the head (`\r\n\r\n`, or `\n\n` from lax clients), if any.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") {
                if index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "\n") { return index + 2 }
                if index + 2 < bytes.count && bytes[index + 1] == UInt8(ascii: "\r") && bytes[index + 2] == UInt8(ascii: "\n") {
                    return index + 3
                }
            }
            index += 1
        }
        return nil
    }

    /// The content type of the Prometheus text format.
    public static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The whole response to a parsed head (or to a bad one): status line, headers and, but for `HEAD`, body.
    /// - Parameters:
    ///   - parse: The parse of the request (`incomplete` is answered as a request that timed out).
    ///   - body: Makes the metrics text; called only for `GET` or `HEAD /metrics`.
    /// - Returns: The bytes to send before closing the connection.
    public static func response(to parse: Parse, body: () -> [UInt8]) -> [UInt8] {
        switch parse {
        case .incomplete:
            return message(408, "Request Timeout", "the request did not arrive in time\n")
        case .bad(let reason):
            return message(400, "Bad Request", reason + "\n")
        case .request(let method, let path):
            guard path == "/metrics" else { return message(404, "Not Found", "only /metrics is served here\n") }
            guard method == "GET" || method == "HEAD" else {
                return message(405, "Method Not Allowed", "/metrics takes GET or HEAD\n", extra: "Allow: GET, HEAD\r\n")
            }
            let text = body()
            var bytes = Array(
                "HTTP/1.1 200 OK\r\nContent-Type: \(metricsContentType)\r\nContent-Length: \(text.count)\r\nConnection: close\r\n\r\n".utf8
            )
            if method == "GET" { bytes += text }
            return bytes
        }
    }

    private static func message(_ status: Int, _ phrase: String, _ text: String, extra: String = "") -> [UInt8] {
        Array(
            "HTTP/1.1 \(status) \(phrase)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(text.utf8.count)\r\n\(extra)Connection: close\r\n\r\n\(text)".utf8
        )
    }
}
