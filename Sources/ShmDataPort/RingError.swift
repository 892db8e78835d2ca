public import ChronetixSystem

/// Why a ring could not be created, attached or used: the domain error of ShmDataPort.
///
/// Every hostile or corrupt segment becomes one of these, naming the segment and the field, never a
/// crash or a read outside the mapping.
public struct RingError: Error, CustomStringConvertible {
    /// What kind of failure this is; compare against the static members (`error.code == .badMagic`).
    ///
    /// A struct wrapping a private enum, so adding a kind never breaks a caller's `switch`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: Hashable, Sendable {
            case invalidConfiguration, systemCall, notInitialized, badMagic, unsupportedVersion
            case corruptHeader, corruptFrame, segmentSizeMismatch, slotOutOfRange, slotInUse, slotRetired
            case producerAttached, streamClosed, producerGone, frameTooLarge
        }

        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The configuration asked for something the ring cannot be (a capacity that is not a power of two).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// A system call failed; ``RingError/cause`` holds it.
        public static let systemCall = Code(.systemCall)
        /// The segment exists but its creator has not finished writing the header (magic still zero).
        public static let notInitialized = Code(.notInitialized)
        /// The segment does not start with the ring magic: it is not a Chronetix ring.
        public static let badMagic = Code(.badMagic)
        /// The segment was laid out by another version of Chronetix.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// A header field holds a value no correct peer writes (a counter out of range, a bad alignment).
        public static let corruptHeader = Code(.corruptHeader)
        /// A frame header in the data area is inconsistent (a length past the end, an unknown kind).
        public static let corruptFrame = Code(.corruptFrame)
        /// The segment's size disagrees with its header's capacity.
        public static let segmentSizeMismatch = Code(.segmentSizeMismatch)
        /// The consumer slot is beyond the ring's consumer count.
        public static let slotOutOfRange = Code(.slotOutOfRange)
        /// Another live process is attached to this consumer slot.
        public static let slotInUse = Code(.slotInUse)
        /// The consumer slot was retired from the fan-out.
        public static let slotRetired = Code(.slotRetired)
        /// Another live process is attached as the producer.
        public static let producerAttached = Code(.producerAttached)
        /// The producer closed the stream; nothing more can be sent.
        public static let streamClosed = Code(.streamClosed)
        /// The producer process died (or detached) without closing the stream.
        public static let producerGone = Code(.producerGone)
        /// A frame cannot fit in the ring even when it is empty.
        public static let frameTooLarge = Code(.frameTooLarge)

        /// The code's name, as written in ``RingError/description``.
        public var description: String {
            switch kind {
            case .invalidConfiguration: "invalid configuration"
            case .systemCall: "system call failed"
            case .notInitialized: "not initialized"
            case .badMagic: "bad magic"
            case .unsupportedVersion: "unsupported version"
            case .corruptHeader: "corrupt header"
            case .corruptFrame: "corrupt frame"
            case .segmentSizeMismatch: "segment size mismatch"
            case .slotOutOfRange: "slot out of range"
            case .slotInUse: "slot in use"
            case .slotRetired: "slot retired"
            case .producerAttached: "producer attached"
            case .streamClosed: "stream closed"
            case .producerGone: "producer gone"
            case .frameTooLarge: "frame too large"
            }
        }
    }

    /// Where in ShmDataPort the failure was detected.
    public struct Location: Hashable, Sendable, CustomStringConvertible {
        /// The `#fileID` of the throwing code.
        public var fileID: String
        /// The `#line` of the throwing code.
        public var line: Int

        /// `Module/File.swift:line`.
        public var description: String { "\(fileID):\(line)" }
    }

    /// What kind of failure this is.
    public var code: Code
    /// The segment the failure concerns (`/chronetix.…`).
    public var segment: String
    /// The dynamic facts: the field, the value found, the value expected.
    public var message: String
    /// The failed system call, when there is one.
    public var cause: SystemCallError?
    /// Where the failure was detected.
    public var location: Location

    /// Creates an error.
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - segment: The segment's name.
    ///   - message: The facts.
    ///   - cause: The failed system call, if any.
    ///   - fileID: Captured automatically.
    ///   - line: Captured automatically.
    public init(
        _ code: Code,
        segment: String,
        _ message: String,
        cause: SystemCallError? = nil,
        fileID: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.segment = segment
        self.message = message
        self.cause = cause
        self.location = Location(fileID: fileID, line: line)
    }

    /// One line: `ring /chronetix.x.a.out: corrupt header: consumers[0].released_bytes is … (shm_open: …)`.
    public var description: String {
        var text = "ring \(segment): \(code): \(message)"
        if let cause { text += " (\(cause))" }
        return text
    }

    /// The same facts as a tree, one per line, with where the error was raised.
    public func detailedDescription() -> String {
        var lines = ["RingError: \(code)", "├─ segment: \(segment)", "├─ message: \(message)"]
        if let cause { lines.append("├─ cause: \(cause)") }
        lines.append("└─ at: \(location)")
        return lines.joined(separator: "\n")
    }
}
