// swift-tools-version: 6.2
import PackageDescription

// MARK: - Dependencies
// Each dependency costs build time in every CI run; these are the only ones the runtime needs so far.

let argumentParser: Package.Dependency = .package(
    url: "https://github.com/apple/swift-argument-parser.git",
    from: "1.8.2"
)
let yams: Package.Dependency = .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2")
// Latency percentiles (p50/p99/p999) of `chronetix bench` and, later, the per-edge histograms.
let hdrHistogram: Package.Dependency = .package(
    url: "https://github.com/HdrHistogram/hdrhistogram-swift.git",
    from: "0.2.0"
)

// Structured logging of the bus (refusals, disconnections) and, later, of the runtime.
let swiftLog: Package.Dependency = .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2")

// The coordinator's metrics (`chronetix run --metrics-port`): the swift-metrics API with swift-prometheus as its
// backend. Only the coordinator links them (ChronetixMetrics); a worker does not.
let swiftMetrics: Package.Dependency = .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0")
let swiftPrometheus: Package.Dependency = .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1")

let package = Package(
    name: "Chronetix",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "chronetix", targets: ["chronetix"]),
        .executable(name: "chronetix-worker", targets: ["chronetix-worker"]),
        .library(name: "ChronetixCore", targets: ["ChronetixCore"]),
        .library(name: "ChronetixCBOR", targets: ["ChronetixCBOR"]),
        .library(name: "FlowAdapter", targets: ["FlowAdapter"]),
        .library(name: "ChronetixSystem", targets: ["ChronetixSystem"]),
        .library(name: "ShmDataPort", targets: ["ShmDataPort"]),
        .library(name: "IpcEventBus", targets: ["IpcEventBus"]),
        .library(name: "ChronetixNodes", targets: ["ChronetixNodes"]),
        .library(name: "ChronetixRuntime", targets: ["ChronetixRuntime"]),
        .library(name: "ChronetixCoordinator", targets: ["ChronetixCoordinator"]),
    ],
    dependencies: [argumentParser, yams, hdrHistogram, swiftLog, swiftMetrics, swiftPrometheus],
    targets: [
        // MARK: - C layers
        .systemLibrary(
            name: "CLibCBOR",
            pkgConfig: "libcbor",
            providers: [.apt(["libcbor-dev"])]
        ),
        .target(
            name: "CChronetix",
            cSettings: [.define("_GNU_SOURCE")]
        ),

        // MARK: - Pure Swift core
        .target(name: "ChronetixCore"),

        // MARK: - System layer and data plane
        // The only importer of Glibc and CChronetix among the runtime modules.
        .target(name: "ChronetixSystem", dependencies: ["CChronetix"]),
        .target(name: "ShmDataPort", dependencies: ["ChronetixCore", "ChronetixSystem"]),

        // MARK: - Control plane
        .target(
            name: "IpcEventBus",
            dependencies: [
                "ChronetixCore", "ChronetixCBOR", "ChronetixSystem",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: - Nodes
        // The node API and the standard library of nodes; no I/O besides the file nodes (and the clock).
        .target(name: "ChronetixNodes", dependencies: ["ChronetixCore", "ChronetixSystem"]),

        // MARK: - Runtime
        // The worker runtime (a node between its rings, attached to the coordinator's bus) and the run protocol
        // the coordinator and workers share. No FlowAdapter (and so no YAML parser) in a worker.
        .target(
            name: "ChronetixRuntime",
            dependencies: [
                "ChronetixCore", "ChronetixCBOR", "ChronetixSystem", "ShmDataPort", "IpcEventBus", "ChronetixNodes",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),

        // MARK: - Metrics
        // The coordinator's side of the metrics: gathers the workers' snapshots, exposes them through
        // swift-metrics (Prometheus backend), serves /metrics over HTTP, draws the live progress lines.
        .target(
            name: "ChronetixMetrics",
            dependencies: [
                "ChronetixCore", "ChronetixSystem", "ChronetixRuntime",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),

        // MARK: - Coordinator
        // The coordinator as a library, for every front end (the CLI today; a service, an agent later): a
        // host's runs (records in the per-user runtime directory, their logs), reaching a running one
        // (status, stop). No FlowAdapter: a front end compiles, the coordinator runs what was compiled.
        .target(
            name: "ChronetixCoordinator",
            dependencies: ["ChronetixCore", "ChronetixSystem", "ShmDataPort", "ChronetixRuntime", "IpcEventBus"]
        ),

        // MARK: - Codec and compiler
        .target(name: "ChronetixCBOR", dependencies: ["ChronetixCore", "CLibCBOR"]),
        .target(
            name: "FlowAdapter",
            // ChronetixSystem for one call: RegularFile.read, which reads the flow file (never blocking on a FIFO).
            dependencies: ["ChronetixCore", "ChronetixSystem", .product(name: "Yams", package: "Yams")]
        ),

        // MARK: - Executables
        .executableTarget(
            name: "chronetix",
            dependencies: [
                "ChronetixCore", "ChronetixCBOR", "FlowAdapter", "ChronetixSystem", "ShmDataPort", "IpcEventBus",
                "ChronetixRuntime", "ChronetixMetrics", "ChronetixCoordinator", .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "chronetix-worker",
            // No swift-argument-parser here: it imports Foundation, which a worker does not load otherwise.
            dependencies: ["ChronetixCore", "ChronetixRuntime", "ChronetixSystem"]
        ),

        // MARK: - Test tools
        // A ring peer the cross-process tests start as a real process (producer, consumer, crash on cue).
        .executableTarget(name: "chronetix-ring-peer", dependencies: ["ChronetixCore", "ChronetixSystem", "ShmDataPort"]),
        // A bus client the cross-process bus tests start as a real process (subscriber, responder, hostile peer).
        .executableTarget(
            name: "chronetix-bus-peer",
            dependencies: ["ChronetixCore", "ChronetixCBOR", "ChronetixSystem", "IpcEventBus"]
        ),

        // Helpers shared by the tests (not a product): peer processes, a seedable generator.
        .target(name: "ChronetixTestSupport", dependencies: ["ChronetixSystem"]),

        // MARK: - Fuzzing
        // libFuzzer target for the CBOR decoders; scripts/fuzz-cbor.sh builds it with -sanitize=fuzzer.
        .executableTarget(name: "cbor-fuzz", dependencies: ["ChronetixCore", "ChronetixCBOR"]),

        // MARK: - Tests
        .testTarget(name: "ChronetixCoreTests", dependencies: ["ChronetixCore", "CChronetix"]),
        .testTarget(name: "ChronetixSystemTests", dependencies: ["ChronetixSystem", "CChronetix"]),
        .testTarget(
            name: "ShmDataPortTests",
            // Depends on the ring peer so that `swift test` builds it; the cross-process tests run it.
            dependencies: [
                "ChronetixCore", "ChronetixSystem", "ShmDataPort", "CChronetix", "ChronetixTestSupport",
                "chronetix-ring-peer",
            ]
        ),
        .testTarget(
            name: "IpcEventBusTests",
            // Depends on the bus peer so that `swift test` builds it; the cross-process tests run it.
            dependencies: [
                "ChronetixCore", "ChronetixCBOR", "ChronetixSystem", "IpcEventBus", "ChronetixTestSupport",
                "chronetix-bus-peer", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "ChronetixNodesTests", dependencies: ["ChronetixCore", "ChronetixNodes"]),
        .testTarget(name: "ChronetixRuntimeTests", dependencies: ["ChronetixRuntime"]),
        .testTarget(name: "ChronetixCoordinatorTests", dependencies: ["ChronetixCoordinator", "ChronetixSystem"]),
        .testTarget(
            name: "ChronetixMetricsTests",
            dependencies: ["ChronetixCore", "ChronetixSystem", "ChronetixRuntime", "ChronetixMetrics", "ChronetixTestSupport"]
        ),
        .testTarget(name: "ChronetixCBORTests", dependencies: ["ChronetixCore", "ChronetixCBOR", "ChronetixTestSupport"]),
        .testTarget(
            name: "FlowAdapterTests",
            dependencies: ["ChronetixCore", "ChronetixCBOR", "FlowAdapter"],
            exclude: ["Fixtures"]
        ),
        // Depends on the executables so that `swift test` builds them; the tests run them as processes.
        .testTarget(
            name: "CLITests",
            dependencies: ["ChronetixCore", "ChronetixRuntime", "IpcEventBus", "ChronetixTestSupport", "chronetix", "chronetix-worker"]
        ),
    ]
)

// MARK: - Settings applied to every Swift target
for target in package.targets where target.type != .system && target.name != "CChronetix" {
    var settings = target.swiftSettings ?? []
    settings += [
        // SE-0335: `any` spelled out for existentials.
        .enableUpcomingFeature("ExistentialAny"),
        // SE-0444: a file sees only the modules it imports itself.
        .enableUpcomingFeature("MemberImportVisibility"),
        // SE-0409: imports are internal unless marked otherwise, so no dependency leaks through an API by accident.
        .enableUpcomingFeature("InternalImportsByDefault"),
    ]
    if ["ChronetixCBOR", "ChronetixSystem", "ShmDataPort", "IpcEventBus", "ChronetixNodes"].contains(target.name) {
        // SE-0458: every unsafe operation in the codec, the system layer, the ring and the bus is marked and justified.
        settings.append(.strictMemorySafety())
    }
    target.swiftSettings = settings
}
