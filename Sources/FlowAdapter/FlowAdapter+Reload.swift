public import ChronetixCore

extension FlowAdapter {
    /// What a reload changes: the node's whole new config, and the keys whose value changed.
    public struct Reload: Hashable, Sendable {
        public var config: StructuredValue
        public var changed: [String]
    }

    /// A running node's config with `assignments` (`key=value`, each value read as YAML reads a scalar:
    /// `2.5`, `true`, `fast`) applied, checked by the rules the flow file's config is checked by. Only keys
    /// the catalogue marks reloadable may change.
    /// - Parameters:
    ///   - kind: The node's kind.
    ///   - current: Its config as compiled (or last reloaded).
    ///   - assignments: `key=value` pairs.
    /// - Throws: ``CompileError`` (`invalid`) with a diagnostic per problem; the config is then unchanged.
    public static func reload(kind: String, current: StructuredValue, assignments: [String]) throws(CompileError) -> Reload {
        var log = DiagnosticLog(file: "reload")
        var lines: [String] = []
        for (index, assignment) in assignments.enumerated() {
            let position = SourcePosition(line: index + 1, column: 1)
            guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
                log.error(position, "\(Quote.quoted(assignment)) is not key=value")
                continue
            }
            let key = String(assignment[..<equals])
            let value = String(assignment[assignment.index(after: equals)...])
            guard FlowParser.isValidName(key, allowUnderscore: true) else {
                log.error(position, "\(Quote.quoted(key)) is not a config key name")
                continue
            }
            guard !value.contains(where: { $0.isNewline }) else {
                log.error(position, "the value of \(Quote.quoted(key)) spans more than a line")
                continue
            }
            // One line per assignment: `key: value`, so a diagnostic's line is the assignment's place.
            lines.append("\(key): \(value.isEmpty ? "null" : value)")
        }
        if log.hasErrors { throw CompileError(code: .invalid, diagnostics: log.sorted) }
        return try reload(kind: kind, current: current, yaml: lines.joined(separator: "\n") + "\n", fileName: "reload")
    }

    /// ``reload(kind:current:assignments:)`` with the new values given as a YAML (or JSON) map, as
    /// `chronetix reload --config FILE` reads it.
    public static func reload(kind kindName: String, current: StructuredValue, yaml text: String, fileName: String) throws(CompileError) -> Reload {
        var log = DiagnosticLog(file: fileName)
        guard let kind = NodeCatalogue.kind(kindName) else {
            log.error(.start, "nodes of kind \(Quote.quoted(kindName)) take no reload")
            throw CompileError(code: .invalid, diagnostics: log.sorted)
        }
        let root: SourceNode
        do {
            root = try YAMLSourceLoader.load(text)
        } catch {
            log.error(error.position, error.message, hint: error.hint)
            throw CompileError(code: .invalid, diagnostics: log.sorted)
        }
        guard let entries = root.entries, !entries.isEmpty else {
            log.error(root.position, "a reload is a map of config keys to new values, found \(root.kindDescription)")
            throw CompileError(code: .invalid, diagnostics: log.sorted)
        }
        let reloadable = kind.config.filter(\.isReloadable).map(\.name)
        var parser = FlowParser(log: log)
        var values: [String: StructuredValue] = [:]
        for entry in entries {
            guard let spec = kind.configKey(entry.key) else {
                parser.log.error(
                    entry.keyPosition, "\(kind.name) has no config key \(Quote.quoted(entry.key))",
                    hint: Suggestions.closest(to: entry.key, among: kind.config.map(\.name)).map { "did you mean \(Quote.quoted($0))?" }
                )
                continue
            }
            guard spec.isReloadable else {
                parser.log.error(
                    entry.keyPosition, "config key \(Quote.quoted(spec.name)) of \(kind.name) cannot change while the node runs",
                    hint: reloadable.isEmpty ? "\(kind.name) has no reloadable keys" : "reloadable: \(reloadable.joined(separator: ", "))"
                )
                continue
            }
            guard values[spec.name] == nil else {
                parser.log.error(entry.keyPosition, "config key \(Quote.quoted(spec.name)) is given twice")
                continue
            }
            if case .null = entry.value.value, spec.defaultValue == .null {
                values[spec.name] = .null
            } else if let value = parser.configValue(entry.value, spec: spec, kind: kind) {
                values[spec.name] = value
            }
        }
        if parser.log.hasErrors { throw CompileError(code: .invalid, diagnostics: parser.log.sorted) }
        guard case .map(var current) = current else {
            parser.log.error(.start, "the node's current config is not a map")
            throw CompileError(code: .invalid, diagnostics: parser.log.sorted)
        }
        var changed: [String] = []
        for spec in kind.config {
            guard let value = values[spec.name] else { continue }
            if let index = current.firstIndex(where: { $0.key == spec.name }) {
                if current[index].value != value { changed.append(spec.name) }
                current[index].value = value
            } else {
                current.append(.init(spec.name, value))
                changed.append(spec.name)
            }
        }
        return Reload(config: .map(current), changed: changed)
    }
}
