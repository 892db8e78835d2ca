import ArgumentParser
import ChronetixCore
import FlowAdapter

struct Nodes: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Lists the node kinds of the standard library: ports, content types and config keys."
    )

    @Argument(help: "Show only these kinds.", completion: .list(NodeCatalogue.kinds.map(\.name)))
    var kinds: [String] = []

    func run() throws {
        let names = NodeCatalogue.kinds.map(\.name)
        for name in kinds where NodeCatalogue.kind(name) == nil {
            // Said here rather than as a ValidationError, whose usage text would be the top-level command's.
            let hint = Suggestions.closest(to: name, among: names).map { " (did you mean \(Quote.quoted($0))?)" }
            StandardError.print("chronetix nodes: unknown node kind \(Quote.quoted(name))\(hint ?? "")")
            StandardError.print("the kinds: \(names.joined(separator: ", "))")
            throw ExitCode.validationFailure
        }
        let selected = kinds.isEmpty ? NodeCatalogue.kinds : NodeCatalogue.kinds.filter { kinds.contains($0.name) }
        var blocks: [String] = []
        for kind in selected {
            var lines = ["\(kind.name)  [\(kind.role.rawValue), \(kind.category.rawValue)]  \(kind.summary)"]
            let inputs = kind.hasNamedInputs
                ? "any named inputs (\(kind.inputs.first?.contentType.name ?? "any"))"
                : kind.inputs.map { "\($0.name) (\($0.contentType))" }.joined(separator: ", ")
            let outputs = kind.artifact == .process
                ? "declared by the flow" : kind.outputs.map { "\($0.name) (\($0.contentType))" }.joined(separator: ", ")
            lines.append("  inputs:  \(inputs.isEmpty ? "none" : inputs)")
            lines.append("  outputs: \(outputs.isEmpty ? "none" : outputs)")
            if kind.config.isEmpty {
                lines.append("  config:  none")
            } else {
                lines.append("  config:")
                let width = kind.config.map(\.name.count).max() ?? 0
                for key in kind.config {
                    let padded = key.name + String(repeating: " ", count: width - key.name.count)
                    let fallback: String =
                        switch key.defaultValue {
                        case nil: "required"
                        case .null?: "optional"
                        case let value?: "default \(Self.describe(value, type: key.type))"
                        }
                    lines.append("    \(padded)  \(key.type.summary); \(fallback)\(key.isReloadable ? "; reloadable" : ""). \(key.summary)")
                }
            }
            blocks.append(lines.joined(separator: "\n"))
        }
        print(blocks.joined(separator: "\n\n"))
    }

    private static func describe(_ value: StructuredValue, type: ConfigType) -> String {
        switch (value, type) {
        case (.integer(let bytes), .size): Quantity.formatSize(UInt64(bytes))
        case (.integer(let nanoseconds), .duration): Quantity.formatDuration(UInt64(nanoseconds))
        case (.string(let text), _): text
        case (.map(let entries), _) where entries.isEmpty: "{}"
        default: JSONText.write(value, style: .compact)
        }
    }
}
