import ArgumentParser
import ChronetixCore

@main
struct ChronetixCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chronetix",
        abstract: "Runs multi-process dataflows on one host.",
        discussion: """
            A flow file (YAML or JSON) names nodes, their kinds and config, and wires inputs to outputs as \
            node/output. See docs/flow-file.md.
            """,
        version: Chronetix.version,
        subcommands: [Run.self, PS.self, Top.self, Stop.self, Logs.self, Validate.self, Compile.self, Graph.self, Nodes.self, GC.self, Bench.self]
    )
}
