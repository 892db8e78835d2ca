import ChronetixMetrics
import ChronetixSystem
import ChronetixTestSupport
import Synchronization
import Testing

/// The request parsing of the metrics endpoint, without sockets.
@Suite struct MetricsHTTPParseTests {
    @Test(arguments: [
        ("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", MetricsHTTP.Parse.request(method: "GET", path: "/metrics")),
        ("GET /metrics?name=x HTTP/1.0\r\n\r\n", .request(method: "GET", path: "/metrics")),
        ("HEAD / HTTP/1.1\n\n", .request(method: "HEAD", path: "/")),
        ("GET /metrics HTTP/1.1\r\nHost: x\r\n", .incomplete),
        ("GE", .incomplete),
        ("", .incomplete),
    ])
    func parsesRequestHeads(text: String, expected: MetricsHTTP.Parse) {
        #expect(MetricsHTTP.parse(Array(text.utf8)) == expected)
    }

    @Test(arguments: [
        "\u{16}\u{03}\u{01}\u{02}\u{00}",  // a TLS hello
        "GET /metrics\r\n\r\n",
        "GET /metrics HTTP/2.0\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n",
        "get /metrics HTTP/1.1\r\n\r\n",
        "GET /met\u{01}rics HTTP/1.1\r\n\r\n",
        "GET  /metrics HTTP/1.1\r\n\r\n",
    ])
    func rejectsWhatIsNotARequest(text: String) {
        guard case .bad = MetricsHTTP.parse(Array(text.utf8)) else {
            Issue.record("\(text.debugDescription) was not rejected")
            return
        }
    }

    @Test func rejectsAnEndlessHead() {
        let head = "GET /metrics HTTP/1.1\r\n" + String(repeating: "X-Filler: yes\r\n", count: 1000)
        guard case .bad = MetricsHTTP.parse(Array(head.utf8)) else {
            Issue.record("a head of \(head.utf8.count) bytes without its end was not rejected")
            return
        }
    }

    @Test func answersWithStatusAndContentType() {
        let ok = String(decoding: MetricsHTTP.response(to: .request(method: "GET", path: "/metrics")) { Array("m 1\n".utf8) }, as: UTF8.self)
        #expect(ok.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(ok.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
        #expect(ok.contains("Content-Length: 4\r\n"))
        #expect(ok.hasSuffix("\r\n\r\nm 1\n"))
        let head = String(decoding: MetricsHTTP.response(to: .request(method: "HEAD", path: "/metrics")) { Array("m 1\n".utf8) }, as: UTF8.self)
        #expect(head.hasSuffix("Connection: close\r\n\r\n"))
        var called = false
        let missing = MetricsHTTP.response(to: .request(method: "GET", path: "/other")) {
            called = true
            return []
        }
        #expect(String(decoding: missing, as: UTF8.self).hasPrefix("HTTP/1.1 404 "))
        #expect(!called)
        #expect(String(decoding: MetricsHTTP.response(to: .request(method: "POST", path: "/metrics")) { [] }, as: UTF8.self).hasPrefix("HTTP/1.1 405 "))
        #expect(String(decoding: MetricsHTTP.response(to: .bad("x")) { [] }, as: UTF8.self).hasPrefix("HTTP/1.1 400 "))
    }
}

/// The endpoint on a real loopback socket.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct MetricsHTTPServerTests {
    /// A connection kept open (an array cannot hold a non-copyable descriptor itself).
    final class Held {
        let descriptor: FileDescriptor
        init(_ descriptor: consuming FileDescriptor) { self.descriptor = descriptor }
    }

    final class Scrapes: Sendable {
        let count = Atomic<Int>(0)
    }

    private func withServer(_ body: (MetricsHTTPServer, Scrapes) throws -> Void) throws {
        let scrapes = Scrapes()
        let server = try MetricsHTTPServer(address: "127.0.0.1", port: 0) {
            scrapes.count.add(1, ordering: .relaxed)
            return Array("# TYPE test_total counter\ntest_total 42\n".utf8)
        }
        defer { server.stop() }
        #expect(server.port != 0)
        #expect(server.url == "http://127.0.0.1:\(server.port)/metrics")
        try body(server, scrapes)
    }

    @Test func servesMetricsToGet() throws {
        try withServer { server, scrapes in
            let response = try HTTPProbe.get("/metrics", port: server.port)
            #expect(response.status == 200)
            #expect(response.head.contains("Content-Type: text/plain; version=0.0.4"))
            #expect(response.body == "# TYPE test_total counter\ntest_total 42\n")
            #expect(scrapes.count.load(ordering: .relaxed) == 1)
        }
    }

    @Test func answers404And400() throws {
        try withServer { server, scrapes in
            let statuses = try [
                HTTPProbe.get("/", port: server.port).status,
                HTTPProbe.get("/metrics/x", port: server.port).status,
                HTTPProbe.send("\u{16}\u{03}\u{01}garbage\r\n\r\n", port: server.port).status,
                HTTPProbe.send("GET /metrics HTTP/9\r\n\r\n", port: server.port).status,
                HTTPProbe.send("DELETE /metrics HTTP/1.1\r\n\r\n", port: server.port).status,
            ]
            #expect(statuses == [404, 404, 400, 400, 405])
            #expect(scrapes.count.load(ordering: .relaxed) == 0)
            // Still serving after all that.
            let after = try HTTPProbe.get("/metrics", port: server.port)
            #expect(after.status == 200)
        }
    }

    @Test func silentClientsDoNotHoldUpOthers() throws {
        try withServer { server, _ in
            // More silent connections than the server keeps: the oldest are closed to make room.
            var silent: [Held] = []
            for _ in 0..<(MetricsHTTPServer.maxConnections + 8) {
                silent.append(Held(try FileDescriptor.connectTCP(address: "127.0.0.1", port: server.port)))
            }
            // One that sends half a request and stops.
            let half = try FileDescriptor.connectTCP(address: "127.0.0.1", port: server.port)
            var partial = Array("GET /metr".utf8)
            _ = try partial.withUnsafeMutableBytes { try half.write(from: UnsafeRawBufferPointer($0)) }
            for _ in 0..<5 {
                let response = try HTTPProbe.get("/metrics", port: server.port)
                #expect(response.status == 200)
            }
            silent.removeAll()
            _ = consume half
        }
    }

    @Test func stopsWithClientsConnected() throws {
        let server = try MetricsHTTPServer(address: "127.0.0.1", port: 0) { [] }
        let client = try FileDescriptor.connectTCP(address: "127.0.0.1", port: server.port)
        server.stop()
        server.stop()
        #expect(throws: (any Error).self) { _ = try FileDescriptor.connectTCP(address: "127.0.0.1", port: server.port) }
        _ = consume client
    }

    @Test func refusesANameForAnAddress() {
        #expect(throws: (any Error).self) { try MetricsHTTPServer(address: "localhost", port: 0) { [] } }
    }
}
