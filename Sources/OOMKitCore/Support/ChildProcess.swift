import Glibc

/// Starts child processes the way a handler must: posix_spawn (no fork of a large, locked address
/// space), an empty signal mask and default dispositions (the handler blocks SIGTERM/SIGINT/SIGHUP
/// for its signalfd and ignores SIGPIPE; a child must inherit neither), optionally in a process
/// group of its own.
public enum ChildProcess {
    /// Where a child's standard descriptors come from: `(parent descriptor, child descriptor)`.
    public typealias Redirection = (from: Int32, to: Int32)

    /// This process's executable (/proc/self/exe), to start it again in another mode (the guardian,
    /// a sandbox's memory hog).
    package static var currentExecutable: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return String(decoding: buffer.prefix(max(count, 0)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Spawns `executable` with `arguments` (argv[0] included).
    ///
    /// - Parameters:
    ///   - environment: the whole environment as `KEY=VALUE` strings; nil inherits this process's.
    ///   - redirections: descriptors dup2'd into the child (e.g. a pipe's read end onto 0).
    ///   - ownProcessGroup: start a new process group led by the child (so a timeout can kill the
    ///     child and everything it started, and a terminal's Ctrl-C does not reach it).
    /// - Returns: the child's PID.
    package static func spawn(
        _ executable: String, arguments: [String], environment: [String]? = nil,
        redirections: [Redirection] = [], ownProcessGroup: Bool = false
    ) throws(SystemCallError) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for redirection in redirections {
            posix_spawn_file_actions_adddup2(&actions, redirection.from, redirection.to)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if ownProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        // The bytes the texts stand for (LosslessText): a cgroup path that is not UTF-8 reaches the hook whole.
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map(LosslessText.duplicateCString) + [nil]
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map(LosslessText.duplicateCString) + [nil] }
        defer {
            argv.forEach { free($0) }
            envp?.forEach { free($0) }
        }
        var pid: Int32 = 0
        let result =
            if let envp {
                posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            } else {
                posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
            }
        guard result == 0 else { throw SystemCallError("start", path: executable, errno: result) }
        return pid
    }

    /// How a child ended, from the status waitpid(2) gave.
    public enum Termination: Sendable, Equatable {
        /// It exited with this status.
        case exited(Int32)
        /// A signal ended it.
        case signaled(Int32)

        /// Decodes a wait status (WIFEXITED / WEXITSTATUS / WTERMSIG).
        public init(waitStatus: Int32) {
            let signal = waitStatus & 0x7F
            self = signal == 0 ? .exited((waitStatus >> 8) & 0xFF) : .signaled(signal)
        }

        /// The exit status, when it exited.
        public var exitStatus: Int32? { if case .exited(let status) = self { status } else { nil } }
        /// The signal, when one ended it.
        public var signal: Int32? { if case .signaled(let signal) = self { signal } else { nil } }
    }

    /// This process's environment without the variables whose names start with `excludedPrefix`.
    package static func inheritedEnvironment(excluding excludedPrefix: String) -> [String: String] {
        var environment: [String: String] = [:]
        var index = 0
        while let entry = environ[index] {
            let text = LosslessText.decode(cString: entry)
            if let equals = text.firstIndex(of: "="), !text.hasPrefix(excludedPrefix) {
                environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            index += 1
        }
        return environment
    }
}
