internal import ChronetixCore
internal import ChronetixNodes
internal import ChronetixSystem
internal import ShmDataPort
import Synchronization

/// Runs a `process` node: an executable of the user's that gets the node's input frames on its standard
/// input and writes its output frames to its standard output, as ``ProcessRecord``s; what it writes to
/// standard error goes to the worker's log, line by line, with the node id.
///
/// Three threads share the work, so that neither pipe can stall the other (a process blocked writing its
/// output while the worker waits to write its input would deadlock a single thread):
/// - the worker's thread reads the input rings and writes records to the process's standard input
///   (non-blocking, servicing the bus while the pipe is full), and owns the bus and the child;
/// - the output reader reads standard output and writes each record's payload straight into the reserved
///   space of its output ring;
/// - the error reader logs standard error.
///
/// The process is started when the node is made (before the worker reports ready, so its start-up overlaps
/// the run's) in the worker's process group, so that whoever signals the worker's group reaches it too.
/// Frames move only after the flow starts. It must exit with status 0 after its standard input ends (or,
/// without inputs, when it has produced everything, or on `SIGTERM` when the run stops); any other end fails
/// the node.
final class ProcessRunner {
    private let session: WorkerSession
    private let inputs: [InputPort]
    private let shared = ProcessShared()
    private let command: [String]
    private var child: ChildProcess?
    private var termination: ChildProcess.Termination?
    private var input: ProcessInputWriter?
    private var outputReader: SystemThread?
    private var errorReader: SystemThread?
    private let outputs: ProcessOutputReader
    private let ports: [OutputPort]
    private var framesWritten: UInt64 = 0
    /// Whether the run's stop made this runner send `SIGTERM` to the program.
    private var stoppedByRun = false

    init(session: WorkerSession, inputs: [InputPort], outputs: [OutputPort]) throws {
        let node = session.node
        guard let spec = node.process, let program = spec.command.first, !program.isEmpty else {
            throw NodeError(node.id, "a process node needs a command (config.command: [program, arguments…])")
        }
        guard inputs.count <= Int(UInt16.max) + 1, outputs.count <= Int(UInt16.max) + 1 else {
            throw NodeError(node.id, "a process node has at most 65536 inputs and 65536 outputs")
        }
        self.session = session
        self.inputs = inputs
        ports = outputs
        command = spec.command
        // A process that closes its standard input early makes writes fail with EPIPE, not kill the worker.
        Processes.ignoreBrokenPipeSignal()
        var environment = Processes.environment().filter { !$0.hasPrefix("CHRONETIX_TOKEN=") }
        if case .map(let entries) = spec.environment {
            for entry in entries {
                guard case .string(let value) = entry.value else { continue }
                environment.removeAll { $0.hasPrefix(entry.key + "=") }
                environment.append("\(entry.key)=\(value)")
            }
        }
        environment += [
            "CHRONETIX_NODE=\(node.id)",
            "CHRONETIX_FLOW=\(session.assignment.flow)",
            "CHRONETIX_RUN=\(session.assignment.run)",
            // The W3C trace context, under the name OpenTelemetry SDKs read it from.
            "TRACEPARENT=\(session.assignment.traceParent)",
        ]
        let inputPipe = try Self.pipe(node.id, "standard input")
        let childInput = inputPipe.reading
        let inputWriting = inputPipe.writing
        do {
            // Only the worker's end: O_NONBLOCK belongs to the open file, and the child's end is the other one.
            try inputWriting.setNonBlocking(true)
        } catch {
            throw NodeError(node.id, "cannot make the process's standard input non-blocking: \(error)")
        }
        let outputPipe = try Self.pipe(node.id, "standard output")
        let outputReading = outputPipe.reading
        let childOutput = outputPipe.writing
        let errorPipe = try Self.pipe(node.id, "standard error")
        let errorReading = errorPipe.reading
        let childError = errorPipe.writing
        do {
            child = try ChildProcess(
                path: program,
                arguments: Array(spec.command.dropFirst()),
                environment: environment,
                newProcessGroup: false,
                standardInput: childInput.rawValue,
                standardOutput: childOutput.rawValue,
                standardError: childError.rawValue,
                workingDirectory: spec.workingDirectory,
                searchPath: true
            )
        } catch {
            let place = spec.workingDirectory.map { " in \($0)" } ?? ""
            throw NodeError(node.id, "cannot start \(program)\(place): \(error)")
        }
        if let pid = child?.pid {
            // A worker told to end (its coordinator died: the parent-death signal is SIGTERM) takes its program
            // with it. Best effort: without it the program still sees its input end.
            try? Processes.forwardTermination(to: pid)
        }
        // The child holds its own copies now; closing ours leaves each pipe with one reader and one writer,
        // so that end of file arrives when the other side is done.
        childInput.close()
        childOutput.close()
        childError.close()
        // From here on nothing throws before every stored property is set, so that `deinit` (which ends the
        // child) runs whatever happens next.
        input = ProcessInputWriter(descriptor: inputWriting)
        self.outputs = ProcessOutputReader(node: node.id, descriptor: outputReading, ports: outputs, shared: shared)
        let lines = ProcessErrorReader(descriptor: errorReading, shared: shared, log: session.log)
        // The error reader runs from the start: a process that fails before the flow starts says why.
        do {
            errorReader = try SystemThread(name: "cx stderr") { lines.run() }
        } catch {
            throw NodeError(node.id, "cannot start the thread that reads the process's standard error: \(error)")
        }
        for port in outputs {
            port.isWrittenByAnotherThread = true
            port.whileWaiting = { [shared] in
                if shared.abandon.load(ordering: .relaxed) { throw WorkerAbort("the process node is stopping") }
            }
        }
    }

