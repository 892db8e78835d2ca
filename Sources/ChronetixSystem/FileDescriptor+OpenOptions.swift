import Glibc

extension FileDescriptor {
    /// How `open(2)` opens a file: the access mode and the creation and status flags, as bits of its `flags`.
    ///
    /// `O_CLOEXEC` is not among them: every open in ChronetixSystem adds it, so no child process inherits a
    /// descriptor by accident.
    public struct OpenOptions: OptionSet, Hashable, Sendable {
        /// The `O_*` bits.
        public var rawValue: Int32

        /// Wraps bits.
        /// - Parameter rawValue: `O_*` bits.
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// `O_RDONLY`: open for reading only. It is 0, so it is also what an empty set means.
        public static let readOnly = OpenOptions(rawValue: O_RDONLY)
        /// `O_WRONLY`: open for writing only.
        public static let writeOnly = OpenOptions(rawValue: O_WRONLY)
        /// `O_RDWR`: open for reading and writing.
        public static let readWrite = OpenOptions(rawValue: O_RDWR)
        /// `O_CREAT`: create the file when it does not exist (with the mode given, less the umask).
        public static let create = OpenOptions(rawValue: O_CREAT)
        /// `O_EXCL`: with ``create``, fail with `EEXIST` when the file exists.
        public static let exclusive = OpenOptions(rawValue: O_EXCL)
        /// `O_TRUNC`: cut an existing regular file opened for writing to length 0.
        public static let truncate = OpenOptions(rawValue: O_TRUNC)
        /// `O_APPEND`: every write goes to the end of the file, atomically with moving there.
        public static let append = OpenOptions(rawValue: O_APPEND)
        /// `O_NONBLOCK`: opening (a FIFO without a writer) and later reads and writes do not wait.
        public static let nonBlocking = OpenOptions(rawValue: O_NONBLOCK)
        /// `O_NOCTTY`: a terminal opened does not become the process's controlling terminal.
        public static let noControllingTerminal = OpenOptions(rawValue: O_NOCTTY)
        /// `O_NOFOLLOW`: fail with `ELOOP` when the last component of the path is a symbolic link.
        public static let noFollow = OpenOptions(rawValue: O_NOFOLLOW)
        /// `O_DIRECTORY`: fail with `ENOTDIR` unless the path is a directory.
        public static let directory = OpenOptions(rawValue: O_DIRECTORY)
    }
}
