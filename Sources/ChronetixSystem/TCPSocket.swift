import CChronetix
import Glibc

// MARK: - TCP sockets (the metrics endpoint)

extension FileDescriptor {
    /// Creates a listening TCP socket bound to `address` and `port`.
    ///
    /// Wraps `inet_pton(3)`, `socket(2)` (`AF_INET` or `AF_INET6`, `SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC`),
    /// `setsockopt(2)` `SO_REUSEADDR` (so a port a previous run left in `TIME_WAIT` can be bound again),
    /// `bind(2)` and `listen(2)`. The descriptor is non-blocking: ``accept(retryOnInterrupt:)`` returns `nil`
    /// when no connection is pending, and accepted connections are non-blocking too.
    /// - Parameters:
    ///   - address: A numeric IPv4 (`127.0.0.1`, `0.0.0.0`) or IPv6 (`::1`, `::`) address; no names.
    ///   - port: The port; 0 lets the kernel pick a free one (read it with ``localPort()``).
    ///   - backlog: The most connections the kernel queues before `accept`.
    /// - Returns: The listening descriptor.
    /// - Throws: `SystemCallError` naming `inet_pton` (`EINVAL`: not a numeric address), `socket`, `setsockopt`,
    ///   `bind` (`EADDRINUSE`, `EADDRNOTAVAIL`, `EACCES` for a privileged port) or `listen`, with the address.
    public static func listenTCP(address: String, port: UInt16, backlog: Int32 = 64) throws(SystemCallError)
        -> FileDescriptor
    {
        let subject = address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
        var storage = sockaddr_storage()
        let length = try socketAddress(address, port: port, into: &storage, subject: subject)
        let type = Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
        let raw: Int32
        do { raw = try SystemCall.value("socket") { socket(Int32(storage.ss_family), type, 0) } } catch {
            throw SystemCallError("socket", subject, error)
        }
        let descriptor = FileDescriptor(adopting: raw)
        var one: Int32 = 1
        do {
            // Safe: setsockopt reads the 4 bytes of `one`, which lives for the call.
            try SystemCall.nothing("setsockopt") {
                unsafe setsockopt(raw, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            }
        } catch {
            throw SystemCallError("setsockopt", subject, error)
        }
        do {
            // Safe: a `sockaddr_storage` may be viewed as the `sockaddr` it starts with; bind reads `length` bytes.
            try SystemCall.nothing("bind") {
                unsafe withUnsafePointer(to: &storage) { pointer in
                    unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { unsafe bind(raw, $0, length) }
                }
            }
        } catch {
            throw SystemCallError("bind", subject, error)
        }
        do { try SystemCall.nothing("listen") { listen(raw, backlog) } } catch {
            throw SystemCallError("listen", subject, error)
        }
        return descriptor
    }

    /// Connects to a TCP listener, blocking until connected (for tests and tools, not the runtime).
    ///
    /// Wraps `socket(2)` (`SOCK_CLOEXEC`) and `connect(2)`; retries `EINTR` by waiting for the connection with
    /// `poll(2)` (an interrupted TCP connect goes on in the background). The descriptor is blocking.
    /// - Parameters:
    ///   - address: A numeric IPv4 or IPv6 address.
    ///   - port: The port.
    /// - Returns: The connected descriptor.
    /// - Throws: `SystemCallError` naming `inet_pton`, `socket` or `connect` (`ECONNREFUSED`).
    public static func connectTCP(address: String, port: UInt16) throws(SystemCallError) -> FileDescriptor {
        let subject = address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
        var storage = sockaddr_storage()
        let length = try socketAddress(address, port: port, into: &storage, subject: subject)
        let raw: Int32
        do {
            raw = try SystemCall.value("socket") {
                socket(Int32(storage.ss_family), Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
            }
        } catch {
            throw SystemCallError("socket", subject, error)
        }
        let descriptor = FileDescriptor(adopting: raw)
        do {
            // Not retried: an interrupted TCP connect goes on in the background, and a second call would fail
            // with EALREADY.
            try SystemCall.nothing("connect", retryOnInterrupt: false) {
                // Safe: as for `bind` in `listenTCP`.
                unsafe withUnsafePointer(to: &storage) { pointer in
                    unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { unsafe connect(raw, $0, length) }
                }
            }
            return descriptor
        } catch .interrupted, Errno(rawValue: EINPROGRESS) {
            // The connection goes on: wait until it is writable (below), then read its outcome.
        } catch {
            throw SystemCallError("connect", subject, error)
        }
        var entry = pollfd(fd: raw, events: Int16(POLLOUT), revents: 0)
        var status: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        do {
            // Safe: poll reads and writes the one pollfd, which lives for the call.
            _ = try SystemCall.value("poll") { unsafe poll(&entry, 1, -1) }
            // Safe: getsockopt writes at most `size` bytes into `status`, which lives for the call.
            try SystemCall.nothing("getsockopt") { unsafe getsockopt(raw, SOL_SOCKET, SO_ERROR, &status, &size) }
        } catch {
            throw SystemCallError("connect", subject, error)
        }
        guard status == 0 else { throw SystemCallError("connect", subject, Errno(rawValue: status)) }
        return descriptor
    }

    /// The port this TCP socket is bound to. Wraps `getsockname(2)`.
    /// - Returns: The port in host byte order.
    /// - Throws: The `Errno` of `getsockname`.
    public func localPort() throws(Errno) -> UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        // Safe: getsockname writes at most `length` bytes into `storage`, which lives for the call.
        try SystemCall.nothing("getsockname") {
            unsafe withUnsafeMutablePointer(to: &storage) { pointer in
                unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    unsafe getsockname(rawValue, $0, &length)
                }
            }
        }
        switch Int32(storage.ss_family) {
        case AF_INET:
            // Safe: the family says the storage holds a `sockaddr_in`, which it is large enough for.
            return unsafe withUnsafePointer(to: &storage) { pointer in
                unsafe pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { unsafe UInt16(bigEndian: $0.pointee.sin_port) }
            }
        case AF_INET6:
            // Safe: as above, for `sockaddr_in6`.
            return unsafe withUnsafePointer(to: &storage) { pointer in
                unsafe pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { unsafe UInt16(bigEndian: $0.pointee.sin6_port) }
            }
        default:
            throw Errno(rawValue: EAFNOSUPPORT)
        }
    }

