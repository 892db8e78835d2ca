import CChronetix
import ChronetixSystem
import Glibc
import Testing

/// Unix-domain sockets over real kernel objects: socket pairs, a listener in a private directory, SCM_RIGHTS.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct UnixSocketTests {
    @Test func socketPairCarriesBytesBothWays() throws {
        let pair = try FileDescriptor.unixStreamPair()
        let left = pair.first
        let right = pair.second

        #expect(try send("hello", on: left) == .done(5))
        #expect(try receiveString(on: right, upTo: 64) == "hello")
        #expect(try send("back", on: right) == .done(4))
        #expect(try receiveString(on: left, upTo: 64) == "back")
    }

    @Test func vectoredWriteSendsBothBuffersInOrder() throws {
        let pair = try FileDescriptor.unixStreamPair()
        let left = pair.first
        let right = pair.second

        let first = Array("wrapped ".utf8)
        let second = Array("halves".utf8)
        let result = try first.withUnsafeBytes { a in try second.withUnsafeBytes { b in try left.write(a, b) } }
        #expect(result == .done(14))
        #expect(try receiveString(on: right, upTo: 64) == "wrapped halves")

        let empty: [UInt8] = []
        let onlySecond = try empty.withUnsafeBytes { a in try second.withUnsafeBytes { b in try left.write(a, b) } }
        #expect(onlySecond == .done(6))
        #expect(try receiveString(on: right, upTo: 64) == "halves")
    }

    @Test func theSocketTableListsAListenerUntilItCloses() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let path = directory + "/bus.sock"
        let listener = try FileDescriptor.listenUnixStream(path: path)
        #expect(try UnixSocketTable.listeningPaths().contains(path))
        // A connected client's socket is in the table too, but not as a listener under that path.
        let client = try FileDescriptor.connectUnixStream(path: path)
        listener.close()
        // The socket file stays, as a dead coordinator's does; nothing listens on it any more.
        #expect(try FileSystem.status(of: path).isSocket)
        #expect(try !UnixSocketTable.listeningPaths().contains(path))
        client.close()
    }

    @Test func listenerAcceptsAConnectionFromThisProcess() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let path = directory + "/bus.sock"

        let listener = try FileDescriptor.listenUnixStream(path: path)
        #expect(try listener.accept() == nil, "nothing has connected yet")

        let client = try FileDescriptor.connectUnixStream(path: path)
        guard let server = try listener.accept() else {
            Issue.record("a connected client was not pending on the listener")
            return
        }
        #expect(try listener.accept() == nil, "one client, one connection")

        let me = PeerCredentials(
            processID: FileSystem.currentProcessID(),
            userID: FileSystem.currentUserID(),
            groupID: getegid()
        )
        #expect(try server.peerCredentials() == me)
        #expect(try client.peerCredentials() == me)
        #expect(FileSystem.currentProcessID() == getpid())
        #expect(FileSystem.currentUserID() == geteuid())

        #expect(try send("ping", on: client) == .done(4))
        try waitUntilReadable(server)
        #expect(try receiveString(on: server, upTo: 16) == "ping")
        #expect(try send("pong", on: server) == .done(4))
        #expect(try receiveString(on: client, upTo: 16) == "pong", "the client blocks until the reply is there")
    }

    @Test func socketFileAndDirectoryAreOwnerOnly() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let path = directory + "/bus.sock"

        // A permissive umask must not leak into either mode.
        let previous = umask(0)
        defer { umask(previous) }
        let listener = try FileDescriptor.listenUnixStream(path: path)
        _ = listener

        let directoryStatus = try FileSystem.status(of: directory)
        #expect(directoryStatus.isDirectory && !directoryStatus.isSocket)
        #expect(directoryStatus.mode == 0o700)
        #expect(directoryStatus.ownerUserID == geteuid())

        let socketStatus = try FileSystem.status(of: path)
        #expect(socketStatus.isSocket && !socketStatus.isDirectory)
        #expect(socketStatus.mode == 0o600)
        #expect(socketStatus.ownerUserID == geteuid())
    }

    @Test func listenerModeIsTheOneAskedFor() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let path = directory + "/group.sock"
        let listener = try FileDescriptor.listenUnixStream(path: path, backlog: 4, mode: 0o660)
        _ = listener
        #expect(try FileSystem.status(of: path).mode == 0o660)
    }

    @Test func bindingAnExistingPathFailsAndLeavesItAlone() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let path = directory + "/bus.sock"
        let listener = try FileDescriptor.listenUnixStream(path: path)
        _ = listener

        let error = #expect(throws: SystemCallError.self) { _ = try FileDescriptor.listenUnixStream(path: path) }
        #expect(error?.call == "bind")
        #expect(error?.errno == .addressInUse)
        #expect(try FileSystem.status(of: path).isSocket, "the first listener's file is still there")
    }

    @Test func connectingToNothingIsRefusedOrMissing() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }

        let missing = #expect(throws: SystemCallError.self) {
            _ = try FileDescriptor.connectUnixStream(path: directory + "/absent.sock")
        }
        #expect(missing?.call == "connect")
        #expect(missing?.errno == .noSuchFile)
    }

    @Test func tooLongPathIsRefusedBeforeBinding() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let prefix = directory + "/"
        try #require(prefix.utf8.count < 100, "the temporary directory \(directory) is too long for this test")

        let longest = prefix + String(repeating: "s", count: FileDescriptor.maximumUnixPathLength - prefix.utf8.count)
        let tooLong = longest + "s"
        #expect(tooLong.utf8.count == 108)

        let error = #expect(throws: SystemCallError.self) { _ = try FileDescriptor.listenUnixStream(path: tooLong) }
        #expect(error == SystemCallError("bind", tooLong, .nameTooLong))
        #expect(try Directory.entries(of: directory).isEmpty, "nothing was created")

        let connectError = #expect(throws: SystemCallError.self) {
            _ = try FileDescriptor.connectUnixStream(path: tooLong)
        }
        #expect(connectError == SystemCallError("connect", tooLong, .nameTooLong))

        // 107 bytes is the longest path that fits with its NUL.
        let listener = try FileDescriptor.listenUnixStream(path: longest)
        _ = listener
        #expect(try FileSystem.status(of: longest).isSocket)
        let client = try FileDescriptor.connectUnixStream(path: longest)
        _ = client
    }

    @Test func emptyPathIsInvalid() {
        let error = #expect(throws: SystemCallError.self) { _ = try FileDescriptor.listenUnixStream(path: "") }
        #expect(error?.errno == .invalidArgument)
    }

    @Test func nonBlockingReadWouldBlockThenReachesEndOfFile() throws {
        let pair = try FileDescriptor.unixStreamPair()
        let writer = pair.first
        let reader = pair.second
        try reader.setNonBlocking(true)
        #expect(fcntl(reader.rawValue, F_GETFL) & O_NONBLOCK != 0)

        #expect(try readResult(reader) == .wouldBlock)
        #expect(try send("x", on: writer) == .done(1))
        #expect(try readResult(reader) == .done(1))
        #expect(try readResult(reader) == .wouldBlock)

        writer.close()
        #expect(try readResult(reader) == .endOfFile)

        try reader.setNonBlocking(false)
        #expect(fcntl(reader.rawValue, F_GETFL) & O_NONBLOCK == 0)
    }

    @Test func shutdownOfWritingGivesThePeerEndOfFile() throws {
        let pair = try FileDescriptor.unixStreamPair()
        let left = pair.first
        let right = pair.second
        try left.shutdown(reading: false, writing: true)
        #expect(try readResult(right) == .endOfFile)
        // The other direction still works.
        #expect(try send("still", on: right) == .done(5))
        #expect(try receiveString(on: left, upTo: 16) == "still")
    }

    @Test func writingToAClosedPeerThrowsEPIPEWithoutASignal() throws {
        let pair = try FileDescriptor.unixStreamPair()
        let left = pair.first
        pair.second.close()
        // Without MSG_NOSIGNAL this would kill the test process with SIGPIPE.
        let error = #expect(throws: Errno.self) { try send("lost", on: left) }
        #expect(error == .brokenPipe)
    }

    @Test func writesUntilWouldBlockThenEpollReportsWritableOnceThePeerReads() throws {
        let pair = try FileDescriptor.unixStreamPair()
        let writer = pair.first
        let reader = pair.second
        try writer.setNonBlocking(true)
        try reader.setNonBlocking(true)
        try writer.setSocketBufferSizes(send: 4096, receive: nil)
        let sizes = try writer.socketBufferSizes()
        #expect(sizes.send >= 4096 && sizes.send <= 16384, "the kernel doubles (and floors) what was asked")
        #expect(sizes.receive > 0)

        let chunk = [UInt8](repeating: 0xAB, count: 1024)
        var written = 0
        var blocked = false
        for _ in 0..<100_000 {
            let result = try chunk.withUnsafeBytes { try writer.write(from: $0) }
            if case .done(let count) = result {
                written += count
            } else {
                #expect(result == .wouldBlock)
                blocked = true
                break
            }
        }
        #expect(blocked, "a small send buffer fills up")
        #expect(written > 0)

        var epoll = try Epoll(capacity: 4)
        try epoll.add(writer.rawValue, events: [.writable, .edgeTriggered], data: 42)
        #expect(try epoll.wait(timeoutMilliseconds: 0) == 0, "a full socket is not writable")

        var drained = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        while case .done(let count) = try buffer.withUnsafeMutableBytes({ try reader.read(into: $0) }) {
            drained += count
        }
        #expect(drained == written)

        #expect(try epoll.wait(timeoutMilliseconds: 5000) == 1)
        let event = epoll.event(at: 0)
        #expect(event.events.contains(.writable))
        #expect(event.data == 42)
        #expect(try send("more", on: writer) == .done(4))
    }

    @Test func passesAPipeThroughSCMRights() throws {
        let pair = try FileDescriptor.unixStreamPair()
        let sender = pair.first
        let receiver = pair.second
        let pipe = try makePipe()
        let pipeReader = pipe.reader
        let pipeWriter = pipe.writer

        let tag: [UInt8] = [0x7A]
        let sent = try tag.withUnsafeBytes { try sender.send($0, descriptors: [pipeReader.rawValue]) }
        #expect(sent == .done(1))
        #expect(fcntl(pipeReader.rawValue, F_GETFD) != -1, "the sender keeps its descriptor")
        pipeReader.close()

        #expect(try write("through the pipe", to: pipeWriter) == 16)

        var received: FileDescriptor? = nil
        var handed = 0
        var byte: [UInt8] = [0]
        let result = try byte.withUnsafeMutableBytes { buffer in
            try receiver.receive(into: buffer) { (descriptor: consuming FileDescriptor) in
                handed += 1
                received = .some(descriptor)
            }
        }
        #expect(handed == 1, "one descriptor was sent")
        #expect(result == .done(1))
        #expect(byte == tag)
        guard let received else {
            Issue.record("no descriptor arrived")
            return
        }
        #expect(fcntl(received.rawValue, F_GETFD) & FD_CLOEXEC != 0, "MSG_CMSG_CLOEXEC marks it close-on-exec")
        #expect(try receiveString(on: received, upTo: 64) == "through the pipe")
    }

    @Test func passesThreeDescriptorsInOrder() throws {
        let pair = try FileDescriptor.unixStreamPair()
        let sender = pair.first
        let receiver = pair.second
        let pipe0 = try makePipe()
        let pipe1 = try makePipe()
        let pipe2 = try makePipe()
        #expect(try write("zero", to: pipe0.writer) == 4)
        #expect(try write("one", to: pipe1.writer) == 3)
        #expect(try write("two", to: pipe2.writer) == 3)

        let payload = Array("three pipes".utf8)
        let descriptors = [pipe0.reader.rawValue, pipe1.reader.rawValue, pipe2.reader.rawValue]
        #expect(try payload.withUnsafeBytes { try sender.send($0, descriptors: descriptors) } == .done(11))
        // The sender's copies may go at once: the receiver has its own.
        pipe0.reader.close()
        pipe1.reader.close()
        pipe2.reader.close()

        var contents: [String] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        let result = try buffer.withUnsafeMutableBytes { bytes in
            try receiver.receive(into: bytes) { descriptor in
                contents.append((try? receiveString(on: descriptor, upTo: 16)) ?? "<unreadable>")
            }
        }
        #expect(result == .done(11))
        #expect(String(decoding: buffer[0..<11], as: UTF8.self) == "three pipes")
        #expect(contents == ["zero", "one", "two"])
    }

    @Test func receivingWithoutDescriptorsHandsNoneOver() throws {
        let pair = try FileDescriptor.unixStreamPair()
        let left = pair.first
        let right = pair.second
        try right.setNonBlocking(true)
        var handed = 0
        var buffer = [UInt8](repeating: 0, count: 8)
        #expect(try buffer.withUnsafeMutableBytes { try right.receive(into: $0) { _ in handed += 1 } } == .wouldBlock)
        #expect(try send("plain", on: left) == .done(5))
        #expect(try buffer.withUnsafeMutableBytes { try right.receive(into: $0) { _ in handed += 1 } } == .done(5))
        left.close()
        #expect(try buffer.withUnsafeMutableBytes { try right.receive(into: $0) { _ in handed += 1 } } == .endOfFile)
        #expect(handed == 0)
    }

    /// The shim closes descriptors it has no room for and reports `MSG_CTRUNC`, which `receive` turns into
    /// `EMSGSIZE`; its Swift caller always has room for `SCM_MAX_FD`, so this is checked on the shim itself.
    @Test func receiveShimClosesDescriptorsBeyondItsCapacity() throws {
        let pair = try FileDescriptor.unixStreamPair()
        let sender = pair.first
        let receiver = pair.second
        let pipe0 = try makePipe()
        let pipe1 = try makePipe()
        let tag: [UInt8] = [1]
        let descriptors = [pipe0.reader.rawValue, pipe1.reader.rawValue]
        #expect(try tag.withUnsafeBytes { try sender.send($0, descriptors: descriptors) } == .done(1))

        var byte: UInt8 = 0
        var kept: Int32 = -1
        var count = 0
        var flags: Int32 = 0
        let received = cx_receive_with_descriptors(
            receiver.rawValue, &byte, 1, &kept, 1, &count, &flags, Int32(MSG_CMSG_CLOEXEC)
        )
        #expect(received == 1)
        #expect(count == 1)
        #expect(flags & Int32(MSG_CTRUNC) != 0)
        let keptDescriptor = FileDescriptor(adopting: kept)
        #expect(fcntl(keptDescriptor.rawValue, F_GETFD) != -1)
    }

    @Test func sendAcceptsNoDescriptors() throws {
        let pair = try FileDescriptor.unixStreamPair()
        let left = pair.first
        let right = pair.second
        let bytes = Array("bare".utf8)
        #expect(try bytes.withUnsafeBytes { try left.send($0, descriptors: []) } == .done(4))
        #expect(try receiveString(on: right, upTo: 8) == "bare")
    }
}

