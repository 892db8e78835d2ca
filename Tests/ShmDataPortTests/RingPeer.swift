import ChronetixTestSupport

/// One `chronetix-ring-peer` process, started by a cross-process ring test (see ``PeerProcess``).
final class RingPeer: PeerProcess {
    /// Starts the ring peer with `arguments`.
    init(_ arguments: [String]) throws {
        try super.init(executable: "chronetix-ring-peer", arguments)
    }
}
