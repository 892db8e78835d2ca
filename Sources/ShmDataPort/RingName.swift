/// Names of ring segments: `/chronetix.<run-id>.<node>.<output>`.
///
/// Node and output names hold only `a-z`, `0-9`, `-` and `_` (the flow compiler checks), so the dots
/// separate the parts unambiguously, and `chronetix gc` recognises every segment of ours by the prefix.
public enum RingName {
    /// The prefix every Chronetix ring name starts with.
    public static let prefix = "/chronetix."

    /// The segment name of one data edge in one run.
    /// - Parameters:
    ///   - runID: The run's id (letters, digits, `-`).
    ///   - node: The producing node's id.
    ///   - output: The output port's name.
    /// - Returns: `/chronetix.<runID>.<node>.<output>`.
    public static func forEdge(runID: String, node: String, output: String) -> String {
        "\(prefix)\(runID).\(node).\(output)"
    }

    /// Why `name` cannot be a segment name, or `nil` if it can: one leading `/`, no other `/`, no NUL,
    /// 2 to 255 bytes.
    /// - Parameter name: A proposed name.
    /// - Returns: The problem, described for a person.
    public static func validationFailure(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.count < 2 || bytes.count > 255 { return "a segment name has 2 to 255 bytes" }
        if bytes[0] != UInt8(ascii: "/") { return "a segment name starts with '/'" }
        if bytes.dropFirst().contains(UInt8(ascii: "/")) { return "a segment name has no '/' after the first" }
        if bytes.contains(0) { return "a segment name has no NUL byte" }
        return nil
    }
}