// MARK: - Helpers

/// Sends a string with `write(from:)`.
func send(_ text: String, on descriptor: borrowing FileDescriptor) throws -> IOResult {
    let bytes = Array(text.utf8)
    return try bytes.withUnsafeBytes { try descriptor.write(from: $0) }
}

/// One `read(into:)` into a small buffer.
func readResult(_ descriptor: borrowing FileDescriptor) throws -> IOResult {
    var buffer = [UInt8](repeating: 0, count: 16)
    return try buffer.withUnsafeMutableBytes { try descriptor.read(into: $0) }
}

/// One `read(into:)`, as text; a blocking descriptor waits for data.
func receiveString(on descriptor: borrowing FileDescriptor, upTo limit: Int) throws -> String {
    var buffer = [UInt8](repeating: 0, count: limit)
    let result = try buffer.withUnsafeMutableBytes { try descriptor.read(into: $0) }
    guard case .done(let count) = result else { throw Errno(rawValue: EIO) }
    return String(decoding: buffer[0..<count], as: UTF8.self)
}

/// Writes a string to a pipe with `write(2)` (`FileDescriptor.write` is `send(2)`, for sockets only).
func write(_ text: String, to descriptor: borrowing FileDescriptor) throws -> Int {
    let bytes = Array(text.utf8)
    let count = bytes.withUnsafeBytes { Glibc.write(descriptor.rawValue, $0.baseAddress, $0.count) }
    guard count >= 0 else { throw Errno(rawValue: errno) }
    return count
}

