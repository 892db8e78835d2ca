import ChronetixSystem
import Foundation

/// A blocking HTTP/1.1 client for the tests of the metrics endpoint: sends raw bytes, reads to the end of
/// the stream (the endpoint closes after each response), with a socket timeout so a test never hangs.
public enum HTTPProbe {
    /// A response: its status code (0 when none could be read), headers and body, as text.
    public struct Response: Sendable {
        public var status: Int
        public var head: String
        public var body: String
    }

    /// Sends `request` as it is to `address:port` and reads the whole response.
    /// - Parameters:
    ///   - request: The bytes to send (a whole request, or garbage).
    ///   - address: A numeric address.
    ///   - port: The port.
    ///   - timeoutMilliseconds: The longest wait for any one read or write.
    /// - Returns: The response.
    /// - Throws: `SystemCallError` when the connection cannot be made; `Errno` on a failed read or write.
    public static func send(_ request: String, address: String = "127.0.0.1", port: UInt16, timeoutMilliseconds: Int = 10_000) throws -> Response {
        let socket = try FileDescriptor.connectTCP(address: address, port: port)
        try socket.setTimeouts(milliseconds: timeoutMilliseconds)
        var bytes = Array(request.utf8)
        while !bytes.isEmpty {
            let result = try bytes.withUnsafeBytes { try socket.write(from: $0) }
            guard case .done(let count) = result else { throw Errno.timedOut }
            bytes.removeFirst(count)
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        reading: while true {
            let result = try chunk.withUnsafeMutableBytes { try socket.read(into: $0) }
            switch result {
            case .done(let count): received += chunk[..<count]
            case .endOfFile: break reading
            case .wouldBlock: throw Errno.timedOut
            }
        }
        let text = String(decoding: received, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return Response(status: 0, head: text, body: "") }
        let head = String(text[..<split.lowerBound])
        let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return Response(status: status, head: head, body: String(text[split.upperBound...]))
    }

    /// `GET path` and the whole response.
    public static func get(_ path: String, address: String = "127.0.0.1", port: UInt16) throws -> Response {
        try send("GET \(path) HTTP/1.1\r\nHost: \(address)\r\n\r\n", address: address, port: port)
    }
}
