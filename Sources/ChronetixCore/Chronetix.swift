/// Facts about this build of Chronetix that every executable and document shares.
public enum Chronetix {
    /// The version of the package; `chronetix --version` and `chronetix-worker --version` print it.
    public static let version = "0.1.0"

    /// The version of the compiled-flow format written by `FlowAdapter` (`format` in the output).
    public static let compiledFormatVersion = 1

    /// The flow-file format versions this build reads (`version:` in a flow file).
    public static let supportedFlowVersions: ClosedRange<Int> = 1...1
}