    deinit {
        // Every path out of `run()` ends the child and joins the threads; this is for a runner never run.
        endProcess()
    }

    private static func pipe(_ node: String, _ name: String) throws -> PipeEnds {
        do {
            return try FileDescriptor.pipe()
        } catch {
            throw NodeError(node, "cannot make a pipe for the process's \(name): \(error)")
        }
    }

    // MARK: - Running

    func run() throws {
        defer { endProcess() }
        while !session.isStarted { try session.waitForCommand(milliseconds: 50) }
        let reader = outputs
        do {
            outputReader = try SystemThread(name: "cx stdout") { reader.run() }
        } catch {
            throw NodeError(session.node.id, "cannot start the thread that reads the process's standard output: \(error)")
        }
        do {
            if inputs.isEmpty {
                input = nil  // end of file at once: the process makes frames of its own
                while !shared.outputDone.load(ordering: .acquiring) {
                    try session.waitForCommand(milliseconds: 5)
                    try takeErrorReports()
                    if session.isStopping && !stoppedByRun {
                        // The run stops: a program that makes frames of its own is asked to end.
                        child?.send(signal: .terminate)
                        stoppedByRun = true
                    }
                }
            } else {
                try feedInputs()
                input = nil  // end of file: the process finishes its work and closes its output
                while !shared.outputDone.load(ordering: .acquiring) {
                    try session.waitForCommand(milliseconds: 5)
                    try takeErrorReports()
                }
            }
        } catch let closed as ProcessInputWriter.Closed {
            var state = "still runs"
            if let end = waitForEnd(milliseconds: 1000) { state = "ended with \(end)" }
            let text = "\(command[0]) stopped reading its standard input (\(closed.errno)) after \(framesWritten) frames and \(state); the frames after those were not processed"
            throw NodeError(session.node.id, text)
        }
        if let failure = shared.failure() { throw NodeError(session.node.id, failure) }
        let end = try waitForEnd()
        try takeErrorReports()
        // The SIGTERM the run sent to stop a program without inputs is the expected end, not a failure.
        let expected = end == .exited(0) || (stoppedByRun && end == .signaled(.terminate))
        guard expected else {
            throw NodeError(session.node.id, "\(command[0]) (pid \(child?.pid ?? 0)) ended with \(end)")
        }
        // The output reader has returned (`outputDone`), so the ports are this thread's again. A program
        // without inputs under `restart: always` leaves its streams open for its next start.
        for port in ports { session.endOutput(port) }
    }

