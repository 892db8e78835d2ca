import ChronetixCore

/// `scale`: every sample × `factor` + `offset`, written in place into the output frame.
public struct ScaleNode: MapNode {
    public let factor: Double
    public let offset: Double
    let node: String

    public init(config: NodeConfig, context: NodeContext) throws(NodeError) {
        factor = try config.double("factor")
        offset = try config.double("offset")
        node = context.nodeID
    }

    public mutating func process(_ info: FrameInfo, _ payload: RawSpan, into output: inout some FrameOutput) throws {
        let shape = try F64Frame.checkedShape(of: payload, node: node)
        let factor = factor
        let offset = offset
        try output.emit(capacity: shape.byteCount) { frame in
            F64Frame.writeHeader(shape, into: &frame)
            for index in 0..<shape.count {
                F64Frame.setValue(F64Frame.value(in: payload, at: index) * factor + offset, at: index, in: &frame)
            }
            return shape.byteCount
        }
    }
}

/// `filter`: passes the frames whose statistic (`mean` or `peak`, the largest magnitude) of one channel lies
/// within [`min`, `max`] (either bound may be unset); drops the others, counting them.
public struct FilterNode: MapNode {
    public enum Statistic: String, Sendable { case mean, peak }

    public let channel: Int
    public let statistic: Statistic
    public let minimum: Double?
    public let maximum: Double?
    public private(set) var passed: UInt64 = 0
    public private(set) var dropped: UInt64 = 0
    let node: String

    public init(config: NodeConfig, context: NodeContext) throws(NodeError) {
        node = context.nodeID
        channel = try config.integer("channel", in: 0...Int(Int32.max))
        let name = try config.string("stat")
        guard let statistic = Statistic(rawValue: name) else {
            throw NodeError(context.nodeID, "config key stat is \"\(name)\"; it must be mean or peak")
        }
        self.statistic = statistic
        minimum = try config.optionalDouble("min")
        maximum = try config.optionalDouble("max")
    }

    /// The tested statistic of the frame's channel.
    public func measure(_ payload: RawSpan, _ shape: F64Frame.Shape) throws(NodeError) -> Double {
        guard channel < shape.channels else {
            throw NodeError(node, "channel \(channel) tested, but the frame has \(shape.channels) channel(s)")
        }
        var sum = 0.0
        var peak = 0.0
        for sample in 0..<shape.samples {
            let value = F64Frame.value(in: payload, shape, channel: channel, sample: sample)
            sum += value
            peak = Swift.max(peak, Swift.abs(value))
        }
        return statistic == .mean ? sum / Double(shape.samples) : peak
    }

    public mutating func process(_ info: FrameInfo, _ payload: RawSpan, into output: inout some FrameOutput) throws {
        let value = try measure(payload, try F64Frame.checkedShape(of: payload, node: node))
        // NaN passes no bound: it fails `>=` and `<=` alike, so a set bound drops it.
        let isAboveMinimum = minimum.map { value >= $0 } ?? !value.isNaN
        let isBelowMaximum = maximum.map { value <= $0 } ?? !value.isNaN
        guard isAboveMinimum && isBelowMaximum else {
            dropped += 1
            return
        }
        passed += 1
        try output.emit(copying: payload)
    }

    public func report() -> NodeReport {
        [("passed", .integer(Int64(passed))), ("dropped", .integer(Int64(dropped)))]
    }
}

/// `window`: one output frame per `size` input frames, reduced sample by sample (`mean`, `min`, `max` or
/// `rms`); the output has the inputs' shape. Every frame of a window must have the same shape. A last,
/// incomplete window is not emitted (its frames are counted in the report as `incomplete`).
public struct WindowNode: MapNode {
    public enum Operation: String, Sendable { case mean, min, max, rms }

    public let size: Int
    public let operation: Operation
    private var accumulator: [Double] = []
    private var shape: F64Frame.Shape?
    private var filled = 0
    public private(set) var windows: UInt64 = 0
    let node: String

    public init(config: NodeConfig, context: NodeContext) throws(NodeError) {
        node = context.nodeID
        size = try config.integer("size", in: 1...(1 << 20))
        let name = try config.string("op")
        guard let operation = Operation(rawValue: name) else {
            throw NodeError(context.nodeID, "config key op is \"\(name)\"; it must be mean, min, max or rms")
        }
        self.operation = operation
    }

    public mutating func process(_ info: FrameInfo, _ payload: RawSpan, into output: inout some FrameOutput) throws {
        let frameShape = try F64Frame.checkedShape(of: payload, node: node)
        if filled == 0 {
            shape = frameShape
            accumulator = [Double](repeating: start, count: frameShape.count)
        } else if frameShape != shape {
            throw NodeError(
                node,
                "frame \(info.sequence) is \(frameShape.channels)×\(frameShape.samples), but its window started "
                    + "with \(shape!.channels)×\(shape!.samples) frames"
            )
        }
        for index in 0..<frameShape.count {
            let value = F64Frame.value(in: payload, at: index)
            switch operation {
            case .mean: accumulator[index] += value
            case .rms: accumulator[index] += value * value
            case .min: accumulator[index] = Swift.min(accumulator[index], value)
            case .max: accumulator[index] = Swift.max(accumulator[index], value)
            }
        }
        filled += 1
        guard filled == size else { return }
        filled = 0
        windows += 1
        let count = Double(size)
        let operation = operation
        let accumulator = accumulator
        try output.emit(capacity: frameShape.byteCount) { frame in
            F64Frame.writeHeader(frameShape, into: &frame)
            for index in 0..<frameShape.count {
                let value: Double =
                    switch operation {
                    case .mean: accumulator[index] / count
                    case .rms: (accumulator[index] / count).squareRoot()
                    case .min, .max: accumulator[index]
                    }
                F64Frame.setValue(value, at: index, in: &frame)
            }
            return frameShape.byteCount
        }
    }

    private var start: Double {
        switch operation {
        case .mean, .rms: 0
        case .min: .infinity
        case .max: -.infinity
        }
    }

    public func report() -> NodeReport {
        [("windows", .integer(Int64(windows))), ("incomplete", .integer(Int64(filled)))]
    }
}

extension F64Frame {
    /// The frame's shape, or a ``NodeError`` naming the node when the frame is not a valid f64 frame.
    static func checkedShape(of payload: RawSpan, node: String) throws(NodeError) -> Shape {
        do {
            return try shape(of: payload)
        } catch {
            throw NodeError(node, error.description)
        }
    }
}
