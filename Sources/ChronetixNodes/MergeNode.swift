public import ChronetixCore

/// `merge`: forwards every frame of every input, unchanged, in the order the runtime hands them over
/// (arrival order). All inputs carry one content type, which is also the output's.
public struct MergeNode: MapNode {
    /// The content type every input carries.
    public let contentType: ContentType
    /// Frames forwarded per input, in the manifest's input order.
    public private(set) var framesPerInput: [UInt64]

    private let node: String

    /// Makes a merge node for the inputs in `context`.
    /// - Parameters:
    ///   - config: Empty: `merge` has no config keys.
    ///   - context: Where the node runs; `inputTypes` lists its inputs.
    /// - Throws: A ``NodeError`` when the node has no inputs or its inputs carry different content types.
    public init(config: NodeConfig, context: NodeContext) throws(NodeError) {
        node = config.node
        guard let first = context.inputTypes.first else {
            throw NodeError(config.node, "merge has no inputs; give it at least one")
        }
        if let other = context.inputTypes.firstIndex(where: { $0 != first }) {
            let listed = context.inputTypes.enumerated().map { "\($0.offset): \($0.element.name)" }
            throw NodeError(
                config.node,
                "merge inputs must share one content type; input 0 is \(first.name) but input \(other) is "
                    + "\(context.inputTypes[other].name) (inputs \(listed.joined(separator: ", ")))"
            )
        }
        contentType = first
        framesPerInput = Array(repeating: 0, count: context.inputTypes.count)
    }

    /// Forwards a copy of the frame.
    /// - Parameters:
    ///   - info: The frame's facts; `input` says which input it came from.
    ///   - payload: Its bytes.
    ///   - output: Where the copy goes.
    /// - Throws: A ``NodeError`` when `info.input` is not one of the node's inputs, or what `output` throws.
    public mutating func process(_ info: FrameInfo, _ payload: RawSpan, into output: inout some FrameOutput) throws {
        guard framesPerInput.indices.contains(info.input) else {
            throw NodeError(
                node,
                "frame \(info.sequence) arrived on input \(info.input), but merge has \(framesPerInput.count) inputs"
            )
        }
        try output.emit(copying: payload)
        framesPerInput[info.input] += 1
    }

    /// What the summary shows: `frames` in all, then `input.N` frames from input N.
    public func report() -> NodeReport {
        let total = framesPerInput.reduce(0, +)
        return [("frames", .integer(Int64(total)))]
            + framesPerInput.enumerated().map { ("input.\($0.offset)", .integer(Int64($0.element))) }
    }
}
