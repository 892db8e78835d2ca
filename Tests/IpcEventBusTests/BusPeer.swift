import ChronetixTestSupport

/// One `chronetix-bus-peer` process attached to a test bus (see ``PeerProcess``).
final class BusPeer: PeerProcess {
    /// Starts the bus peer: `chronetix-bus-peer SOCKET TOKEN NAME MODE ARGS…`.
    init(_ bus: TestBus, name: String, token: String? = nil, _ mode: String, _ arguments: String..., keepsInputOpen: Bool = false) throws {
        try super.init(
            executable: "chronetix-bus-peer",
            [bus.socketPath, token ?? bus.token, name, mode] + arguments,
            keepsInputOpen: keepsInputOpen
        )
    }
}