    /// Hands every input frame to the process until each input has ended.
    private func feedInputs() throws {
        guard let input else { return }
        let whileBlocked = { [session, shared] () throws -> Void in
            try session.serviceIfDue(now: Clock.monotonicNanoseconds())
            if let failure = shared.failure() { throw NodeError(session.node.id, failure) }
        }
        try NodeRunner.consume(session: session, inputs: inputs) { info, payload in
            let header = ProcessRecord.Header(
                length: UInt32(payload.byteCount),
                port: UInt16(info.input),
                sequence: info.sequence,
                timestamp: info.timestampNanoseconds,
                deadline: info.deadlineNanoseconds
            )
            try input.write(header, payload, whileBlocked: whileBlocked)
            framesWritten &+= 1
            shared.lastInputTimestamp.store(info.timestampNanoseconds, ordering: .relaxed)
        } afterBatch: {
            try input.flush(whileBlocked: whileBlocked)
            try takeErrorReports()
            // A program whose output is broken gets no more input.
            if let failure = shared.failure() { throw NodeError(session.node.id, failure) }
        }
        try input.flush(whileBlocked: whileBlocked)
    }

    /// Applies the node's `on_error` policy to the error reports the process wrote (`use-default` counts them
    /// as `skip-frame` does: the runtime does not know a process's default frame).
    private func takeErrorReports() throws {
        for report in shared.takeErrorReports() {
            try session.handle(NodeError(session.node.id, "frame \(report.sequence): \(report.message)"), frame: report.sequence)
        }
    }

    /// Waits for the process to end after its standard output ended, servicing the bus. Nothing more can come
    /// from it, so one that lingers 5 s (a grandchild holding the pipe, a program that ignores end of input)
    /// is ended: `SIGTERM`, then `SIGKILL` a second later, and the node fails saying so.
    private func waitForEnd() throws -> ChildProcess.Termination {
        let teardown = Teardown([.wait(.seconds(5)), .send(.terminate, allowedDurationToNextStep: .seconds(1))])
        let signalled = try teardown.perform(
            send: { signal in child?.send(signal: signal) },
            hasEnded: { waitForEnd(milliseconds: 0) != nil },
            pause: { try session.waitForCommand(milliseconds: 5) }
        )
        var end = waitForEnd(milliseconds: 0)
        while end == nil {  // after SIGKILL: until the kernel has ended it
            try session.waitForCommand(milliseconds: 5)
            end = waitForEnd(milliseconds: 0)
        }
        if signalled != nil {
            throw NodeError(session.node.id, "\(command[0]) (pid \(child?.pid ?? 0)) did not exit within 5 s of its output ending; it was stopped (\(end!))")
        }
        return end!
    }

    /// The process's end, waiting at most `milliseconds` for it; reaps it.
    private func waitForEnd(milliseconds: Int) -> ChildProcess.Termination? {
        if let termination { return termination }
        guard let child else { return nil }
        let deadline = Clock.monotonicNanoseconds() &+ UInt64(milliseconds) * 1_000_000
        while true {
            do {
                if let end = try child.poll() {
                    termination = end
                    return end
                }
            } catch {
                // ECHILD: reaped elsewhere, which nothing in the worker does; report what is known.
                termination = .exited(-1)
                return termination
            }
            guard Clock.monotonicNanoseconds() < deadline else { return nil }
            Clock.sleep(nanoseconds: 2_000_000)
        }
    }

