import CChronetix
import Glibc

/// The process at the other end of a Unix-domain socket, as the kernel recorded it when the connection was
/// made (`SO_PEERCRED`): it cannot be forged by the peer.
public struct PeerCredentials: Hashable, Sendable {
    /// The peer's process id at `connect(2)` (or `socketpair(2)`) time.
    public var processID: Int32
    /// The peer's effective user id.
    public var userID: UInt32
    /// The peer's effective group id.
    public var groupID: UInt32

    /// Creates credentials from their fields.
    /// - Parameters:
    ///   - processID: The process id.
    ///   - userID: The effective user id.
    ///   - groupID: The effective group id.
    public init(processID: Int32, userID: UInt32, groupID: UInt32) {
        self.processID = processID
        self.userID = userID
        self.groupID = groupID
    }
}

/// The outcome of one read or write on a descriptor that may be non-blocking.
///
/// `EAGAIN` is not an error but ``wouldBlock``; the other failures are thrown as `Errno`.
public enum IOResult: Hashable, Sendable {
    /// This many bytes were transferred (fewer than asked is normal for a stream socket).
    case done(Int)
    /// Nothing could be transferred without blocking (`EAGAIN`); wait for readiness and try again.
    case wouldBlock
    /// The peer closed its writing side and every byte has been read (a read returned 0).
    case endOfFile
}

/// The two ends of a connected pair of Unix-domain stream sockets (``FileDescriptor/unixStreamPair()``).
///
/// A struct rather than a tuple because Swift does not allow tuples of `~Copyable` values. Take the ends out
/// by consuming the fields: `let pair = try FileDescriptor.unixStreamPair(); let a = pair.first; let b = pair.second`.
// @frozen: other modules may consume the two fields one by one (SE-0429 partial consumption) only from a frozen
// type; without library evolution the attribute changes nothing else, and these two fields are the whole type.
@frozen
public struct SocketPair: ~Copyable {
    /// One end.
    public var first: FileDescriptor
    /// The other end.
    public var second: FileDescriptor

    /// Pairs two descriptors.
    /// - Parameters:
    ///   - first: One end.
    ///   - second: The other end.
    public init(first: consuming FileDescriptor, second: consuming FileDescriptor) {
        self.first = first
        self.second = second
    }
}

// MARK: - Creating sockets

extension FileDescriptor {
    /// The longest socket path in bytes: `sun_path` (108 bytes) less its terminating NUL.
    public static let maximumUnixPathLength = 107

    /// Creates a listening Unix-domain stream socket at `path`, readable and writable only as `mode` allows.
    ///
    /// Wraps `socket(2)` (`AF_UNIX`, `SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC`), `bind(2)`, `chmod(2)` and
    /// `listen(2)`. The mode is set before `listen`, so no connection is accepted while the file still has the
    /// umask's permissions (a `connect` before `listen` is refused). When `chmod` or `listen` fails, the socket
    /// file that `bind` created is unlinked again. The descriptor is non-blocking: ``accept(retryOnInterrupt:)``
    /// is meant to run when epoll reports it readable.
    /// - Parameters:
    ///   - path: The socket file to create; it must not exist (a stale one must be removed first).
    ///   - backlog: The most connections the kernel queues before `accept`.
    ///   - mode: The socket file's permission bits; connecting needs write permission. 0600 by default.
    /// - Returns: The listening descriptor.
    /// - Throws: `SystemCallError` naming `socket`, `bind`, `chmod` or `listen` and the path: `bind` with
    ///   `ENAMETOOLONG` (before any system call) when `path` is longer than ``maximumUnixPathLength`` bytes,
    ///   `EINVAL` when it is empty or contains a NUL byte, `EADDRINUSE` when the file exists.
    public static func listenUnixStream(
        path: String,
        backlog: Int32 = 128,
        mode: UInt32 = 0o600
    ) throws(SystemCallError) -> FileDescriptor {
        var (address, length) = try unixAddress(path, call: "bind")
        let type = Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
        let raw: Int32
        do { raw = try SystemCall.value("socket") { socket(AF_UNIX, type, 0) } } catch {
            throw SystemCallError("socket", path, error)
        }
        let descriptor = FileDescriptor(adopting: raw)
        do {
            try SystemCall.nothing("bind") {
                // Safe: a `sockaddr_un` may be viewed as the `sockaddr` it starts with for the length given;
                // `bind` reads no more than `length` bytes of it while `address` lives.
                unsafe withUnsafePointer(to: &address) { pointer in
                    unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { unsafe bind(raw, $0, length) }
                }
            }
        } catch {
            throw SystemCallError("bind", path, error)
        }
        // Safe (chmod, unlink): `path` is passed as a NUL-terminated C string that lives for the call.
        do {
            try SystemCall.nothing("chmod") { unsafe chmod(path, mode_t(mode)) }
        } catch {
            // This call created the file a moment ago; an unlink failure would not change what the caller
            // must hear, which is why the socket could not be set up.
            _ = unsafe unlink(path)
            throw SystemCallError("chmod", path, error)
        }
        do {
            try SystemCall.nothing("listen") { listen(raw, backlog) }
        } catch {
            _ = unsafe unlink(path)  // as after chmod: remove the file this call created, report the listen error
            throw SystemCallError("listen", path, error)
        }
        return descriptor
    }

