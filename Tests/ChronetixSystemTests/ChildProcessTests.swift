import ChronetixSystem
import Glibc
import Testing

/// Child processes with their standard streams on pipes, a working directory and `PATH` lookup (how a
/// `process` node runs its program), and signals to a whole process group.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct ChildProcessTests {
    /// Reads a pipe to its end.
    private func readAll(_ descriptor: borrowing FileDescriptor) throws -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let result = try unsafe chunk.withUnsafeMutableBytes { try unsafe descriptor.read(into: $0) }
            guard case .done(let count) = result else { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func standardStreamsOnPipesInAWorkingDirectory() throws {
        let input = try FileDescriptor.pipe()
        let childInput = input.reading
        let inputWriting = input.writing
        let output = try FileDescriptor.pipe()
        let outputReading = output.reading
        let childOutput = output.writing
        let errors = try FileDescriptor.pipe()
        let errorReading = errors.reading
        let childErrors = errors.writing
        let child = try ChildProcess(
            path: "sh",
            arguments: ["-c", "pwd; cat; echo \"to stderr $MARK\" >&2"],
            environment: ["PATH=/usr/bin:/bin", "MARK=42"],
            newProcessGroup: false,
            standardInput: childInput.rawValue,
            standardOutput: childOutput.rawValue,
            standardError: childErrors.rawValue,
            workingDirectory: "/",
            searchPath: true
        )
        childInput.close()
        childOutput.close()
        childErrors.close()
        let text = Array("frames in\n".utf8)
        let written = try unsafe text.withUnsafeBytes { try unsafe inputWriting.writeBytes(from: $0) }
        #expect(written == .done(text.count))
        inputWriting.close()
        #expect(try readAll(outputReading) == "/\nframes in\n")
        #expect(try readAll(errorReading) == "to stderr 42\n")
        #expect(try child.wait() == .exited(0))
    }

    @Test func aMissingProgramIsAnErrorOfTheSpawn() {
        #expect(throws: Errno.noSuchFile) {
            _ = try ChildProcess(path: "no-such-program-chronetix", arguments: [], environment: ["PATH=/usr/bin:/bin"], newProcessGroup: false, searchPath: true)
        }
        #expect(throws: Errno.noSuchFile) {
            _ = try ChildProcess(path: "/bin/true", arguments: [], environment: [], newProcessGroup: false, workingDirectory: "/no/such/directory")
        }
    }

    @Test func aWriteToAPipeWithoutReaderIsBrokenPipe() throws {
        Processes.ignoreBrokenPipeSignal()
        let pipe = try FileDescriptor.pipe()
        let reading = pipe.reading
        let writing = pipe.writing
        reading.close()
        #expect(throws: Errno.brokenPipe) {
            _ = try unsafe [UInt8(1)].withUnsafeBytes { try unsafe writing.writeBytes(from: $0) }
        }
    }

    @Test func aSignalToTheGroupReachesWhatTheChildStarted() throws {
        let output = try FileDescriptor.pipe()
        let outputReading = output.reading
        let childOutput = output.writing
        // The shell starts a sleeper, says its pid, and waits for it.
        let child = try ChildProcess(
            path: "/bin/sh",
            arguments: ["-c", "sleep 30 & echo $!; wait"],
            environment: ["PATH=/usr/bin:/bin"],
            newProcessGroup: true,
            standardOutput: childOutput.rawValue
        )
        childOutput.close()
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while byte != UInt8(ascii: "\n") {
            let result = try unsafe withUnsafeMutableBytes(of: &byte) { try unsafe outputReading.read(into: $0) }
            guard case .done = result else { break }
            line.append(byte)
        }
        let sleeper = try #require(Int32(String(decoding: line.dropLast(), as: UTF8.self)))
        let identity = try #require(ProcessIdentity.of(pid: sleeper))
        child.sendToGroup(signal: .kill)
        #expect(try child.wait() == .signaled(.kill))
        // The sleeper was the shell's child, now reparented: it is gone once init has reaped it.
        var gone = false
        for _ in 0..<500 where !gone {
            gone = !identity.isAlive
            if !gone { usleep(2000) }
        }
        #expect(gone)
    }

    /// The exit descriptor wakes an epoll wait the moment the child ends, and not before; the end it
    /// reports is the child's own.
    @Test func theExitDescriptorBecomesReadableWhenTheChildEnds() throws {
        let input = try FileDescriptor.pipe()
        let childInput = input.reading
        let inputWriting = input.writing
        // The child waits for a line on its standard input, then exits with status 7.
        let child = try ChildProcess(
            path: "/bin/sh", arguments: ["-c", "read line; exit 7"], environment: ["PATH=/usr/bin:/bin"],
            newProcessGroup: false, standardInput: childInput.rawValue
        )
        childInput.close()
        let exit = try child.exitDescriptor()
        var epoll = try Epoll(capacity: 4)
        try epoll.add(exit.rawValue, events: .readable, data: 42)
        #expect(try epoll.wait(timeoutMilliseconds: 50) == 0)
        #expect(try !child.hasEnded())
        #expect(try child.poll() == nil)
        let text = Array("go\n".utf8)
        _ = try unsafe text.withUnsafeBytes { try unsafe inputWriting.writeBytes(from: $0) }
        // No timeout that could pass a broken descriptor: the wait is unbounded and the test's time limit guards it.
        #expect(try epoll.wait(timeoutMilliseconds: -1) == 1)
        #expect(epoll.event(at: 0).data == 42)
        // Ended, and still unreaped after asking (twice): its pid stays reserved until poll() reaps it.
        #expect(try child.hasEnded())
        #expect(try child.hasEnded())
        #expect(try child.poll() == .exited(7))
        exit.close()
        inputWriting.close()
    }
}
