import CLinux
import Glibc

/// How one hook run ended.
public struct HookResult: Sendable, Codable {
    public var command: String
    /// The exit status, when the hook exited.
    public var exitStatus: Int32?
    /// The signal that ended it, when it was killed.
    public var signal: Int32?
    /// Whether it ran past its timeout (its whole process group was then killed).
    public var timedOut: Bool
    /// What it wrote to stdout and stderr, at most ``HookRunner/outputLimit`` bytes (the rest is dropped).
    public var output: String
    /// Bytes of output dropped beyond the limit.
    public var droppedOutputBytes: Int
    /// From the event's detection to the hook's process being started.
    public var startLatencyMicroseconds: Int64
    /// How long the hook ran.
    public var durationMicroseconds: Int64

    /// Exit status 0.
    public var succeeded: Bool { exitStatus == 0 && !timedOut }

    /// "exit 0", "exit 3", "killed by signal 9", "timed out after 2s".
    public var outcome: String {
        if timedOut { return "timed out, process group killed" }
        if let exitStatus { return "exit \(exitStatus)" }
        return "killed by signal \(signal ?? 0)"
    }
}

/// Runs user hooks (`/bin/sh -c CMD`, or the program itself where that is all the shell would do:
/// ``HookCommand``) without blocking the event loop.
///
/// Each hook is spawned with posix_spawn (no fork of the handler's address space) in a process group
/// of its own, with oom_score_adj back at 0 (not the handler's -1000), an empty signal mask and
/// default signal dispositions (the handler blocks SIGTERM
/// for its signalfd; a hook must not inherit that), context in OOMCTL_* environment variables and a
/// JSON document on stdin — never interpolated into the command. Its exit is a pidfd in the loop, its
/// output a non-blocking pipe read into a bounded buffer, its timeout a timerfd that kills the whole
/// process group.
package final class HookRunner {
    /// Output kept per hook; the rest is counted and dropped.
    package static let outputLimit = 8192

    private let loop: EventLoop
    /// Told of every hook's process group while it runs: it kills them if watch dies.
    private let guardian: GuardianClient?
    private var running: [Int32: Run] = [:]
    /// Whether this process runs below oom_score_adj 0, read once at the first hook (self-protection
    /// sets it after the runner exists, and nothing changes it later): no file read per hook after that.
    private lazy var ownScoreIsProtected = FileIO.ownOOMScoreAdjustment() < 0
    /// The environment every hook inherits: this process's minus any OOMCTL_* of its own, taken at the
    /// first hook (after start-up has removed what is not the hooks' business, such as NOTIFY_SOCKET).
    private lazy var inheritedEnvironment = ChildProcess.inheritedEnvironment(excluding: "OOMCTL_")
    /// PWD for a hook started without the shell, which would have exported it: decided once too.
    private lazy var directPWD = Self.workingDirectory(unless: inheritedEnvironment["PWD"])

    private final class Run {
        let command: String
        let pid: Int32
        let handle: ProcessHandle
        let outputDescriptor: Int32
        let timer: DeadlineTimer
        let startedAt: ContinuousClock.Instant
        let startLatency: Duration
        let completion: (HookResult) -> Void
        var output: [UInt8] = []
        var dropped = 0
        var timedOut = false

        init(
            command: String, pid: Int32, handle: ProcessHandle, outputDescriptor: Int32, timer: DeadlineTimer,
            startedAt: ContinuousClock.Instant, startLatency: Duration, completion: @escaping (HookResult) -> Void
        ) {
            self.command = command
            self.pid = pid
            self.handle = handle
            self.outputDescriptor = outputDescriptor
            self.timer = timer
            self.startedAt = startedAt
            self.startLatency = startLatency
            self.completion = completion
        }
    }

    /// Also ignores SIGPIPE in this process: a hook that exits without reading its stdin must not take
    /// the handler down when the JSON document is written to it (the write fails with EPIPE instead).
    package init(loop: EventLoop, guardian: GuardianClient? = nil) {
        self.loop = loop
        self.guardian = guardian
        signal(SIGPIPE, SIG_IGN)
    }

    /// Hooks still running.
    package var runningCount: Int { running.count }

    /// Starts `command`; `completion` is called from the loop when it has exited (or was killed at its
    /// timeout). `input` (its stdin) is made once the hook runs: nothing between the event and the hook's
    /// start that need not be there.
    package func start(
        _ command: String, environment: [String: String], input: () -> [UInt8], timeout: Duration,
        detectedAt: ContinuousClock.Instant, completion: @escaping (HookResult) -> Void
    ) throws(SystemCallError) {
        var inputPipe: [Int32] = [-1, -1]
        var outputPipe: [Int32] = [-1, -1]
        guard oomctl_pipe_cloexec(&inputPipe) == 0 else {
            throw SystemCallError("create", path: "a hook's stdin pipe", errno: errno)
        }
        guard oomctl_pipe_cloexec(&outputPipe) == 0 else {
            close(inputPipe[0])
            close(inputPipe[1])
            throw SystemCallError("create", path: "a hook's output pipe", errno: errno)
        }
        let spawned = Result { () throws(SystemCallError) in
            try spawn(command, environment: environment, input: inputPipe[0], output: outputPipe[1])
        }
        close(inputPipe[0])
        close(outputPipe[1])
        let startedAt = ContinuousClock().now
        let pid: Int32
        switch spawned {
        case .success(let spawnedPID): pid = spawnedPID
        case .failure(let error):
            close(inputPipe[1])
            close(outputPipe[0])
            throw SystemCallError("start hook", path: command, errno: error.errno)
        }
        // The handler protects itself with oom_score_adj -1000, which a child inherits: a runaway hook
        // must stay killable by the kernel. Raising the value needs no privilege. posix_spawn returns once
        // the shell or program has exec'd: what it forks before this write (in its first instants) keeps
        // -1000.
        if ownScoreIsProtected { FileIO.writeOOMScoreAdjustment(0, process: String(pid)) }
        // The group dies with watch, however watch dies: its guardian kills it if we cannot.
        guardian?.hookStarted(pid)
        Self.feed(input(), to: inputPipe[1])
        let handle: ProcessHandle
        let timer: DeadlineTimer
        do {
            // Our unreaped child: its PID cannot be reused, so the pidfd is certainly for it.
            handle = try ProcessHandle(pid: pid)
            timer = try DeadlineTimer()
        } catch {
            kill(-pid, SIGKILL)
            guardian?.hookEnded(pid)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            close(outputPipe[0])
            throw error
        }
        _ = fcntl(outputPipe[0], F_SETFL, O_NONBLOCK)
        let run = Run(
            command: command, pid: pid, handle: handle, outputDescriptor: outputPipe[0], timer: timer,
            startedAt: startedAt, startLatency: startedAt - detectedAt, completion: completion)
        running[pid] = run
        timer.arm(after: timeout)
        try loop.add(outputPipe[0]) { [unowned self] _ in self.drain(run) }
        try loop.add(handle.descriptor) { [unowned self] _ in self.finish(run) }
        try loop.add(timer.descriptor) { _ in
            run.timer.acknowledge()
            run.timedOut = true
            // The whole group: a hook's children die with it. The leader is unreaped, so the group ID
            // cannot have been reused.
            kill(-run.pid, SIGKILL)
        }
    }

    /// Kills every running hook's process group (on shutdown).
    package func killAll() {
        for run in running.values {
            kill(-run.pid, SIGKILL)
            guardian?.hookEnded(run.pid)
        }
    }

    private func drain(_ run: Run) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(run.outputDescriptor, $0.baseAddress, $0.count) }
            guard count > 0 else {
                if count == 0 { loop.remove(run.outputDescriptor) }
                return
            }
            let room = max(0, Self.outputLimit - run.output.count)
            run.output += buffer.prefix(min(count, room))
            run.dropped += max(0, count - room)
        }
    }

    private func finish(_ run: Run) {
        // Looked at without reaping first: until it is reaped the group's ID cannot be reused, so the
        // guardian, told first, never kills another group by that number.
        var info = siginfo_t()
        guard waitid(P_PID, id_t(run.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0,
            info._sifields._sigchld.si_pid == run.pid
        else { return }
        guardian?.hookEnded(run.pid)
        var status: Int32 = 0
        guard waitpid(run.pid, &status, WNOHANG) == run.pid else { return }
        drain(run)
        loop.remove(run.handle.descriptor)
        loop.remove(run.outputDescriptor)
        loop.remove(run.timer.descriptor)
        close(run.outputDescriptor)
        running[run.pid] = nil
        let termination = ChildProcess.Termination(waitStatus: status)
        let duration = ContinuousClock().now - run.startedAt
        run.completion(
            HookResult(
                command: run.command, exitStatus: termination.exitStatus, signal: termination.signal,
                timedOut: run.timedOut,
                output: String(decoding: run.output, as: UTF8.self), droppedOutputBytes: run.dropped,
                startLatencyMicroseconds: run.startLatency.totalNanoseconds / 1000,
                durationMicroseconds: duration.totalNanoseconds / 1000))
    }

    /// Writes the JSON document to the hook's stdin without ever blocking: what does not fit in the pipe
    /// is dropped (the documents are a few KiB; a pipe holds 64 KiB).
    private static func feed(_ input: [UInt8], to descriptor: Int32) {
        _ = fcntl(descriptor, F_SETFL, O_NONBLOCK)
        _ = input.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }

    /// Spawns `command` (``HookCommand``) in a process group of its own, stdin from `input`, stdout and
    /// stderr into `output`, with this process's environment (minus any OOMCTL_* of its own) plus
    /// `environment`. A program that cannot be started directly is started through the shell, which
    /// then says why (exit 126 or 127), as it would have had it been asked first.
    private func spawn(
        _ command: String, environment: [String: String], input: Int32, output: Int32
    ) throws(SystemCallError) -> Int32 {
        var merged = inheritedEnvironment
        for (key, value) in environment { merged[key] = value }
        func start(_ how: HookCommand, _ variables: [String: String]) throws(SystemCallError) -> Int32 {
            let (executable, arguments) = how.executableAndArguments
            return try ChildProcess.spawn(
                executable, arguments: arguments, environment: variables.map { "\($0.key)=\($0.value)" },
                redirections: [(input, 0), (output, 1), (output, 2)], ownProcessGroup: true)
        }
        let how = HookCommand(command)
        if case .direct = how {
            // sh exports PWD (the working directory, when what it inherited does not name it).
            var direct = merged
            if let directPWD, environment["PWD"] == nil { direct["PWD"] = directPWD }
            if let pid = try? start(how, direct) { return pid }
        }
        return try start(.shell(command), merged)
    }

    /// This process's working directory, unless `inherited` names it already (as sh decides PWD).
    private static func workingDirectory(unless inherited: String?) -> String? {
        var here = stat()
        var named = stat()
        if let inherited, inherited.hasPrefix("/"), stat(".", &here) == 0, stat(inherited, &named) == 0,
            here.st_dev == named.st_dev, here.st_ino == named.st_ino
        {
            return nil
        }
        guard let directory = getcwd(nil, 0) else { return nil }
        defer { free(directory) }
        return String(cString: directory)
    }
}