    /// Connects to the Unix-domain stream socket listening at `path`.
    ///
    /// Wraps `socket(2)` (`AF_UNIX`, `SOCK_STREAM | SOCK_CLOEXEC`) and a blocking `connect(2)`, which waits
    /// while the listener's backlog is full; retries `EINTR` (the kernel leaves an interrupted Unix-domain
    /// connect unconnected, so it can be repeated). The descriptor is returned in blocking mode; switch it
    /// with ``setNonBlocking(_:)`` before handing it to an epoll loop.
    /// - Parameters:
    ///   - path: The listener's socket file.
    ///   - retryOnInterrupt: Whether an `EINTR` repeats the call (`true`) or is thrown.
    /// - Returns: The connected descriptor.
    /// - Throws: `SystemCallError` naming `socket` or `connect` and the path (`ENOENT` when there is no such
    ///   file, `ECONNREFUSED` when nothing listens on it, `EACCES` without write permission); `connect` with
    ///   `ENAMETOOLONG` or `EINVAL` for a path that cannot be a socket address.
    public static func connectUnixStream(path: String, retryOnInterrupt: Bool = true) throws(SystemCallError)
        -> FileDescriptor
    {
        var (address, length) = try unixAddress(path, call: "connect")
        let raw: Int32
        do {
            let type = Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue)
            raw = try SystemCall.value("socket") { socket(AF_UNIX, type, 0) }
        } catch {
            throw SystemCallError("socket", path, error)
        }
        let descriptor = FileDescriptor(adopting: raw)
        var interrupted = false
        while true {
            do {
                try SystemCall.nothing("connect", retryOnInterrupt: false) {
                    // Safe: as for `bind` in `listenUnixStream`: `connect` reads `length` bytes of the live address.
                    unsafe withUnsafePointer(to: &address) { pointer in
                        unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            unsafe connect(raw, $0, length)
                        }
                    }
                }
                return descriptor
            } catch .interrupted where retryOnInterrupt {
                // Retried here rather than by the helper: the retry must know that an attempt was interrupted.
                interrupted = true
            } catch {
                // Should an interrupted attempt have completed after all, the retry finds the socket connected.
                if error == Errno(rawValue: EISCONN) && interrupted { return descriptor }
                throw SystemCallError("connect", path, error)
            }
        }
    }

    /// Creates a connected pair of Unix-domain stream sockets, both blocking and close-on-exec.
    /// Wraps `socketpair(2)` (`AF_UNIX`, `SOCK_STREAM | SOCK_CLOEXEC`).
    /// - Returns: The two ends.
    /// - Throws: `SystemCallError` naming `socketpair` (`EMFILE` when the process is out of descriptors).
    public static func unixStreamPair() throws(SystemCallError) -> SocketPair {
        var raw: (Int32, Int32) = (-1, -1)
        // Safe: a tuple of two Int32 is laid out as an array of two, which socketpair fills while `raw` lives.
        do {
            try SystemCall.nothing("socketpair") {
                unsafe withUnsafeMutablePointer(to: &raw) { pointer in
                    unsafe pointer.withMemoryRebound(to: Int32.self, capacity: 2) {
                        unsafe socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0, $0)
                    }
                }
            }
        } catch {
            throw SystemCallError("socketpair", nil, error)
        }
        return SocketPair(first: FileDescriptor(adopting: raw.0), second: FileDescriptor(adopting: raw.1))
    }

    /// A `sockaddr_un` for `path` and the address length to pass with it.
    private static func unixAddress(_ path: String, call: String) throws(SystemCallError) -> (sockaddr_un, socklen_t) {
        let bytes = Array(path.utf8)
        // An empty path would ask for an autobound abstract address, and a NUL would cut the path short.
        guard !bytes.isEmpty, !bytes.contains(0) else { throw SystemCallError(call, path, .invalidArgument) }
        guard bytes.count <= maximumUnixPathLength else { throw SystemCallError(call, path, .nameTooLong) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // Safe: sun_path is 108 bytes and `bytes` at most 107 (checked above); the zeroed rest terminates it.
        unsafe withUnsafeMutableBytes(of: &address.sun_path) { unsafe $0.copyBytes(from: bytes) }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path) ?? 2
        return (address, socklen_t(pathOffset + bytes.count + 1))
    }
}

