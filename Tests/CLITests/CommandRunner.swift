import Foundation

/// Runs the built `chronetix` and `chronetix-worker` executables as real processes.
struct CommandRunner {
    struct Result {
        var status: Int32
        var standardOutput: Data
        var standardError: String
        var output: String { String(decoding: standardOutput, as: UTF8.self) }
    }

    /// The executables sit beside the test bundle in the build directory.
    static var binaryDirectory: URL {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]  // fall back to argv[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent()
    }

    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func run(_ arguments: [String]) throws -> Result { try run("chronetix", arguments) }

    /// - Parameter input: Written to the process's standard input, which is then closed; none by default.
    static func run(_ name: String, _ arguments: [String], input: Data? = nil) throws -> Result {
        let process = Process()
        // A path is taken as it is; a bare name is one of the built executables.
        process.executableURL = name.hasPrefix("/") ? URL(fileURLWithPath: name) : binaryDirectory.appendingPathComponent(name)
        process.arguments = arguments
        process.currentDirectoryURL = repositoryRoot
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        let standardInput = input.map { _ in Pipe() }
        process.standardInput = standardInput ?? FileHandle.nullDevice
        try process.run()
        // Read both pipes to the end before waiting, so a full pipe cannot block the child.
        nonisolated(unsafe) var errorData = Data()  // written by the block below, read after group.wait()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errorData = error.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        if let standardInput, let input {
            // While both outputs are read, so the child never waits on a full pipe while this waits on it.
            group.enter()
            DispatchQueue.global().async {
                standardInput.fileHandleForWriting.write(input)
                try? standardInput.fileHandleForWriting.close()  // a child that exited early closed its end
                group.leave()
            }
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            standardOutput: outputData,
            standardError: String(decoding: errorData, as: UTF8.self)
        )
    }
}
