import ArgumentParser
import ChronetixSystem
import Dispatch
import Foundation

/// What every peer process of a bench (`bench shm-peer`, `bench bus-peer`) does first, so that none outlives
/// the bench or runs forever.
enum BenchPeerSetup {
    /// Dies with the bench (parent-death signal, and a check that the bench is still the parent), takes the
    /// default action on SIGINT and SIGTERM (the bench ignores them), and exits with status 3 after
    /// `watchdog` seconds whatever happens.
    /// - Parameters:
    ///   - name: The peer's name, for its messages.
    ///   - parent: The bench's pid, if it passed one.
    ///   - watchdog: Seconds before the peer gives up.
    /// - Throws: `ExitCode(2)` when the peer cannot tie its life to the bench's.
    static func install(name: String, parent: Int32?, watchdog: Double) throws {
        do {
            // A peer must never outlive the bench, even one killed with SIGKILL.
            try Processes.setParentDeathSignal(SIGKILL)
        } catch {
            StandardError.print("\(name): cannot set the parent-death signal: \(error)")
            throw ExitCode(2)
        }
        // The bench may have died before the line above: then nothing would ever send the signal.
        if let parent, getppid() != parent {
            StandardError.print("\(name): the bench (pid \(parent)) is gone")
            throw ExitCode(2)
        }
        _ = Foundation.signal(SIGINT, SIG_DFL)  // returns the previous disposition, which nothing restores
        _ = Foundation.signal(SIGTERM, SIG_DFL)
        DispatchQueue.global().asyncAfter(deadline: .now() + watchdog) {
            StandardError.print("\(name): watchdog: still running after \(watchdog) s; exiting")
            Foundation.exit(3)
        }
    }
}