// MARK: - Connection management

extension FileDescriptor {
    /// Accepts one pending connection, if there is one.
    ///
    /// Wraps `accept4(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC`, so the new descriptor is non-blocking and
    /// close-on-exec. `EAGAIN` (no pending connection) returns `nil`. `ECONNABORTED` (a client gave up while
    /// queued) is retried like `EINTR`: returning `nil` for it would tell an edge-triggered caller that the queue
    /// is empty while more connections may wait behind the aborted one.
    /// - Parameter retryOnInterrupt: Whether an `EINTR` repeats the call (`true`) or is thrown.
    /// - Returns: The connection, or `nil` when none is pending.
    /// - Throws: The `Errno` of `accept4`; `EMFILE`/`ENFILE` (out of descriptors) leave the connection queued,
    ///   so a level-triggered caller must stop polling the listener for a while.
    public func accept(retryOnInterrupt: Bool = true) throws(Errno) -> FileDescriptor? {
        while true {
            do {
                let raw = try SystemCall.value("accept4", retryOnInterrupt: retryOnInterrupt) { cx_accept(rawValue) }
                return FileDescriptor(adopting: raw)
            } catch .wouldBlock {
                return nil
            } catch Errno(rawValue: ECONNABORTED) {
                continue
            }
        }
    }

    /// The process at the other end of this connected Unix-domain socket.
    /// Wraps `getsockopt(2)` `SO_PEERCRED`.
    /// - Returns: The peer's pid, user and group as of `connect(2)` or `socketpair(2)`.
    /// - Throws: The `Errno` of `getsockopt` (`ENOTCONN`, `ENOTSOCK`).
    public func peerCredentials() throws(Errno) -> PeerCredentials {
        var credentials = PeerCredentials(processID: 0, userID: 0, groupID: 0)
        // Safe: the shim writes one value through each of the three pointers, to fields that live for the call.
        try SystemCall.nothing("getsockopt") {
            unsafe cx_peer_credentials(rawValue, &credentials.processID, &credentials.userID, &credentials.groupID)
        }
        return credentials
    }

