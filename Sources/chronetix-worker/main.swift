import ArgumentParser
import ChronetixCore

/// `chronetix-worker`: runs one node of a flow. Until the runtime lands it only reports its version.
struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chronetix-worker",
        abstract: "Runs one node of a Chronetix flow (started by `chronetix run`, or attached by hand).",
        discussion: "The node runtime is not built yet: this release only answers --version.",
        version: Chronetix.version
    )

    func run() throws {
        throw ValidationError("the worker runtime is not available in this release; see `chronetix-worker --version`")
    }
}

Worker.main()
