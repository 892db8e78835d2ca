// swift-tools-version: 6.3
// Chronetix benchmarks: a separate package so the runtime never depends on package-benchmark.
// Run from this directory: `swift package --allow-writing-to-package-directory benchmark`
// (see docs/BENCHMARKS.md). package-benchmark 1.38.1 itself requires tools version 6.3.
import PackageDescription

// MARK: - Dependencies
// The Chronetix package under test (the repository root), named explicitly so the product references
// below do not depend on the name of the directory it was cloned into.
let chronetix: Package.Dependency = .package(name: "Chronetix", path: "../")
// The MallocInterposer trait provides the malloc metrics (mallocCountTotal) the hot-path budgets use.
let packageBenchmark: Package.Dependency = .package(
    url: "https://github.com/ordo-one/benchmark.git",
    from: "1.38.1",
    traits: ["MallocInterposer"]
)

let package = Package(
    name: "ChronetixBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [chronetix, packageBenchmark],
    targets: [
        // MARK: - Suites
        .executableTarget(
            name: "CBORCodec",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ChronetixCore", package: "Chronetix"),
                .product(name: "ChronetixCBOR", package: "Chronetix"),
            ],
            path: "Benchmarks/CBORCodec",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ShmRing",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ChronetixSystem", package: "Chronetix"),
                .product(name: "ShmDataPort", package: "Chronetix"),
            ],
            path: "Benchmarks/ShmRing",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "BusRouting",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ChronetixCore", package: "Chronetix"),
                .product(name: "ChronetixSystem", package: "Chronetix"),
                .product(name: "IpcEventBus", package: "Chronetix"),
            ],
            path: "Benchmarks/BusRouting",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