    /// Switches the descriptor between blocking and non-blocking mode. Wraps `fcntl(2)` `F_GETFL`/`F_SETFL`
    /// (`O_NONBLOCK`); no `F_SETFL` is made when the mode is already right.
    /// - Parameter on: `true` for non-blocking.
    /// - Throws: The `Errno` of `fcntl`.
    public func setNonBlocking(_ on: Bool) throws(Errno) {
        let flags = try SystemCall.value("fcntl") { fcntl(rawValue, F_GETFL) }
        let wanted = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
        guard wanted != flags else { return }
        try SystemCall.nothing("fcntl") { fcntl(rawValue, F_SETFL, wanted) }
    }

    /// Asks for kernel buffers of these sizes. Wraps `setsockopt(2)` `SO_SNDBUF` and `SO_RCVBUF`; the kernel
    /// doubles each value (for its bookkeeping) and clamps it to `net.core.wmem_max`/`rmem_max` and a minimum.
    /// - Parameters:
    ///   - send: The send buffer size in bytes, or `nil` to leave it.
    ///   - receive: The receive buffer size in bytes, or `nil` to leave it.
    /// - Throws: The `Errno` of `setsockopt`.
    public func setSocketBufferSizes(send: Int?, receive: Int?) throws(Errno) {
        if let send { try setSocketOption(SO_SNDBUF, send) }
        if let receive { try setSocketOption(SO_RCVBUF, receive) }
    }

    /// The kernel buffer sizes as the kernel reports them (twice what was asked for, see
    /// ``setSocketBufferSizes(send:receive:)``). Wraps `getsockopt(2)` `SO_SNDBUF` and `SO_RCVBUF`.
    /// - Returns: The send and receive buffer sizes in bytes.
    /// - Throws: The `Errno` of `getsockopt`.
    public func socketBufferSizes() throws(Errno) -> (send: Int, receive: Int) {
        (try socketOption(SO_SNDBUF), try socketOption(SO_RCVBUF))
    }

    /// Shuts down one or both directions of a connected socket; the peer reads end of file after
    /// `writing`. Wraps `shutdown(2)`; with neither direction it makes no call.
    /// - Parameters:
    ///   - reading: Stop receiving.
    ///   - writing: Stop sending (the peer sees end of file once it has read what was sent).
    /// - Throws: The `Errno` of `shutdown` (`ENOTCONN`).
    public func shutdown(reading: Bool, writing: Bool) throws(Errno) {
        let how: Int32
        switch (reading, writing) {
        case (true, true): how = Int32(SHUT_RDWR)
        case (true, false): how = Int32(SHUT_RD)
        case (false, true): how = Int32(SHUT_WR)
        case (false, false): return
        }
        try SystemCall.nothing("shutdown") { Glibc.shutdown(rawValue, how) }
    }

