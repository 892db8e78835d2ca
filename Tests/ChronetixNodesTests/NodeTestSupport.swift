import ChronetixCore
import ChronetixNodes

/// A config map from pairs, as the compiler would hand it.
func config(_ node: String = "n", _ pairs: KeyValuePairs<String, StructuredValue>) -> NodeConfig {
    NodeConfig(node: node, .map(pairs.map { StructuredValue.Entry($0.key, $0.value) }))
}

/// Every value of an f64 frame in storage order, with its shape.
func values(of frame: [UInt8]) throws -> (F64Frame.Shape, [Double]) {
    let span = frame.span
    let bytes = unsafe span.bytes  // a byte array's bytes
    let shape = try F64Frame.shape(of: bytes)
    return (shape, (0..<shape.count).map { F64Frame.value(in: bytes, at: $0) })
}

/// Runs a map node over frames and returns what it wrote.
func run<Node: MapNode>(_ node: inout Node, _ frames: [[UInt8]]) throws -> [[UInt8]] {
    var output = MemoryOutput()
    for (index, frame) in frames.enumerated() {
        try node.process(FrameInfo(sequence: UInt64(index), contentType: .f64), unsafe frame.span.bytes, into: &output)
    }
    try node.finish(into: &output)
    return output.frames
}