    /// Ends the process (`SIGTERM`, then `SIGKILL` after 1 s) if it still runs, and joins the reader threads.
    private func endProcess() {
        input = nil
        if termination == nil, let child, waitForEnd(milliseconds: 0) == nil {
            let last = Teardown.gracefulShutDown(allowedDuration: .seconds(1)).perform(
                send: { signal in child.send(signal: signal) },
                hasEnded: { waitForEnd(milliseconds: 0) != nil },
                pause: { Clock.sleep(nanoseconds: 2_000_000) }
            )
            // After SIGKILL, 10 s for the kernel to end it; a process that outlives that stays unreaped, as before.
            if last == .kill { _ = waitForEnd(milliseconds: 10_000) }
        }
        // The process is gone: readers drain what it left in the pipes and stop at end of file, or at once
        // when a grandchild still holds a pipe open.
        shared.abandon.store(true, ordering: .relaxed)
        outputReader.take()?.join()
        errorReader.take()?.join()
    }

    func report() -> NodeReport {
        var report: NodeReport = [
            ("command", .string(command.joined(separator: " "))),
            ("pid", .integer(Int64(child?.pid ?? 0))),
            ("frames_to_process", .integer(Int64(clamping: framesWritten))),
            ("frames_from_process", .integer(Int64(clamping: outputs.frames))),
        ]
        if let termination { report.append(("process_exit", .string(termination.description))) }
        return report
    }
}

/// What the worker's thread and a process node's reader threads share.
final class ProcessShared: Sendable {
    /// Set by the worker's thread once the process has ended: readers stop waiting (for bytes, for room in a
    /// ring) and return.
    let abandon = Atomic<Bool>(false)
    /// Set by the output reader when it has returned: standard output ended, or it failed.
    let outputDone = Atomic<Bool>(false)
    /// The timestamp of the newest frame written to the process: the timestamp of output records that give 0.
    let lastInputTimestamp = Atomic<Int64>(0)
    private let lock = SystemLock()
    private nonisolated(unsafe) var reports: [(sequence: UInt64, message: String)] = []
    private nonisolated(unsafe) var firstFailure: String?

    func report(sequence: UInt64, message: String) {
        lock.withLock { reports.append((sequence, message)) }
    }

    func takeErrorReports() -> [(sequence: UInt64, message: String)] {
        lock.withLock {
            defer { reports.removeAll() }
            return reports
        }
    }

    func fail(_ text: String) {
        lock.withLock { if firstFailure == nil { firstFailure = text } }
    }

    func failure() -> String? { lock.withLock { firstFailure } }
}

/// The worker's side of the process's standard input: records gathered in a buffer and written when it fills
/// or a batch ends; large payloads go straight from the ring to the pipe.
final class ProcessInputWriter {
    /// The process closed its standard input (or exited): `EPIPE`.
    struct Closed: Error {
        var errno: Errno
    }

    private let descriptor: FileDescriptor
    private var buffer: [UInt8] = []
    private static let bufferLimit = 64 * 1024

    init(descriptor: consuming FileDescriptor) {
        self.descriptor = descriptor
        buffer.reserveCapacity(Self.bufferLimit + ProcessRecord.headerSize)
    }

    func write(_ header: ProcessRecord.Header, _ payload: RawSpan, whileBlocked: () throws -> Void) throws {
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: ProcessRecord.headerSize))
        unsafe buffer.withUnsafeMutableBytes { bytes in
            // Safe: the header's 40 bytes were just appended at `start`.
            unsafe ProcessRecord.write(header, into: UnsafeMutableRawBufferPointer(rebasing: bytes[start...]))
        }
        if payload.byteCount >= Self.bufferLimit {
            try flush(whileBlocked: whileBlocked)
            // Safe: the payload's bytes are valid for this call (the frame is released after it).
            try unsafe payload.withUnsafeBytes { bytes in try unsafe writeAll(bytes, whileBlocked: whileBlocked) }
            return
        }
        // Safe: as above.
        unsafe payload.withUnsafeBytes { bytes in unsafe buffer.append(contentsOf: bytes) }
        if buffer.count >= Self.bufferLimit { try flush(whileBlocked: whileBlocked) }
    }

    func flush(whileBlocked: () throws -> Void) throws {
        guard !buffer.isEmpty else { return }
        try unsafe buffer.withUnsafeBytes { bytes in try unsafe writeAll(bytes, whileBlocked: whileBlocked) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer, whileBlocked: () throws -> Void) throws {
        var offset = 0
        while offset < bytes.count {
            switch try unsafe writeSome(UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
            case .done(let count): offset += count
            case .wouldBlock, .endOfFile:
                // The process has not read what it was given yet: wait a little for room, keep the bus going.
                _ = try descriptor.waitUntilReady(.writable, timeoutMilliseconds: 5)
                try whileBlocked()
            }
        }
    }

    private func writeSome(_ bytes: UnsafeRawBufferPointer) throws -> IOResult {
        do {
            return try unsafe descriptor.writeBytes(from: bytes)
        } catch {
            if error == .brokenPipe { throw Closed(errno: error) }
            throw error
        }
    }
}