    private func setSocketOption(_ option: Int32, _ value: Int) throws(Errno) {
        precondition(value >= 0, "socket buffer sizes cannot be negative, got \(value)")
        var raw = Int32(clamping: value)
        // Safe: the option is an `int`, and `setsockopt` reads its 4 bytes while `raw` lives.
        try SystemCall.nothing("setsockopt") {
            unsafe setsockopt(rawValue, SOL_SOCKET, option, &raw, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    private func socketOption(_ option: Int32) throws(Errno) -> Int {
        var raw: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        // Safe: `getsockopt` writes at most `length` (4) bytes into `raw`, which lives for the call.
        try SystemCall.nothing("getsockopt") { unsafe getsockopt(rawValue, SOL_SOCKET, option, &raw, &length) }
        return Int(raw)
    }
}

// MARK: - Reading and writing

extension FileDescriptor {
    /// Reads what is available, up to the buffer's size. Wraps `read(2)` (so it also serves pipes); retries
    /// `EINTR` when asked; `EAGAIN` is ``IOResult/wouldBlock``, 0 bytes ``IOResult/endOfFile``.
    /// - Parameters:
    ///   - buffer: Where the bytes go; not empty (a zero-byte read could not tell end of file apart).
    ///   - retryOnInterrupt: Whether an `EINTR` repeats the call (`true`) or is thrown.
    /// - Returns: The bytes read, ``IOResult/wouldBlock`` or ``IOResult/endOfFile``.
    /// - Throws: The `Errno` of `read` (`ECONNRESET` when the peer closed with data unread).
    /// - Warning: `buffer` must stay valid for the call.
    public func read(into buffer: UnsafeMutableRawBufferPointer, retryOnInterrupt: Bool = true) throws(Errno)
        -> IOResult
    {
        // Safe: reads the buffer's count only.
        unsafe precondition(!buffer.isEmpty, "read(into:) needs room for at least one byte")
        return try SystemCall.transfer("read", retryOnInterrupt: retryOnInterrupt, zeroIsEndOfFile: true) {
            // Safe: the kernel writes at most `buffer.count` bytes into the caller's live buffer.
            unsafe Glibc.read(rawValue, buffer.baseAddress, buffer.count)
        }
    }

    /// Writes as much of the buffer as the socket takes. Wraps `send(2)` with `MSG_NOSIGNAL`, so a closed peer
    /// never raises `SIGPIPE` (the write throws `EPIPE` instead); retries `EINTR` when asked; `EAGAIN` is
    /// ``IOResult/wouldBlock``. For sockets only (`ENOTSOCK` otherwise).
    /// - Parameters:
    ///   - buffer: The bytes to send.
    ///   - retryOnInterrupt: Whether an `EINTR` repeats the call (`true`) or is thrown.
    /// - Returns: The bytes sent (possibly fewer than asked) or ``IOResult/wouldBlock``.
    /// - Throws: The `Errno` of `send` (`EPIPE`, `ECONNRESET`).
    /// - Warning: `buffer` must stay valid for the call.
    public func write(from buffer: UnsafeRawBufferPointer, retryOnInterrupt: Bool = true) throws(Errno) -> IOResult {
        try SystemCall.transfer("send", retryOnInterrupt: retryOnInterrupt, zeroIsEndOfFile: false) {
            // Safe: the kernel reads at most `buffer.count` bytes from the caller's live buffer.
            unsafe Glibc.send(rawValue, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
        }
    }

    /// Writes two buffers, in order, with one system call: the two halves of a wrapped ring buffer.
    /// Wraps `sendmsg(2)` with a two-element `iovec` and `MSG_NOSIGNAL` (no `SIGPIPE`; `EPIPE` is thrown);
    /// retries `EINTR` when asked; `EAGAIN` is ``IOResult/wouldBlock``. Either buffer may be empty.
    /// - Parameters:
    ///   - first: The bytes to send first.
    ///   - second: The bytes to send after them.
    ///   - retryOnInterrupt: Whether an `EINTR` repeats the call (`true`) or is thrown.
    /// - Returns: The bytes sent from the two together (`first` is used up before `second`), or
    ///   ``IOResult/wouldBlock``.
    /// - Throws: The `Errno` of `sendmsg` (`EPIPE`, `ECONNRESET`).
    /// - Warning: Both buffers must stay valid for the call.
    public func write(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, retryOnInterrupt: Bool = true)
        throws(Errno) -> IOResult
    {
        // Safe: sendmsg only reads through iov_base, at most iov_len bytes of each caller's live buffer; the
        // mutable pointer type is the C declaration's, not a licence to write.
        var vectors = unsafe (
            iovec(iov_base: UnsafeMutableRawPointer(mutating: first.baseAddress), iov_len: first.count),
            iovec(iov_base: UnsafeMutableRawPointer(mutating: second.baseAddress), iov_len: second.count)
        )
        return try SystemCall.transfer("sendmsg", retryOnInterrupt: retryOnInterrupt, zeroIsEndOfFile: false) {
            // Safe: the tuple of two iovecs is laid out as an array of two and lives across the call; the
            // msghdr points to it only for the call and has no name or control data.
            unsafe withUnsafeMutablePointer(to: &vectors) { pointer in
                unsafe pointer.withMemoryRebound(to: iovec.self, capacity: 2) { vector in
                    var message = unsafe msghdr()
                    unsafe message.msg_iov = vector
                    unsafe message.msg_iovlen = 2
                    return unsafe sendmsg(rawValue, &message, Int32(MSG_NOSIGNAL))
                }
            }
        }
    }

    /// Sends bytes with open descriptors attached (`SCM_RIGHTS`).
    ///
    /// Wraps `sendmsg(2)` with one `SCM_RIGHTS` control message and `MSG_NOSIGNAL` (no `SIGPIPE`; `EPIPE` is
    /// thrown); retries `EINTR` when asked; `EAGAIN` is ``IOResult/wouldBlock``, and then nothing was sent,
    /// descriptors included. The kernel installs duplicates of the descriptors in the receiving process as
    /// the message is sent, so the caller keeps ownership of its own and closes them when it likes, also
    /// right after this call. The descriptors travel with the first byte: when the result is `.done(n)` with
    /// `n < buffer.count`, they were sent, and the rest of the bytes go with a plain write.
    /// - Parameters:
    ///   - buffer: The bytes to send; not empty, since a stream socket sends no control message without data.
    ///   - descriptors: Open descriptors, at most 253 (`SCM_MAX_FD`); may be empty.
    ///   - retryOnInterrupt: Whether an `EINTR` repeats the call (`true`) or is thrown.
    /// - Returns: The bytes sent or ``IOResult/wouldBlock``.
    /// - Throws: The `Errno` of `sendmsg` (`EPIPE`, `ECONNRESET`, `ETOOMANYREFS` when the receiver's
    ///   in-flight descriptor limit is reached).
    /// - Warning: `buffer` must stay valid for the call.
    public func send(_ buffer: UnsafeRawBufferPointer, descriptors: [Int32], retryOnInterrupt: Bool = true)
        throws(Errno) -> IOResult
    {
        // Safe: reads the buffer's count only.
        unsafe precondition(!buffer.isEmpty, "send(_:descriptors:) needs a byte for the descriptors to travel with")
        precondition(
            descriptors.count <= Int(CX_SCM_MAX_FD),
            "send(_:descriptors:) takes at most \(CX_SCM_MAX_FD) descriptors, got \(descriptors.count)"
        )
        return try SystemCall.transfer("sendmsg", retryOnInterrupt: retryOnInterrupt, zeroIsEndOfFile: false) {
            // Safe: the shim reads `buffer.count` bytes of the live buffer and `raw.count` (<= CX_SCM_MAX_FD,
            // checked above) descriptor numbers from the array's storage, scoped to this closure.
            unsafe descriptors.withUnsafeBufferPointer { raw in
                unsafe cx_send_with_descriptors(
                    rawValue, buffer.baseAddress, buffer.count, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL)
                )
            }
        }
    }

    /// Receives bytes and any descriptors that were sent with them (`SCM_RIGHTS`).
    ///
    /// Wraps `recvmsg(2)` with a control buffer for 253 descriptors (`SCM_MAX_FD`) and `MSG_CMSG_CLOEXEC`, so
    /// every received descriptor is close-on-exec from the start; retries `EINTR` when asked; `EAGAIN` is
    /// ``IOResult/wouldBlock``, 0 bytes ``IOResult/endOfFile``. Each received descriptor is handed to
    /// `descriptors` as an owned ``FileDescriptor``, in the order they were sent, before this returns; a
    /// closure that lets one go closes it.
    ///
    /// When the control data was cut short (`MSG_CTRUNC`: the kernel closed the descriptors that did not
    /// fit), the descriptors that did arrive are still handed over, and then `EMSGSIZE` is thrown. The bytes
    /// received by that call are lost to the caller, so it must treat the connection as broken.
    /// - Parameters:
    ///   - buffer: Where the bytes go; not empty.
    ///   - retryOnInterrupt: Whether an `EINTR` repeats the call (`true`) or is thrown.
    ///   - descriptors: Takes ownership of each received descriptor.
    /// - Returns: The bytes received, ``IOResult/wouldBlock`` or ``IOResult/endOfFile``.
    /// - Throws: The `Errno` of `recvmsg` (`ECONNRESET`), or `EMSGSIZE` after truncated control data.
    /// - Warning: `buffer` must stay valid for the call.
    public func receive(
        into buffer: UnsafeMutableRawBufferPointer,
        retryOnInterrupt: Bool = true,
        descriptors: (consuming FileDescriptor) -> Void
    ) throws(Errno) -> IOResult {
        // Safe: reads the buffer's count only.
        unsafe precondition(!buffer.isEmpty, "receive(into:descriptors:) needs room for at least one byte")
        var truncated = false
        let result = try SystemCall.transfer("recvmsg", retryOnInterrupt: retryOnInterrupt, zeroIsEndOfFile: true) {
            // Safe: the temporary allocation holds CX_SCM_MAX_FD descriptor numbers and is only used in here;
            // the shim writes at most `buffer.count` bytes into the caller's live buffer, at most
            // `received.count` descriptors, and sets `count` to how many it wrote, so `index` stays in bounds.
            unsafe withUnsafeTemporaryAllocation(of: Int32.self, capacity: Int(CX_SCM_MAX_FD)) { received in
                var count = 0
                var flags: Int32 = 0
                let bytes = unsafe cx_receive_with_descriptors(
                    rawValue, buffer.baseAddress, buffer.count, received.baseAddress!, received.count, &count, &flags,
                    Int32(MSG_CMSG_CLOEXEC)
                )
                // On failure the shim sets count to 0: no descriptor arrived.
                for index in 0..<count { descriptors(FileDescriptor(adopting: unsafe received[index])) }
                if bytes >= 0 && flags & Int32(MSG_CTRUNC) != 0 { truncated = true }
                return bytes
            }
        }
        if truncated { throw Errno.messageTooLong }
        return result
    }
}

/// The kernel's table of Unix-domain sockets (`/proc/net/unix`, this network namespace's).
public enum UnixSocketTable {
    /// The file-system paths of the sockets that are listening: a path that is not among them has no server
    /// (a socket file left by a process that died). Reading the table, unlike a probe with `connect(2)`,
    /// leaves a live server undisturbed.
    /// - Returns: The paths (abstract sockets, whose names start with `@`, are left out).
    /// - Throws: The `Errno` of reading `/proc/net/unix`.
    public static func listeningPaths() throws(Errno) -> Set<String> {
        let file = try SystemFile(path: "/proc/net/unix", options: .readOnly)
        var text: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)
        defer { unsafe chunk.deallocate() }
        while true {
            // Safe: the chunk is allocated above and freed after the loop.
            let count = try unsafe file.read(into: chunk)
            if count == 0 { break }
            unsafe text.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[..<count]))
        }
        return parseListeningPaths(String(decoding: text, as: UTF8.self))
    }

    /// The listening paths in the text of `/proc/net/unix`: `Num RefCount Protocol Flags Type St Inode Path`,
    /// where `Flags` has `__SO_ACCEPTCON` (0x10000) for a listening socket and `Path` may hold spaces.
    static func parseListeningPaths(_ text: String) -> Set<String> {
        var paths: Set<String> = []
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", maxSplits: 7, omittingEmptySubsequences: true)
            guard fields.count == 8, let flags = UInt32(fields[3], radix: 16), flags & 0x10000 != 0 else { continue }
            let path = String(fields[7])
            if !path.hasPrefix("@") { paths.insert(path) }
        }
        return paths
    }
}
