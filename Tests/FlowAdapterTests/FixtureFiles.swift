import Foundation

/// The flow files and golden outputs under Tests/FlowAdapterTests/Fixtures.
enum FixtureFiles {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// Set CHRONETIX_REGENERATE_GOLDEN=1 to rewrite the golden files instead of comparing (then review the diff).
    static var regenerate: Bool { ProcessInfo.processInfo.environment["CHRONETIX_REGENERATE_GOLDEN"] == "1" }

    /// Every flow file (not a golden file) in the fixtures directory, sorted.
    static var flowFiles: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []  // empty: the test fails on count
        return names.filter { ($0.hasSuffix(".yaml") || $0.hasSuffix(".json")) && !$0.contains(".expected.") }.sorted()
    }

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func goldenPath(for name: String) -> String {
        let stem = name.split(separator: ".").dropLast().joined(separator: ".")
        let suffix = name.hasSuffix(".json") ? "-json" : ""
        return path("\(stem)\(suffix).expected.json")
    }
}
