public import ChronetixCore

/// Draws a compiled flow: nodes with their kind and ports, edges with their content type and queue policy.
public enum FlowGraph {
    /// The picture's syntax.
    public enum Format: String, CaseIterable, Sendable {
        /// Graphviz `dot`.
        case dot
        /// A Mermaid `flowchart`, which Markdown renderers draw.
        case mermaid
    }

    /// The text of the picture.
    public static func render(_ flow: CompiledFlow, as format: Format) -> String {
        switch format {
        case .dot: dot(flow)
        case .mermaid: mermaid(flow)
        }
    }

    private static func edgeLabel(_ edge: DataEdge) -> String {
        "\(edge.from.port): \(edge.contentType), \(Quantity.formatSize(edge.queue.capacityBytes)) \(edge.queue.policy.rawValue)"
    }

    private static func dot(_ flow: CompiledFlow) -> String {
        func quoted(_ text: String) -> String {
            "\"" + text.replacingAll("\"", with: "\\\"") + "\""  // ids hold no backslash; labels use \\n
        }
        var lines = ["digraph \(quoted(flow.flow)) {", "  rankdir=LR;", "  node [shape=record, fontname=\"Helvetica\"];"]
        for node in flow.nodes {
            let inputs = node.inputs.map { "<in_\($0.name)> \($0.name)" }.joined(separator: "|")
            let outputs = node.outputs.map { "<out_\($0.name)> \($0.name)" }.joined(separator: "|")
            var fields = ["{\(node.id)\\n(\(node.kind))}"]
            if !inputs.isEmpty { fields.insert("{\(inputs)}", at: 0) }
            if !outputs.isEmpty { fields.append("{\(outputs)}") }
            lines.append("  \(quoted(node.id)) [label=\(quoted(fields.joined(separator: "|")))];")
        }
        for edge in flow.routes.edges {
            let style = edge.queue.policy == .block ? "solid" : "dashed"
            if edge.to.isEmpty {
                lines.append("  \(quoted("unused:" + edge.id)) [shape=point];")
                lines.append(
                    "  \(quoted(edge.from.node)):\(quoted("out_" + edge.from.port)) -> \(quoted("unused:" + edge.id)) "
                        + "[label=\(quoted(edgeLabel(edge) + " (unused)")), style=dotted];"
                )
            }
            for reader in edge.to {
                lines.append(
                    "  \(quoted(edge.from.node)):\(quoted("out_" + edge.from.port)) -> "
                        + "\(quoted(reader.node)):\(quoted("in_" + reader.port)) "
                        + "[label=\(quoted(edgeLabel(edge))), style=\(style)];"
                )
            }
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func mermaid(_ flow: CompiledFlow) -> String {
        // Mermaid ids may not contain '-', so nodes get positional ids and keep their names as labels.
        let ids = Dictionary(flow.nodes.enumerated().map { ($1.id, "n\($0)") }, uniquingKeysWith: { first, _ in first })
        func label(_ text: String) -> String { "\"" + text.replacingAll("\"", with: "#quot;") + "\"" }
        var lines = ["flowchart LR", "  %% \(flow.flow): solid edges block, dotted edges drop (drop-oldest or latest)"]
        for node in flow.nodes {
            lines.append("  \(ids[node.id]!)[\(label("\(node.id)<br/>\(node.kind)"))]")  // every node has an id
        }
        for (index, edge) in flow.routes.edges.enumerated() {
            let arrow = edge.queue.policy == .block ? "-->" : "-.->"
            if edge.to.isEmpty {
                lines.append("  u\(index)(( ))")
                lines.append("  \(ids[edge.from.node]!) \(arrow)|\(label(edgeLabel(edge) + " unused"))| u\(index)")
            }
            for reader in edge.to {
                lines.append(
                    "  \(ids[edge.from.node]!) \(arrow)|\(label(edgeLabel(edge) + " → " + reader.port))| \(ids[reader.node]!)"
                )
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
