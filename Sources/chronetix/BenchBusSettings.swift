import ArgumentParser

/// The tests `chronetix bench bus` runs; each is a row (per payload size and subscriber count) of its report.
enum BenchBusTest: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// One publisher, N subscribers; every message written at once (`publish(_:flush: true)`).
    case publish
    /// As `publish`, with `publish(_:flush: false)` and a `flush()` every ``BenchBusTuning/batch`` messages.
    case publishBatched = "publish-batched"
    /// As `publish`, from a client that sends on a thread of its own (`BusClient.Sending.onThread`).
    case publishThread = "publish-thread"
    /// A requester and a service hosted in the bus (`BusServer.Hooks.services`): requester → bus → requester.
    case requestReplyHost = "request-reply-host"
    /// A requester and a responder process: requester → bus → responder → bus → requester.
    case requestReply = "request-reply"

    var isPublish: Bool { self == .publish || self == .publishBatched || self == .publishThread }
}

/// A comma-separated list of tests: `publish,request-reply`.
struct BenchBusTestList: ExpressibleByArgument, Hashable, Sendable {
    var values: [BenchBusTest]

    init(_ values: [BenchBusTest]) { self.values = values }

    init?(argument: String) {
        var values: [BenchBusTest] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let test = BenchBusTest(rawValue: String(part)) else { return nil }
            if !values.contains(test) { values.append(test) }
        }
        guard !values.isEmpty else { return nil }
        self.values = values
    }

    var defaultValueDescription: String { values.map(\.rawValue).joined(separator: ",") }

    static var allValueStrings: [String] { BenchBusTest.allCases.map(\.rawValue) }
}

/// A comma-separated list of positive counts: `1,4`.
struct CountList: ExpressibleByArgument, Hashable, Sendable {
    var values: [Int]

    init(_ values: [Int]) { self.values = values }

    init?(argument: String) {
        var values: [Int] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let count = Int(part), count > 0 else { return nil }
            values.append(count)
        }
        guard !values.isEmpty else { return nil }
        self.values = values
    }

    var defaultValueDescription: String { values.map(String.init).joined(separator: ",") }
}

/// The roles of `chronetix bench bus-peer`: each bus client of the bench is a process of its own.
enum BenchBusRole: String, ExpressibleByArgument, CaseIterable, Sendable {
    case publisher, subscriber, requester, responder
}

/// The topics of one row: every row has a prefix of its own, so nothing of an earlier row can reach it.
///
/// Topics stay at most 15 bytes (`bench.r12.data`), which Swift stores inline, so decoding an envelope
/// allocates its payload only (as in the `CBOR.decode.envelope74` benchmark); a topic of 16
/// bytes or more adds one allocation on every decode.
struct BenchBusTopics: Sendable {
    /// The host's service that counts peers that are ready (subscribed, or serving).
    static let ready = "bench.ready"
    /// The host's service a publisher asks after its end message, before it closes: the reply proves the bus has
    /// routed everything the publisher sent (see ``BenchBusPublisher``).
    static let sync = "bench.sync"
    /// The host's echo service: every row's `host` topic matches it.
    static let hostEchoPattern = "bench.*.host"

    let prefix: String

    /// `bench.r<row>`.
    init(row: Int) { prefix = "bench.r\(row)" }

    init(prefix: String) { self.prefix = prefix }

    /// Where the publisher publishes its messages.
    var data: String { "\(prefix).data" }
    /// Where the publisher publishes its end message (the count it sent).
    var end: String { "\(prefix).end" }
    /// Where subscribers publish their acknowledgements for the publisher's window.
    var ack: String { "\(prefix).ack" }
    /// What the responder process serves.
    var echo: String { "\(prefix).echo" }
    /// What the host's echo service answers.
    var host: String { "\(prefix).host" }
}

/// The fixed numbers of `chronetix bench bus`.
enum BenchBusTuning {
    /// `publish-batched` flushes every this many messages.
    static let batch = 64
    /// The smallest payload: every payload starts with its 8-byte sequence number.
    static let minimumSize = 8
    /// The envelope, frame and routing bytes a message adds to its payload on the wire, rounded up: the CBOR
    /// envelope map with a short topic (about 50 bytes), the deliver array (at most 32) and the 4-byte prefix.
    static let wireOverhead = 128
    /// The environment variable that carries the bus token to the peers (not the command line, which any user
    /// can read in /proc).
    static let tokenVariable = "CHRONETIX_BENCH_BUS_TOKEN"

    /// The publisher's default window in messages: as many as fill half the subscriber's outbound queue on the
    /// bus, so the queue never reaches its bound however far behind a subscriber falls.
    static func window(size: Int, queueLimit: Int) -> Int {
        max(16, (queueLimit / 2) / (size + wireOverhead))
    }

    /// How often a subscriber acknowledges: an eighth of the window, so the publisher rarely waits.
    static func acknowledgementInterval(window: Int) -> Int { max(1, window / 8) }
}