    /// Sets a timeout on blocking reads and writes. Wraps `setsockopt(2)` `SO_RCVTIMEO` and `SO_SNDTIMEO`; a
    /// read or write that waits longer fails with `EAGAIN` (``IOResult/wouldBlock``).
    /// - Parameter milliseconds: The timeout; 0 waits without limit.
    /// - Throws: The `Errno` of `setsockopt`.
    public func setTimeouts(milliseconds: Int) throws(Errno) {
        var value = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            // Safe: setsockopt reads `MemoryLayout<timeval>.size` bytes of `value`, which lives for the call.
            try SystemCall.nothing("setsockopt") {
                unsafe setsockopt(rawValue, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
            }
        }
    }

    /// Fills `storage` with the socket address of a numeric IPv4 or IPv6 address and a port.
    private static func socketAddress(
        _ address: String,
        port: UInt16,
        into storage: inout sockaddr_storage,
        subject: String
    ) throws(SystemCallError) -> socklen_t {
        if address.contains(":") {
            var inet6 = sockaddr_in6()
            inet6.sin6_family = sa_family_t(AF_INET6)
            inet6.sin6_port = port.bigEndian
            // Safe: inet_pton writes the 16 bytes of an `in6_addr` into `sin6_addr`, which lives for the call.
            guard unsafe inet_pton(AF_INET6, address, &inet6.sin6_addr) == 1 else {
                throw SystemCallError("inet_pton", subject, .invalidArgument)
            }
            // Safe: `sockaddr_storage` is large enough and suitably aligned for any socket address.
            unsafe withUnsafeMutablePointer(to: &storage) { pointer in
                unsafe pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { unsafe $0.pointee = inet6 }
            }
            return socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
        var inet = sockaddr_in()
        inet.sin_family = sa_family_t(AF_INET)
        inet.sin_port = port.bigEndian
        // Safe: inet_pton writes the 4 bytes of an `in_addr` into `sin_addr`, which lives for the call.
        guard unsafe inet_pton(AF_INET, address, &inet.sin_addr) == 1 else {
            throw SystemCallError("inet_pton", subject, .invalidArgument)
        }
        // Safe: as above, for `sockaddr_in`.
        unsafe withUnsafeMutablePointer(to: &storage) { pointer in
            unsafe pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { unsafe $0.pointee = inet }
        }
        return socklen_t(MemoryLayout<sockaddr_in>.size)
    }
}