/// Reads the process's standard output on a thread of its own, writing each frame record into its output
/// ring. Owned by that thread while it runs; the worker's thread reads ``frames`` after joining it.
final class ProcessOutputReader: @unchecked Sendable {
    private let node: String
    private let descriptor: FileDescriptor
    private let ports: [OutputPort]
    private let shared: ProcessShared
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private(set) var frames: UInt64 = 0
    private var records: UInt64 = 0
    private static let bufferSize = 64 * 1024

    init(node: String, descriptor: consuming FileDescriptor, ports: [OutputPort], shared: ProcessShared) {
        self.node = node
        self.descriptor = descriptor
        self.ports = ports
        self.shared = shared
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.bufferSize, alignment: 16)
    }

    deinit { unsafe buffer.deallocate() }

    /// Stopped: the worker gave up (after the process ended and the pipe stayed open).
    private struct Abandoned: Error {}

    func run() {
        defer {
            for port in ports { port.publish() }
            shared.outputDone.store(true, ordering: .releasing)
        }
        do {
            while try fill(atLeast: ProcessRecord.headerSize) {
                let header = try unsafe ProcessRecord.read(from: UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
                start += ProcessRecord.headerSize
                records &+= 1
                if header.flags & ProcessRecord.errorFlag != 0 {
                    try takeErrorReport(header)
                } else {
                    try takeFrame(header)
                }
                // Frames become visible in batches: whenever the reader has nothing more in hand.
                if start == end { for port in ports { port.publish() } }
            }
        } catch is Abandoned {
            return
        } catch is WorkerAbort {
            return
        } catch {
            shared.fail("the process's standard output, record \(records): \(error)")
        }
    }

    private func takeErrorReport(_ header: ProcessRecord.Header) throws {
        let length = Int(header.length)
        guard try fill(atLeast: length) else {
            throw ProcessRecord.Malformed(description: "the output ended inside an error report")
        }
        let text = unsafe String(decoding: UnsafeRawBufferPointer(rebasing: buffer[start..<(start + length)]), as: UTF8.self)
        start += length
        shared.report(sequence: header.sequence, message: text)
    }

    private func takeFrame(_ header: ProcessRecord.Header) throws {
        guard Int(header.port) < ports.count else {
            throw ProcessRecord.Malformed(
                description: "a frame for output \(header.port), but the node has \(ports.count) output\(ports.count == 1 ? "" : "s")"
            )
        }
        let port = ports[Int(header.port)]
        let length = Int(header.length)
        var timestamp = header.timestamp
        if timestamp == 0 { timestamp = shared.lastInputTimestamp.load(ordering: .relaxed) }
        if timestamp == 0 { timestamp = Int64(Clock.monotonicNanoseconds()) }
        port.timestamp = timestamp
        try port.emitBytes(capacity: length) { reserved in
            // What is buffered first, then the rest read from the pipe straight into the ring.
            let buffered = min(length, end - start)
            if buffered > 0 {
                unsafe reserved.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[start..<(start + buffered)]))
                start += buffered
            }
            var filled = buffered
            while filled < length {
                let count = try readSome(into: UnsafeMutableRawBufferPointer(rebasing: reserved[filled..<length]))
                guard count > 0 else {
                    throw ProcessRecord.Malformed(description: "the output ended inside a frame of \(length) bytes (\(filled) arrived)")
                }
                filled += count
            }
            if port.binding.contentType == .f64 {
                // Safe: the `length` bytes were written just above; the span does not outlive this check.
                let frame = unsafe RawSpan(_unsafeBytes: UnsafeRawBufferPointer(rebasing: reserved[0..<length]))
                let problem: String?
                do {
                    let shape = try F64Frame.shape(of: frame)
                    problem = shape.byteCount == length ? nil : "its header says \(shape.byteCount) bytes, but the record has \(length)"
                } catch {
                    problem = "\(error)"
                }
                if let problem {
                    throw ProcessRecord.Malformed(description: "output \(port.binding.port) carries f64 frames, and this one is not: \(problem)")
                }
            }
            return length
        }
        port.shareCounters()
        frames &+= 1
    }

    /// Makes at least `count` bytes available from `start` (moving what is buffered to the front when needed).
    /// - Returns: `false` at end of file with nothing buffered.
    /// - Throws: ``ProcessRecord/Malformed`` at end of file inside the bytes asked for.
    private func fill(atLeast count: Int) throws -> Bool {
        precondition(count <= Self.bufferSize)
        if end - start >= count { return true }
        if start > 0 {
            let held = end - start
            if held > 0 {
                unsafe buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: held)
            }
            start = 0
            end = held
        }
        while end < count {
            let read = try readSome(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
            if read == 0 {
                if end == 0 { return false }
                try unsafe ProcessRecord.checkStart(UnsafeRawBufferPointer(rebasing: buffer[0..<end]))
                throw ProcessRecord.Malformed(description: "the output ended inside a record (\(end) of \(count) bytes)")
            }
            end += read
        }
        return true
    }

    /// Reads what the pipe has, waiting for it in slices of 20 ms so that an abandoned reader stops.
    /// - Returns: The bytes read; 0 at end of file.
    private func readSome(into target: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            if shared.abandon.load(ordering: .relaxed) {
                // The process has ended: take what the pipe still holds, without waiting.
                guard try descriptor.waitUntilReady(.readable, timeoutMilliseconds: 0) else { throw Abandoned() }
            } else if try !descriptor.waitUntilReady(.readable, timeoutMilliseconds: 20) {
                continue
            }
            switch try unsafe descriptor.read(into: target) {
            case .done(let count): return count
            case .endOfFile: return 0
            case .wouldBlock: continue
            }
        }
    }
}

/// Reads the process's standard error on a thread of its own and logs it line by line (at most 4 KiB a line).
final class ProcessErrorReader: @unchecked Sendable {
    private let descriptor: FileDescriptor
    private let shared: ProcessShared
    private let log: @Sendable (String) -> Void
    private static let lineLimit = 4096

    init(descriptor: consuming FileDescriptor, shared: ProcessShared, log: @escaping @Sendable (String) -> Void) {
        self.descriptor = descriptor
        self.shared = shared
        self.log = log
    }

    func run() {
        var lines = LineAssembler(limit: Self.lineLimit)
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let abandoned = shared.abandon.load(ordering: .relaxed)
            guard let ready = try? descriptor.waitUntilReady(.readable, timeoutMilliseconds: abandoned ? 0 : 20) else { break }
            if !ready {
                if abandoned { break }
                continue
            }
            let result = try? unsafe chunk.withUnsafeMutableBytes { unsafe try descriptor.read(into: $0) }
            guard case .done(let count) = result else {
                if case .wouldBlock = result { continue }
                break
            }
            lines.append(chunk[..<count]) { log("process: \($0)") }
        }
        lines.finish { log("process: \($0)") }
    }
}
