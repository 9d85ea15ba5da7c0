import CLinux
import Glibc

/// Makes sure no memory cgroup is left hanging: a separate small process that re-enables the kernel
/// OOM killer (v1 memory.oom_control = 0) on every cgroup where `watch` disabled it, the moment `watch`
/// dies — by SIGKILL, a crash, anything.
///
/// `watch` holds the write end of a pipe whose read end is the guardian's stdin, and tells it
/// `+PATH` when it disables the killer on PATH (a memory.oom_control file) and `-PATH` when it has
/// restored it; `=PATH VALUE` when it raised a limit (a reserve grant) whose original VALUE must be
/// written back, and `-PATH` once it has been. When `watch` dies, the kernel closes its end: the guardian reads end-of-file and
/// restores whatever is still listed. It ignores terminal signals and runs in its own process group,
/// so a Ctrl-C meant for `watch` does not take it down first.
package final class GuardianClient {
    /// The guardian process.
    package let pid: Int32
    /// The write end of the pipe (-1 once shut down: nothing more is sent).
    private var pipe: Int32

    /// Starts the guardian process (the oomctl binary in its hidden guardian mode, or any program that
    /// runs ``Guardian/run(input:patience:log:)`` when started as `launch` says).
    package init(launch: GuardianLaunch) throws(SystemCallError) {
        var ends: [Int32] = [-1, -1]
        guard oomctl_pipe_cloexec(&ends) == 0 else {
            throw SystemCallError("create", path: "the guardian pipe", errno: errno)
        }
        // Its own process group: a Ctrl-C meant for watch does not reach it.
        let spawned = Result { () throws(SystemCallError) in
            try ChildProcess.spawn(
                launch.executable, arguments: launch.arguments, redirections: [(ends[0], 0)], ownProcessGroup: true)
        }
        close(ends[0])
        let pid: Int32
        switch spawned {
        case .success(let spawnedPID): pid = spawnedPID
        case .failure(let error):
            close(ends[1])
            throw SystemCallError("start the guardian", path: launch.executable, errno: error.errno)
        }
        self.pid = pid
        self.pipe = ends[1]
    }

    deinit { if pipe >= 0 { close(pipe) } }

    /// Tells the guardian that the killer is disabled on this memory.oom_control file.
    package func protect(_ oomControlPath: String) { send(.killerDisabled(path: oomControlPath)) }

    /// Tells the guardian to write `value` to `path` if watch dies (a limit raised by a reserve grant).
    package func restoreOnExit(_ path: String, value: String) { send(.restoreOnExit(path: path, value: value)) }

    /// Tells the guardian that `path` needs nothing any more (restored, or its cgroup is gone).
    package func forget(_ path: String) { send(.forget(path: path)) }

    /// Closes the pipe after everything was restored, and reaps the guardian. With `wait` false (a limit
    /// is still waiting for usage to drop), the guardian is left to finish that on its own.
    package func shutDown(wait: Bool = true) {
        guard pipe >= 0 else { return }
        close(pipe)
        pipe = -1
        guard wait else { return }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    private func send(_ message: GuardianMessage) {
        guard pipe >= 0 else { return }
        let bytes = message.encoded
        _ = bytes.withUnsafeBytes { write(pipe, $0.baseAddress, $0.count) }
    }
}

/// The guardian process's main loop (see ``GuardianClient``).
public enum Guardian {
    /// The argument ``GuardianLaunch/thisProgram(argument:)`` starts a program with by default.
    public static let defaultArgument = "guardian"

    /// Runs the guardian and exits when this process was started as one (its only argument is
    /// `argument`); returns at once otherwise. Call it first thing in `main` of a program whose
    /// ``WatchService`` uses ``GuardianLaunch/thisProgram(argument:)``.
    public static func runIfRequested(argument: String = defaultArgument) {
        guard CommandLine.arguments.count == 2, CommandLine.arguments[1] == argument else { return }
        run(input: STDIN_FILENO) { message in
            let line = Array((message + "\n").utf8)
            _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        }
        exit(0)
    }

    /// How often a value the kernel refuses with EBUSY is tried again.
    static let retryInterval = Duration.milliseconds(50)

    /// Reads ``GuardianMessage`` lines from `input` until end of file, then writes the kernel killers
    /// still listed back first, and then every saved value in the order given, retrying a
    /// value the kernel refuses with EBUSY (usage still above a limit) every 50 ms for up to `patience`.
    /// Returns the paths it restored.
    @discardableResult
    public static func run(
        input: Int32 = 0, patience: Duration = .seconds(60), log: (String) -> Void = { _ in }
    ) -> [String] {
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { Glibc.signal(signal, SIG_IGN) }
        // The watch that started this guardian (its parent until it dies).
        let watch = getppid()
        FileIO.writeOOMScoreAdjustment(-1000)
        var listed: [String] = []
        var values: [(path: String, value: String)] = []
        var pendingLine: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            pendingLine += buffer.prefix(count)
            while let newline = pendingLine.firstIndex(of: UInt8(ascii: "\n")) {
                let message = GuardianMessage(line: pendingLine[..<newline])
                pendingLine.removeSubrange(...newline)
                switch message {
                case .killerDisabled(let path):
                    if !listed.contains(path) { listed.append(path) }
                case .restoreOnExit(let path, let value):
                    values.removeAll { $0.path == path }
                    values.append((path, value))
                case .forget(let path):
                    listed.removeAll { $0 == path }
                    values.removeAll { $0.path == path }
                case nil:
                    log("oomctl guardian: ignored a line that is not a message")
                }
            }
        }
        var restored: [String] = []
        let system = listed.isEmpty ? nil : try? CgroupSystem()
        for path in listed {
            // The children made after their parent was armed inherited the flag, watched or not.
            for inherited in clearInherited(below: path, watch: watch, in: system) {
                restored.append(inherited)
                log("oomctl guardian: watch is gone; re-enabled the kernel OOM killer a child inherited: \(inherited)")
            }
            let descriptor = LosslessText.withCString(path) { open($0, O_WRONLY | O_CLOEXEC) }
            guard descriptor >= 0 else {
                // A cgroup removed meanwhile has no killer to restore; anything else is worth saying.
                if errno != ENOENT {
                    log(
                        "oomctl guardian: cannot re-enable the kernel OOM killer: \(path): \(String(cString: strerror(errno)))"
                    )
                }
                continue
            }
            let written = write(descriptor, "0", 1)
            let code = errno
            close(descriptor)
            if written == 1 {
                restored.append(path)
                log("oomctl guardian: watch is gone; re-enabled the kernel OOM killer: \(path)")
            } else {
                log(
                    "oomctl guardian: cannot re-enable the kernel OOM killer: \(path): \(String(cString: strerror(code)))"
                )
            }
        }
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        for (path, value) in values {
            while true {
                let descriptor = LosslessText.withCString(path) { open($0, O_WRONLY | O_CLOEXEC) }
                guard descriptor >= 0 else { break }
                let written = value.withCString { write(descriptor, $0, strlen($0)) }
                let code = errno
                close(descriptor)
                if written >= 0 {
                    restored.append(path)
                    log("oomctl guardian: watch is gone; restored \(path) to \(value)")
                    break
                }
                guard code == EBUSY, clock.now < deadline else {
                    log("oomctl guardian: cannot restore \(path) to \(value): \(String(cString: strerror(code)))")
                    break
                }
                usleep(UInt32(retryInterval.totalNanoseconds / 1000))
            }
        }
        return restored
    }

    /// Clears the flag the kernel copied into every cgroup made below the cgroup of `control` (a listed
    /// memory.oom_control) after it was armed, through the cgroupfs layer as watch itself does
    /// (``KernelKillerControl/clearInherited(below:formerOwner:)``). Returns the files written.
    static func clearInherited(below control: String, watch: Int32, in system: CgroupSystem?) -> [String] {
        guard let system, let hierarchy = try? system.memoryHierarchy() else { return [] }
        let directory = String(control.dropLast("/memory.oom_control".count))
        // Only what lies inside the memory hierarchy (a listed path always does).
        guard directory.hasPrefix(hierarchy.mountPoint + "/"),
            let path = try? system.memoryCgroupPath(for: directory),
            let memory = try? MemoryCgroup.open(path, in: system)
        else { return [] }
        return KernelKillerControl.clearInherited(below: memory, formerOwner: watch).map {
            hierarchy.mountPoint + $0.description + "/memory.oom_control"
        }
    }
}
