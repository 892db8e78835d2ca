import Glibc

/// The one errno policy of ChronetixSystem: every wrapper makes its system call through one of these.
///
/// - `errno` is read right after the call returns, before anything else can change it.
/// - `EINTR` repeats the call when `retryOnInterrupt` is `true` (the default); otherwise it is thrown, so that a
///   caller whose signal handler sets a flag gets to see it.
/// - `EBADF` and `EFAULT` are programming errors, not conditions to handle: a descriptor that is not open (closed
///   twice, or never owned) or a pointer that is not mapped. They trap with the call's name, as swift-nio's
///   `syscall(blocking:)` does. A call on a descriptor this process does not own (its standard streams, which
///   the parent may have closed) passes `badDescriptorIsError: true` and gets `EBADF` thrown instead.
/// - Every other error is thrown as its ``Errno``; `EAGAIN` too, except through
///   ``transfer(_:retryOnInterrupt:zeroIsEndOfFile:_:)``, where it is ``IOResult/wouldBlock``.
///
/// The call's name is a `StaticString`, so naming it costs nothing on the hot path (the bus's reads and writes).
package enum SystemCall {
    /// Makes a call that returns a value, or -1 and sets `errno`: `read`, `open`, `socket`, `fcntl`…
    /// - Parameters:
    ///   - name: The call's name as in its manual page, for the trap's message.
    ///   - retryOnInterrupt: Whether an `EINTR` repeats the call (`true`) or is thrown.
    ///   - badDescriptorIsError: Whether `EBADF` is thrown (for a descriptor this process does not own) rather
    ///     than trapped.
    ///   - body: The call.
    /// - Returns: What the call returned, never -1.
    /// - Throws: The `Errno` the call left.
    @inline(__always)
    package static func value<Value: FixedWidthInteger>(
        _ name: StaticString,
        retryOnInterrupt: Bool = true,
        badDescriptorIsError: Bool = false,
        _ body: () -> Value
    ) throws(Errno) -> Value {
        while true {
            let result = body()
            if result != -1 { return result }
            let error = Errno.current
            if error == .interrupted && retryOnInterrupt { continue }
            checkAcceptable(error, name, badDescriptorIsError: badDescriptorIsError)
            throw error
        }
    }

    /// Makes a call that returns 0, or -1 and sets `errno`: `ftruncate`, `bind`, `epoll_ctl`, `setsockopt`…
    /// - Parameters:
    ///   - name: The call's name, for the trap's message.
    ///   - retryOnInterrupt: Whether an `EINTR` repeats the call (`true`) or is thrown.
    ///   - badDescriptorIsError: Whether `EBADF` is thrown rather than trapped.
    ///   - body: The call.
    /// - Throws: The `Errno` the call left.
    @inline(__always)
    package static func nothing(
        _ name: StaticString,
        retryOnInterrupt: Bool = true,
        badDescriptorIsError: Bool = false,
        _ body: () -> Int32
    ) throws(Errno) {
        _ = try value(name, retryOnInterrupt: retryOnInterrupt, badDescriptorIsError: badDescriptorIsError, body)
    }

    /// Makes a call that returns its error number instead of setting `errno` (0 for success): `pthread_create`,
    /// `posix_spawn`, `clock_nanosleep` (the one of them a signal can interrupt).
    /// - Parameters:
    ///   - name: The call's name, for the trap's message.
    ///   - retryOnInterrupt: Whether an `EINTR` repeats the call (`true`) or is thrown.
    ///   - body: The call.
    /// - Throws: The `Errno` the call returned.
    @inline(__always)
    package static func returningError(
        _ name: StaticString,
        retryOnInterrupt: Bool = true,
        _ body: () -> Int32
    ) throws(Errno) {
        while true {
            let result = body()
            guard result != 0 else { return }
            let error = Errno(rawValue: result)
            if error == .interrupted && retryOnInterrupt { continue }
            checkAcceptable(error, name, badDescriptorIsError: false)
            throw error
        }
    }

    /// Makes a read or write that may be non-blocking: a count is ``IOResult/done(_:)`` (or
    /// ``IOResult/endOfFile`` for 0 when `zeroIsEndOfFile`), `EAGAIN` is ``IOResult/wouldBlock``, `EINTR`
    /// repeats the call when `retryOnInterrupt`, and every other error is thrown (`EBADF`, `EFAULT` trap).
    /// - Parameters:
    ///   - name: The call's name, for the trap's message.
    ///   - retryOnInterrupt: Whether an `EINTR` repeats the call (`true`) or is thrown.
    ///   - zeroIsEndOfFile: Whether 0 bytes means end of file (a read) or nothing written (a write).
    ///   - body: The call.
    /// - Returns: What was transferred.
    /// - Throws: The `Errno` the call left.
    @inline(__always)
    package static func transfer(
        _ name: StaticString,
        retryOnInterrupt: Bool,
        zeroIsEndOfFile: Bool,
        _ body: () -> Int
    ) throws(Errno) -> IOResult {
        let count: Int
        do {
            count = try value(name, retryOnInterrupt: retryOnInterrupt, body)
        } catch .wouldBlock {
            return .wouldBlock
        }
        if count == 0 && zeroIsEndOfFile { return .endOfFile }
        return .done(count)
    }

    /// Traps on the errors that mean the caller broke an invariant; swift-nio's list (`EBADF`, `EFAULT`).
    private static func checkAcceptable(_ error: Errno, _ name: StaticString, badDescriptorIsError: Bool) {
        switch error.rawValue {
        case EFAULT:
            preconditionFailure("\(name): \(error) (a buffer that is not mapped: a broken invariant of the caller)")
        case EBADF where !badDescriptorIsError:
            preconditionFailure("\(name): \(error) (a descriptor that is not open: closed twice, or never owned)")
        default:
            break
        }
    }
}
