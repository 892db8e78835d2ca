// BusRouting: one message through the whole bus path in one process (a publisher client encodes and
// writes it, the host's epoll loop on its own thread validates, routes and forwards it, a subscriber
// client reads and decodes it), for the allocation budget: nothing per message beyond the payload the
// subscriber is handed. Throughput and latency between processes are `chronetix bench bus`.

import Benchmark
import ChronetixCore
import ChronetixSystem
import Foundation
import IpcEventBus

/// A bus host on its own thread in a fresh directory, stopped (socket and directory removed) by `stop()`.
final class HostedBus: @unchecked Sendable {
    let server: BusServer
    let socketPath: String
    private let finished = DispatchSemaphore(value: 0)

    init(_ label: String) throws {
        let directory = "\(FileSystem.temporaryDirectory)/cx-bench-\(ProcessIdentity.current.pid)-\(label)"
        socketPath = "\(directory)/bus.sock"
        var configuration = BusServer.Configuration(socketPath: socketPath, token: "benchmark")
        configuration.logger.logLevel = .error
        server = try BusServer(configuration: configuration)
        Thread { [self] in
            try? server.run()  // a loop failure shows as a client error in the benchmark
            finished.signal()
        }.start()
    }

    func client(_ name: String) throws -> BusClient {
        try BusClient(configuration: .init(socketPath: socketPath, role: "tool", name: name, token: "benchmark"))
    }

    func stop() {
        server.stop()
        finished.wait()
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: 1_000,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )

    for size in [64, 4096] {
        // One message at a time: publish (written at once), routed by the host, received and decoded.
        Benchmark("Bus.publishDeliver.\(size)") { benchmark in
            let bus = try HostedBus("deliver\(size)")
            defer { bus.stop() }
            let publisher = try bus.client("publisher")
            let subscriber = try bus.client("subscriber")
            _ = try subscriber.subscribe("bench.data")
            let envelope = Envelope(id: 1, topic: "bench.data", payload: [UInt8](repeating: 0xA5, count: size))
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                try publisher.publish(envelope)
                guard case .message(let delivery)? = try subscriber.receive(timeout: .seconds(10)) else {
                    preconditionFailure("the message just published")
                }
                blackHole(delivery.envelope.payload.count)
            }
            benchmark.stopMeasurement()
            publisher.close()
            subscriber.close()
        }
    }
}
