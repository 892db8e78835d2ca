import ArgumentParser
import ChronetixSystem
import Foundation

/// The files a command will write (`-o`, `--summary-json`, `--events-file`), checked before the command
/// starts its work: a run of minutes must not end in "cannot write" that a look at the path could have told.
enum OutputPath {
    /// Why `path` cannot be written, in words; nil when it can (as far as a look ahead can tell: the disk may
    /// still fill up).
    static func problem(_ path: String) -> String? {
        if path.isEmpty { return "the path is empty" }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {  // follows symbolic links
            if isDirectory.boolValue { return "it is a directory" }
            return access(path, W_OK) == 0 ? nil : "\(Errno(rawValue: errno))"
        }
        let parent = (path as NSString).deletingLastPathComponent
        let directory = parent.isEmpty ? "." : parent
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            return "there is no directory \(directory)"
        }
        guard isDirectory.boolValue else { return "\(directory) is not a directory" }
        return access(directory, W_OK | X_OK) == 0 ? nil : "no file can be made in \(directory): \(Errno(rawValue: errno))"
    }

    /// Checks every path given, printing each problem as `COMMAND: cannot write OPTION PATH: why`.
    /// - Throws: ``FlowExit/cannotWrite`` (73) after the first problem.
    static func check(_ paths: [(option: String, path: String?)], command: String) throws(ExitCode) {
        for case let (option, path?) in paths {
            guard let problem = problem(path) else { continue }
            StandardError.print("\(command): cannot write \(option) \(path): \(problem)")
            throw FlowExit.cannotWrite
        }
    }

    /// The plain reason a Foundation write failed: the errno text when there is one under it.
    static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let posix = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return Errno(rawValue: Int32(posix.code)).description
        }
        if nsError.domain == NSPOSIXErrorDomain { return Errno(rawValue: Int32(nsError.code)).description }
        return nsError.localizedDescription
    }
}
