/// The bus topics of a flow run. Topics are dot-separated; flow names and node ids contain no dots.
public enum Topics {
    /// Lifecycle commands for every node of a flow.
    public static func control(flow: String) -> String { "flow.\(flow).control" }
    /// Lifecycle commands for one node.
    public static func control(flow: String, node: String) -> String { "flow.\(flow).\(node).control" }
    /// Events a node publishes (started, ready, failed, completed).
    public static func events(flow: String, node: String) -> String { "flow.\(flow).\(node).events" }
    /// Metrics a node publishes.
    public static func metrics(flow: String, node: String) -> String { "flow.\(flow).\(node).metrics" }
    /// A running coordinator's status, as a request (`chronetix ps`, `top`), answered with a
    /// `RunStatusReport`. (`$run` cannot be a node id, so the coordinator's topics never meet a node's.)
    public static func runStatus(flow: String) -> String { "flow.\(flow).$run.status" }
    /// A graceful stop, as a request (`chronetix stop`): carries a `RunStopRequest`.
    public static func runStop(flow: String) -> String { "flow.\(flow).$run.stop" }
}
