import CChronetix
import Glibc

/// CPU hints for spin-waiting.
public enum CPU {
    /// Tells the core that this thread is spin-waiting (`pause` on x86-64), which saves power and lets the
    /// sibling hyper-thread run.
    public static func relax() { cx_cpu_relax() }

    /// Offers the CPU to another runnable thread (`sched_yield(2)`); returns at once when there is none.
    public static func yield() { _ = sched_yield() }

    /// Pins the calling thread to one CPU. Wraps `sched_setaffinity(2)`. Used by benchmarks.
    /// - Parameter cpu: The CPU number.
    /// - Throws: The `Errno` of `sched_setaffinity`.
    public static func pinCurrentThread(to cpu: Int) throws(Errno) {
        try SystemCall.nothing("sched_setaffinity") { cx_pin_to_cpu(Int32(cpu)) }
    }

    /// The number of CPUs online (`sysconf(_SC_NPROCESSORS_ONLN)`).
    public static var onlineCount: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
}