/// The two ends of a pipe (a struct: tuples of `~Copyable` values are not allowed).
struct Pipe: ~Copyable {
    var reader: FileDescriptor
    var writer: FileDescriptor
}

/// A pipe, both ends close-on-exec (set after `pipe(2)`: `pipe2` is not in the Swift Glibc module).
func makePipe() throws -> Pipe {
    var ends: [Int32] = [-1, -1]
    guard pipe(&ends) == 0 else { throw Errno(rawValue: errno) }
    let pipe = Pipe(reader: FileDescriptor(adopting: ends[0]), writer: FileDescriptor(adopting: ends[1]))
    #expect(fcntl(ends[0], F_SETFD, FD_CLOEXEC) == 0 && fcntl(ends[1], F_SETFD, FD_CLOEXEC) == 0)
    return pipe
}

/// Blocks until epoll reports `descriptor` readable (at most five seconds).
func waitUntilReadable(_ descriptor: borrowing FileDescriptor) throws {
    var epoll = try Epoll(capacity: 1)
    try epoll.add(descriptor.rawValue, events: .readable, data: 0)
    #expect(try epoll.wait(timeoutMilliseconds: 5000) == 1)
}

/// A new directory, mode 0700, under the temporary directory.
func makeTemporaryDirectory() throws -> String {
    let name = "cx-test-\(FileSystem.currentProcessID())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
    let path = FileSystem.temporaryDirectory + "/" + name
    try FileSystem.createDirectory(path, mode: 0o700)
    return path
}

/// Removes a directory made by `makeTemporaryDirectory` and the files in it.
func removeTemporaryDirectory(_ path: String) {
    // Cleanup after a test: a file that is already gone or a directory that cannot be listed must not
    // hide the test's own result.
    for name in (try? Directory.entries(of: path)) ?? [] {
        try? FileSystem.removeFile(path + "/" + name)
    }
    try? FileSystem.removeDirectory(path)
}
