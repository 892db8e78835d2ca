import ArgumentParser
import ChronetixCore

@main
struct ChronetixCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chronetix",
        abstract: "Runs multi-process dataflows on one host.",
        version: Chronetix.version
    )
}
