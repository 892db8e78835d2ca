import ChronetixSystem

/// Writes lines to standard error. A stream that cannot be written (a closed terminal) loses the line; it
/// never ends the process (Foundation's `FileHandle.write` traps on a failed write).
enum StandardError {
    static func print(_ text: String) {
        write(text + "\n")
    }

    /// Writes `text` as it is, in one piece.
    static func write(_ text: String) {
        try? StandardStream.error.write(text)  // nowhere left to report that standard error failed
    }
}

/// Writes a run's output (attach commands, event lines, progress, the summary) to standard output.
enum StandardOutput {
    /// Writes `text` whole.
    /// - Returns: Whether standard output took it: false when its reader is gone (`EPIPE`; `chronetix run`
    ///   ignores `SIGPIPE`) or its terminal closed (`EIO`).
    @discardableResult
    static func write(_ text: String) -> Bool {
        (try? StandardStream.output.write(text)) != nil
    }
}
