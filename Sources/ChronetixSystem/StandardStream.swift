import Glibc

/// This process's standard output or standard error, written with `write(2)` directly.
///
/// Foundation's `FileHandle.write(_:)` traps when the write fails, and a coordinator's streams fail for
/// ordinary reasons: standard output piped into `head` that has exited (`EPIPE`, once `SIGPIPE` is ignored,
/// ``Processes/ignoreBrokenPipeSignal()``), a terminal or ssh session that closed (`EIO`). Here a failed
/// write is an error the caller decides about.
public enum StandardStream: Sendable {
    /// Descriptor 1.
    case output
    /// Descriptor 2.
    case error

    private var descriptor: Int32 { self == .output ? STDOUT_FILENO : STDERR_FILENO }

    /// Writes every byte of `text`, in as many `write(2)` calls as it takes; retries `EINTR`, and waits for
    /// room when the stream was made non-blocking by someone else (`EAGAIN`). `EBADF` is thrown, not trapped: the
    /// descriptor is the parent's to close (`chronetix run >&-`), not a double close in this process.
    /// - Throws: The `Errno` of `write` (`EPIPE`, `EIO`, `EBADF`).
    public func write(_ text: String) throws(Errno) {
        var text = text
        // `withUTF8` rethrows untyped errors: the failure is carried out of the closure instead.
        let failure: Errno? = text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                do throws(Errno) {
                    offset += try SystemCall.value("write", badDescriptorIsError: true) {
                        // Safe: the kernel reads at most the remaining bytes of the string's live UTF-8 buffer.
                        unsafe Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                    }
                } catch .wouldBlock {
                    var entry = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    // The wait is only a pause before the next write, which reports any error; an interrupted or
                    // failed poll just makes that write come sooner.
                    _ = unsafe poll(&entry, 1, 100)
                } catch {
                    return error
                }
            }
            return nil
        }
        if let failure { throw failure }
    }

    /// Whether the stream is a terminal (`isatty(3)`).
    public var isTerminal: Bool { isatty(descriptor) == 1 }
}
