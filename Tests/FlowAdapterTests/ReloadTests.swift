import ChronetixCore
import FlowAdapter
import Testing

/// New config values for a running node, checked by the flow file's rules; only reloadable keys change.
@Suite struct ReloadTests {
    static let scale: StructuredValue = .map([.init("factor", .double(1)), .init("offset", .double(0))])
    static let filter: StructuredValue = .map([
        .init("channel", .integer(0)), .init("stat", .string("mean")), .init("min", .null), .init("max", .null),
    ])

    @Test func reloadableKeysTakeCheckedValues() throws {
        let reload = try FlowAdapter.reload(kind: "scale", current: Self.scale, assignments: ["factor=2.5", "offset=3"])
        #expect(reload.config == .map([.init("factor", .double(2.5)), .init("offset", .double(3))]))
        #expect(reload.changed == ["factor", "offset"])
        let same = try FlowAdapter.reload(kind: "scale", current: Self.scale, assignments: ["factor=1"])
        #expect(same.changed.isEmpty)
        let bounds = try FlowAdapter.reload(kind: "filter", current: Self.filter, assignments: ["min=-0.5", "max=null"])
        #expect(bounds.changed == ["min"])
        let sources = try FlowAdapter.reload(kind: "counter", current: .map([.init("size", .integer(8)), .init("rate_hz", .double(0))]), assignments: ["rate_hz=250"])
        #expect(sources.config == .map([.init("size", .integer(8)), .init("rate_hz", .double(250))]))
    }

    @Test(arguments: [
        ("scale", ["gain=2"], "reload:1:1: error: scale has no config key 'gain'"),
        ("scale", ["factr=2"], "did you mean 'factor'?"),
        ("filter", ["channel=2"], "config key 'channel' of filter cannot change while the node runs"),
        ("filter", ["channel=2"], "reloadable: min, max"),
        ("counter", ["rate_hz=-1"], "must be number >= 0.0, found -1"),
        ("scale", ["factor=fast"], "must be a number, found a string"),
        ("scale", ["factor"], "'factor' is not key=value"),
        ("scale", ["factor=1", "factor=2"], "key 'factor' appears more than once"),
        ("stats", ["x=1"], "stats has no config key 'x'"),
    ])
    func refusalsSayWhyAsValidateDoes(kind: String, assignments: [String], message: String) {
        let current: StructuredValue = kind == "filter" ? Self.filter : kind == "counter" ? .map([.init("rate_hz", .double(0))]) : Self.scale
        #expect {
            try FlowAdapter.reload(kind: kind, current: current, assignments: assignments)
        } throws: { error in
            "\(error)".contains(message) || (error as? CompileError)?.detailedDescription().contains(message) == true
        }
    }

    @Test func aHugeValueIsQuotedShort() {
        #expect {
            try FlowAdapter.reload(kind: "scale", current: Self.scale, assignments: ["factor=" + String(repeating: "9", count: 500_000) + "x"])
        } throws: { error in
            let text = (error as? CompileError)?.detailedDescription() ?? ""
            return text.count < 2_000 && text.contains("factor")
        }
    }
}
