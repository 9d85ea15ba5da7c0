import CLinux
import Glibc

/// Makes sure no memory cgroup is left hanging: a separate small process that re-enables the kernel
/// OOM killer (v1 memory.oom_control = 0) on every cgroup where `watch` disabled it, the moment `watch`
/// dies — by SIGKILL, a crash, anything — writes back what a reserve grant raised, and kills the
/// process groups of the hooks that were running.
///
/// `watch` holds one end of a socket pair (SOCK_SEQPACKET: one message a packet) whose other end is the
/// guardian's stdin, and tells it what to undo (``GuardianMessage``: `+PATH` when it disables the killer
/// on PATH, `=PATH VALUE EXPECTED` when it raised a limit, `%PGID` when a hook starts, `~MS` its
/// `--delay`, `!PATH` when a handling of an OOM begins; `-PATH`, `-%PGID` once that needs nothing any
/// more). `+` and `=` carry the cgroup's open
/// directory (SCM_RIGHTS): the guardian writes through it, so a cgroup renamed since, or a path longer
/// than PATH_MAX, is restored all the same; PATH names it in messages (and is the fallback of a
/// guardian that got no descriptor). When `watch` dies, the kernel closes its end: the guardian reads
/// end-of-file and restores whatever is still listed. It ignores terminal signals and runs in its own
/// process group, so a Ctrl-C meant for `watch` does not take it down first.
///
/// The client keeps what it told (a ``GuardianState``), so that a guardian that died can be started
/// again and told everything anew (``restart()``); `watch` notices the death through a pidfd.
package final class GuardianClient {
    /// The guardian process.
    package private(set) var pid: Int32
    /// watch's end of the socket pair (-1 once shut down: nothing more is sent).
    private var channel: Int32
    /// A descriptor of the directory of each listed path told with one, kept (a duplicate) so that a
    /// restarted guardian gets it too; closed once the path needs nothing any more.
    private var directories: [ByteKey: Int32] = [:]
    private let launch: GuardianLaunch
    /// Everything told so far that still stands: what a restarted guardian is told again.
    package private(set) var state = GuardianState()
    /// When the running guardian was started.
    package private(set) var startedAt = ContinuousClock().now
    /// Whether the running guardian's oom_score_adj is -1000 (set by this process right after the start,
    /// so that a failure is known here, and reported like watch's own).
    package private(set) var scoreAdjusted = false

    /// Starts the guardian process (the oomctl binary in its hidden guardian mode, or any program that
    /// runs ``Guardian/run(input:patience:log:)`` when started as `launch` says).
    package init(launch: GuardianLaunch) throws(SystemCallError) {
        self.launch = launch
        (pid, channel) = try Self.spawn(launch)
        scoreAdjusted = FileIO.writeOOMScoreAdjustment(-1000, process: String(pid))
    }

    deinit {
        if channel >= 0 { close(channel) }
        for descriptor in directories.values { close(descriptor) }
    }

    private static func spawn(_ launch: GuardianLaunch) throws(SystemCallError) -> (Int32, Int32) {
        var ends: [Int32] = [-1, -1]
        guard oomctl_seqpacket_pair(&ends) == 0 else {
            throw SystemCallError("create", path: "the guardian socket pair", errno: errno)
        }
        // Its own process group: a Ctrl-C meant for watch does not reach it.
        let spawned = Result { () throws(SystemCallError) in
            try ChildProcess.spawn(
                launch.executable, arguments: launch.arguments, redirections: [(ends[0], 0)], ownProcessGroup: true)
        }
        close(ends[0])
        // A send waits at most a second for a guardian that does not read (see write(_:)).
        oomctl_set_send_timeout(ends[1], 1000)
        switch spawned {
        case .success(let pid): return (pid, ends[1])
        case .failure(let error):
            close(ends[1])
            throw SystemCallError("start the guardian", path: launch.executable, errno: error.errno)
        }
    }

    /// Reaps the guardian if it has exited (it is this process's child): how it ended, or nil while it runs.
    package func reapIfExited() -> ChildProcess.Termination? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        return ChildProcess.Termination(waitStatus: status)
    }

    /// Starts a new guardian in place of one that died (reaped with ``reapIfExited()``) and tells it
    /// everything that still stands. On failure nothing runs and nothing more is sent.
    package func restart() throws(SystemCallError) {
        guard channel >= 0 else { return }
        close(channel)
        channel = -1
        let (pid, channel) = try Self.spawn(launch)
        self.pid = pid
        self.channel = channel
        startedAt = ContinuousClock().now
        scoreAdjusted = FileIO.writeOOMScoreAdjustment(-1000, process: String(pid))
        for message in state.messages { write(message) }
    }

    /// Tells the guardian watch's `--delay`: how long an OOM may be held from the start of its handling.
    package func tellDelay(_ delay: Duration) { send(.delay(delay)) }

    /// Tells the guardian that a handling of an OOM through this memory.oom_control file begins: the
    /// guardian's deadline for it starts again with watch's own. Sent before anything of the handling
    /// that could block (output), so that a watch stuck from then on is covered.
    package func handlingBegins(_ oomControlPath: String) { send(.handling(path: oomControlPath)) }

    /// Tells the guardian that the killer is disabled on this memory.oom_control file of `cgroup` (whose
    /// directory it gets, to write through).
    package func protect(_ oomControlPath: String, of cgroup: Cgroup? = nil) {
        keepDirectory(of: cgroup, for: oomControlPath)
        send(.killerDisabled(path: oomControlPath))
    }

    /// Tells the guardian to write `value` to `path` (a file of `cgroup`, whose directory it gets) if
    /// watch dies, if `path` still reads `expected` (what watch wrote there; nil: whatever it reads).
    package func restoreOnExit(_ path: String, value: String, expected: String?, of cgroup: Cgroup? = nil) {
        keepDirectory(of: cgroup, for: path)
        send(.restoreOnExit(path: path, value: value, expected: expected))
    }

    /// Tells the guardian that `path` needs nothing any more (restored, or its cgroup is gone).
    package func forget(_ path: String) {
        send(.forget(path: path))
        if let descriptor = directories.removeValue(forKey: ByteKey(path)) { close(descriptor) }
    }

    /// Keeps a duplicate of the directory descriptor of `cgroup` for `path`. Without one (no descriptor
    /// left), the guardian is told the path alone and opens it by name.
    private func keepDirectory(of cgroup: Cgroup?, for path: String) {
        guard let cgroup else { return }
        let duplicate = fcntl(cgroup.directoryDescriptor, F_DUPFD_CLOEXEC, 0)
        if let previous = directories.removeValue(forKey: ByteKey(path)) { close(previous) }
        if duplicate >= 0 { directories[ByteKey(path)] = duplicate }
    }

    /// Tells the guardian that a hook runs in process group `group` (killed if watch dies).
    package func hookStarted(_ group: Int32) { send(.hookGroup(group)) }

    /// Tells the guardian that the hook of process group `group` has exited.
    package func hookEnded(_ group: Int32) { send(.hookEnded(group)) }

    /// Closes watch's end after everything was restored, and reaps the guardian. With `wait` false (a limit
    /// is still waiting for usage to drop), the guardian is left to finish that on its own.
    package func shutDown(wait: Bool = true) {
        guard channel >= 0 else { return }
        close(channel)
        channel = -1
        guard wait else { return }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    private func send(_ message: GuardianMessage) {
        guard channel >= 0 else { return }
        state.apply(message)
        write(message)
    }

    /// A failed send loses nothing: the state is told again at the restart. EPIPE: the guardian died
    /// (its pidfd tells the service). No room for one more descriptor: the path alone is sent. Anything
    /// else (the socket full for a second: a stopped or stuck guardian; no memory): a guardian that was
    /// not told cannot be trusted, so it is killed, and its restart tells a new one everything.
    private func write(_ message: GuardianMessage) {
        let bytes = message.encoded
        var directory = message.carriesDirectory ? message.path.flatMap { directories[ByteKey($0)] } ?? -1 : -1
        while true {
            let sent = bytes.withUnsafeBytes {
                oomctl_send_with_descriptor(channel, $0.baseAddress, $0.count, directory)
            }
            if sent >= 0 { return }
            let code = errno
            if directory >= 0, code == ETOOMANYREFS || code == EMFILE || code == ENFILE {
                directory = -1
                continue
            }
            if code != EPIPE && code != ECONNRESET { kill(pid, SIGKILL) }
            return
        }
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
        // What the program's start ran (the runtime's, the loader's) is not what a guardian runs again.
        StartupCode.release()
        run(input: STDIN_FILENO, log: standardErrorLog())
        exit(0)
    }

    /// Lines to standard error that never wait. The guardian shares watch's standard error — a pipe that
    /// a paused `watch 2>&1 | less` fills, the journal's stream — and must hand OOMs back whatever
    /// happens there: a pipe or terminal is written through an open file description of its own with
    /// O_NONBLOCK (set on descriptor 2 itself, it would change watch's too), a socket with MSG_DONTWAIT;
    /// a line that cannot be written at once is dropped. A regular file is written as it is.
    public static func standardErrorLog() -> (String) -> Void {
        var status = stat()
        let kind = fstat(STDERR_FILENO, &status) == 0 ? status.st_mode & S_IFMT : 0
        let descriptor: Int32
        switch kind {
        case S_IFIFO, S_IFCHR: descriptor = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        case S_IFSOCK, S_IFREG: descriptor = STDERR_FILENO
        default: descriptor = -1
        }
        return { message in
            guard descriptor >= 0 else { return }
            let line = Array((message + "\n").utf8)
            _ = line.withUnsafeBytes { bytes in
                kind == S_IFSOCK
                    ? send(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                    : write(descriptor, bytes.baseAddress, bytes.count)
            }
        }
    }

    /// How often a value the kernel refuses with EBUSY is tried again.
    static let retryInterval = Duration.milliseconds(50)

    /// How long past watch's `--delay` an OOM may stay held in a listed cgroup, from the start of its
    /// handling, before the guardian hands it to the kernel killer: watch did not, at its deadline (it is
    /// stopped by SIGSTOP or a debugger, or stuck: a write to a terminal or pipe nobody reads, a journal
    /// that takes nothing, a bug).
    public static let deadlineSlack = Duration.milliseconds(250)

    /// Reads ``GuardianMessage`` lines from `input` until end of file (watch is gone), then writes the
    /// kernel killers still listed back first, kills the hooks' process groups still listed, and then
    /// writes every saved value in the order given (where it still holds what watch wrote), retrying a
    /// value the kernel refuses with EBUSY (usage still above a limit) every 50 ms for up to `patience`.
    /// Returns the paths it restored.
    ///
    /// Meanwhile, once told watch's `--delay`, it is woken by every listed cgroup's OOM (its own eventfd,
    /// nothing polled) and by each `!PATH` (a handling begins): an OOM still held `--delay` +
    /// ``deadlineSlack`` after the later of the two, whatever watch is doing (stopped, stuck in a write),
    /// is handed to the kernel killer, as watch would have at its deadline.
    @discardableResult
    public static func run(
        input: Int32 = 0, patience: Duration = .seconds(60), log: @escaping (String) -> Void = { _ in }
    ) -> [String] {
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { Glibc.signal(signal, SIG_IGN) }
        // The watch that started this guardian (its parent until it dies).
        let watch = getppid()
        FileIO.writeOOMScoreAdjustment(-1000)
        SelfProtection.raiseFileLimit()
        let session = GuardianSession(input: input, watch: watch, log: log)
        session.readUntilWatchIsGone()
        return restore(session.state, directories: session.directories, watch: watch, patience: patience, log: log)
    }

    /// What a dead watch left: the killers first (the stalled tasks), then the hooks' groups, then values.
    /// Each file is reached through the directory watch sent with it (`directories`, by listed path) when
    /// there is one, by its path otherwise.
    static func restore(
        _ state: GuardianState, directories: [ByteKey: Int32] = [:], watch: Int32, patience: Duration,
        log: (String) -> Void
    ) -> [String] {
        var restored: [String] = []
        let system = state.killers.isEmpty ? nil : try? CgroupSystem()
        for path in state.killers {
            let memory = system.flatMap { memoryCgroup(of: path, directory: directories[ByteKey(path)], in: $0) }
            // The cgroup itself first: a child made meanwhile then inherits the cleared flag.
            switch writeKiller(path, directory: directories[ByteKey(path)]) {
            case nil:
                restored.append(path)
                removeMarker(from: memory, watch: watch)
                log("oomctl guardian: watch is gone; re-enabled the kernel OOM killer: \(path)")
            // A cgroup removed meanwhile has no killer to restore; anything else is worth saying.
            case ENOENT?: break
            case let code?:
                log(
                    "oomctl guardian: cannot re-enable the kernel OOM killer: \(path): \(String(cString: strerror(code)))"
                )
            }
            // Then the children made after it was armed, which inherited the flag, watched or not.
            for inherited in clearInherited(below: memory, watch: watch) {
                restored.append(inherited)
                log("oomctl guardian: watch is gone; re-enabled the kernel OOM killer a child inherited: \(inherited)")
            }
        }
        for group in state.hookGroups where kill(-group, SIGKILL) == 0 {
            log("oomctl guardian: watch is gone; killed the process group \(group) of a hook it ran")
        }
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        // The cgroups (by a listed file) where a value could not be written back: their grant marker
        // stays, for the next start to finish the restore.
        var unsettled: Set<ByteKey> = []
        for entry in state.values {
            while true {
                let current: String?
                do {
                    current = String(
                        decoding: try read(entry.path, directory: directories[ByteKey(entry.path)]), as: UTF8.self)
                } catch  where error.errno == ENOENT {
                    current = nil  // the cgroup is gone: nothing to restore
                } catch {
                    // Not readable (no descriptor left?): not known to be back, so its marker stays.
                    unsettled.insert(ByteKey(directoryPath(of: entry.path)))
                    log("oomctl guardian: cannot read \(entry.path) to restore it to \(entry.value): \(error)")
                    break
                }
                let decision = GrantRestore.decide(
                    current: current.flatMap { try? ByteCount(parsing: $0.trimmingASCIIWhitespace()) },
                    written: entry.expected.flatMap { try? ByteCount(parsing: $0) },
                    original: (try? ByteCount(parsing: entry.value)) ?? .zero)
                switch decision {
                case .gone: break
                case .alreadyBack: restored.append(entry.path)
                case .changedByOthers(let value):
                    log(
                        "oomctl guardian: watch is gone; left \(entry.path) at \(value.bytes) (changed since watch set it; not restored to \(entry.value))"
                    )
                case .writeBack:
                    let descriptor = openForWriting(entry.path, directory: directories[ByteKey(entry.path)])
                    guard descriptor >= 0 else {
                        unsettled.insert(ByteKey(directoryPath(of: entry.path)))
                        break
                    }
                    let written = entry.value.withCString { write(descriptor, $0, strlen($0)) }
                    let code = errno
                    close(descriptor)
                    if written >= 0 {
                        restored.append(entry.path)
                        log("oomctl guardian: watch is gone; restored \(entry.path) to \(entry.value)")
                    } else if code == EBUSY, clock.now < deadline {
                        usleep(UInt32(retryInterval.totalNanoseconds / 1000))
                        continue
                    } else {
                        unsettled.insert(ByteKey(directoryPath(of: entry.path)))
                        log(
                            "oomctl guardian: cannot restore \(entry.path) to \(entry.value): \(String(cString: strerror(code)))"
                        )
                    }
                }
                break
            }
        }
        removeGrantMarkers(state.values, directories: directories, except: unsettled, watch: watch)
        return restored
    }

    /// Removes the reserve-grant marker (``ReserveGrantMarker``) of the dead watch from each cgroup whose
    /// values are all settled, so that the next start finds no leftover that is not there. Reached
    /// through the directories watch sent; a cgroup known by its path only keeps its marker (the next
    /// start sees its limit back and removes it).
    private static func removeGrantMarkers(
        _ values: [GuardianState.Value], directories: [ByteKey: Int32], except unsettled: Set<ByteKey>, watch: Int32
    ) {
        guard let hierarchy = try? CgroupSystem().memoryHierarchy() else { return }
        var done: Set<ByteKey> = unsettled
        for entry in values {
            let directoryPath = directoryPath(of: entry.path)
            guard done.insert(ByteKey(directoryPath)).inserted, let directory = directories[ByteKey(entry.path)] else {
                continue
            }
            guard let cgroup = adoptingCopy(of: directory, as: .root, in: hierarchy) else { continue }
            if ReserveGrantMarker.read(from: cgroup)?.pid == watch {
                try? cgroup.removeExtendedAttribute(ReserveGrantMarker.attribute)
            }
        }
    }

    /// The directory of a listed file: its cgroup's.
    private static func directoryPath(of path: String) -> String {
        String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
    }

    /// Writes 0 to a memory.oom_control file (through `directory`, its cgroup's, when known): nil when
    /// done, else the errno.
    static func writeKiller(_ path: String, directory: Int32?) -> Int32? {
        let descriptor = openForWriting(path, directory: directory)
        guard descriptor >= 0 else { return errno }
        let written = write(descriptor, "0", 1)
        let code = errno
        close(descriptor)
        return written == 1 ? nil : code
    }

    /// Clears the flag the kernel copied into every cgroup made below `memory` (a listed cgroup) after it
    /// was armed, through the cgroupfs layer as watch itself does
    /// (``KernelKillerControl/clearInherited(below:formerOwner:)``). Returns the files written.
    static func clearInherited(below memory: MemoryCgroup?, watch: Int32) -> [String] {
        guard let memory else { return [] }
        let mountPoint = memory.cgroup.hierarchy.mountPoint
        return KernelKillerControl.clearInherited(below: memory, formerOwner: watch).map {
            mountPoint + $0.description + "/memory.oom_control"
        }
    }

    /// Removes the marker (``KillerDisabledMarker``) that watch set on `memory` when it disabled the
    /// killer there, now that the killer is back: a next watch must not find a leftover that is not
    /// there. Only watch's own: a marker naming another PID is another watch's.
    static func removeMarker(from memory: MemoryCgroup?, watch: Int32) {
        guard let memory, KillerDisabledMarker.read(from: memory.cgroup)?.pid == watch else { return }
        try? memory.cgroup.removeExtendedAttribute(KillerDisabledMarker.attribute)
    }

    /// The memory cgroup whose memory.oom_control `control` is, when it lies in the memory hierarchy:
    /// through `directory` (a duplicate of it: the caller keeps its own) when watch sent one, so that a
    /// rename or a path longer than PATH_MAX does not matter; opened by its path otherwise.
    static func memoryCgroup(of control: String, directory: Int32?, in system: CgroupSystem) -> MemoryCgroup? {
        guard let hierarchy = try? system.memoryHierarchy(), control.hasSuffix("/memory.oom_control") else {
            return nil
        }
        let directoryPath = String(control.dropLast("/memory.oom_control".count))
        // Only what lies inside the memory hierarchy (a listed path always does).
        guard directoryPath.hasPrefix(hierarchy.mountPoint + "/"),
            let path = try? system.memoryCgroupPath(for: directoryPath)
        else { return nil }
        if let directory, let cgroup = adoptingCopy(of: directory, as: path, in: hierarchy) {
            return try? MemoryCgroup(cgroup)
        }
        return try? MemoryCgroup.open(path, in: system)
    }

    /// A cgroup over a duplicate of a directory descriptor watch sent (the guardian keeps its own, for
    /// the next restore), shown as `path`; nil when no descriptor is left to duplicate it into.
    private static func adoptingCopy(of directory: Int32, as path: CgroupPath, in hierarchy: Hierarchy) -> Cgroup? {
        let duplicate = fcntl(directory, F_DUPFD_CLOEXEC, 0)
        return duplicate >= 0 ? Cgroup.adopting(duplicate, as: path, in: hierarchy) : nil
    }

    /// Opens a listed file for writing: by its name in `directory` (its cgroup's, sent by watch) when
    /// known, never following a symbolic link; by its path otherwise. The descriptor, or -1 with errno set.
    static func openForWriting(_ path: String, directory: Int32?) -> Int32 {
        guard let directory else { return LosslessText.withCString(path) { open($0, O_WRONLY | O_CLOEXEC) } }
        return LosslessText.withCString(fileName(of: path)) { openat(directory, $0, O_WRONLY | O_CLOEXEC | O_NOFOLLOW) }
    }

    /// Reads a listed file, the same way as ``openForWriting(_:directory:)`` opens it.
    static func read(_ path: String, directory: Int32?) throws(SystemCallError) -> [UInt8] {
        guard let directory else { return try FileIO.read(path: path) }
        return try FileIO.read(at: directory, name: fileName(of: path), displayPath: path)
    }

    /// The last component of a listed path: the file in its cgroup's directory.
    private static func fileName(of path: String) -> String {
        String(path[(path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex)...])
    }
}

/// The guardian while watch lives: its socket read into a ``GuardianState``, and, once the `--delay` is
/// known, the listed cgroups' OOMs watched (an eventfd each, the same ``OOMWatcher`` watch uses) so that
/// an OOM that watch holds past its deadline (stopped, or stuck) is handed to the kernel killer. One thread, one epoll
/// set: no wake-up at all while nothing happens, one per OOM and one at its deadline while it does.
final class GuardianSession {
    private let input: Int32
    private let watch: Int32
    private let log: (String) -> Void
    private(set) var state = GuardianState()
    /// The directory watch sent with each listed path (SCM_RIGHTS), by that path.
    private(set) var directories: [ByteKey: Int32] = [:]
    /// Whether `input` is the socket watch starts a guardian with (else a pipe: no descriptors come).
    private let inputIsSocket: Bool
    private var pendingLine: [UInt8] = []
    private let loop: EventLoop?
    private var watcher: OOMWatcher?
    private var system: CgroupSystem?
    /// The listed cgroups whose OOMs are watched, by cgroup, with their memory.oom_control path.
    private var watched: [CgroupPath: (control: String, memory: MemoryCgroup)] = [:]
    /// The cgroups in OOM now, each with the timer that looks again at its deadline.
    private var held: [CgroupPath: DeadlineTimer] = [:]
    private var ended = false

    init(input: Int32, watch: Int32, log: @escaping (String) -> Void) {
        self.input = input
        self.watch = watch
        self.log = log
        var status = stat()
        inputIsSocket = fstat(input, &status) == 0 && status.st_mode & S_IFMT == S_IFSOCK
        loop = try? EventLoop()
    }

    /// Returns at end of file on `input`.
    func readUntilWatchIsGone() {
        guard let loop, (try? loop.add(input, handler: { [unowned self] _ in readInput() })) != nil else {
            // No loop (no descriptors left?): the socket alone, read blocking, still restores at the end.
            while readInput() {}
            return
        }
        while !ended { loop.runOnce() }
        watcher?.unwatchAll()
        for timer in held.values { loop.remove(timer.descriptor) }
        held = [:]
    }

    /// Reads what is there; false at end of file (or a read error).
    @discardableResult
    private func readInput() -> Bool {
        guard var (bytes, directory) = receive() else {
            ended = true
            return false
        }
        pendingLine += bytes
        bytes = []
        while let newline = pendingLine.firstIndex(of: UInt8(ascii: "\n")) {
            let message = GuardianMessage(line: pendingLine[..<newline])
            pendingLine.removeSubrange(...newline)
            guard let message else {
                log("oomctl guardian: ignored a line that is not a message")
                continue
            }
            if let path = message.path {
                // A path listed again, or done with: the directory sent before is not its any more.
                if let previous = directories.removeValue(forKey: ByteKey(path)) { close(previous) }
                if message.carriesDirectory, directory >= 0 {
                    directories[ByteKey(path)] = directory
                    directory = -1
                }
            }
            state.apply(message)
            switch message {
            case .delay: for control in state.killers { watchOOMs(control) }
            case .killerDisabled(let control): watchOOMs(control)
            case .forget(let path): unwatchOOMs(path)
            case .handling(let control): handlingBegins(control)
            default: break
            }
        }
        if directory >= 0 { close(directory) }
        return true
    }

    /// One read: from the socket, one packet (a message) and the directory it carries (-1 when none);
    /// from a pipe (a guardian run by hand, a test), what is there. nil at end of file or on an error.
    private func receive() -> (bytes: [UInt8], directory: Int32)? {
        guard inputIsSocket else {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(input, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                return count > 0 ? (Array(buffer.prefix(count)), -1) : nil
            }
        }
        // A packet is read whole: a path may be longer than any fixed buffer (deeper than PATH_MAX).
        let size = oomctl_next_message_size(input)
        if size < 0 { return receiveFailed() }
        guard size > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: size)
        var directory: Int32 = -1
        var truncated: Int32 = 0
        let count = buffer.withUnsafeMutableBytes {
            oomctl_receive_with_descriptor(input, $0.baseAddress, $0.count, &directory, &truncated)
        }
        if count < 0 { return receiveFailed() }
        guard count > 0 else { return nil }
        if truncated != 0 {
            log("oomctl guardian: a message came without its directory (no descriptor left?): restores by path")
        }
        return (Array(buffer.prefix(count)), directory)
    }

    /// A receive that failed (no memory, say) is not the end of file: while watch lives (still this
    /// process's parent), nothing is restored; it is tried again a little later.
    private func receiveFailed() -> (bytes: [UInt8], directory: Int32)? {
        let code = errno
        guard getppid() == watch else { return nil }
        if code != EINTR && code != EAGAIN {
            log("oomctl guardian: cannot read watch's messages (\(String(cString: strerror(code)))); trying again")
            usleep(10_000)
        }
        return ([], -1)
    }

    // MARK: OOMs watch does not hand back

    private func watchOOMs(_ control: String) {
        guard let loop, state.delay != nil else { return }
        if system == nil { system = try? CgroupSystem() }
        guard let system,
            let memory = Guardian.memoryCgroup(of: control, directory: directories[ByteKey(control)], in: system),
            watched[memory.path] == nil
        else { return }
        if watcher == nil {
            watcher = try? OOMWatcher(loop: loop) { [unowned self] event in oom(event) }
        }
        guard let watcher, (try? watcher.watch(memory, for: [.oom])) != nil else {
            return log("oomctl guardian: cannot watch the OOMs of \(control): a stopped or stuck watch may hold them")
        }
        watched[memory.path] = (control, memory)
    }

    private func unwatchOOMs(_ control: String) {
        guard let (path, _) = watched.first(where: { $0.value.control.isSameBytes(as: control) }) else { return }
        watched[path] = nil
        watcher?.unwatch(path)
        if let timer = held.removeValue(forKey: path) { loop?.remove(timer.descriptor) }
    }

    private func oom(_ event: OOMEvent) {
        guard let delay = state.delay else { return }
        if event.kind == .removed {
            if let entry = watched[event.cgroup] { unwatchOOMs(entry.control) }
            return
        }
        guard watched[event.cgroup] != nil, held[event.cgroup] == nil else { return }
        hold(event.cgroup, for: delay)
    }

    /// watch begins a handling through `control`: the deadlines of that cgroup and of the held ones below
    /// it (the kernel marks a whole hierarchy under OOM) start again, as watch's own does.
    private func handlingBegins(_ control: String) {
        guard let delay = state.delay,
            let (path, _) = watched.first(where: { $0.value.control.isSameBytes(as: control) })
        else { return }
        for (heldPath, timer) in held where heldPath == path || heldPath.isDescendant(of: path) {
            timer.arm(after: delay + Guardian.deadlineSlack)
        }
        if held[path] == nil { hold(path, for: delay) }
    }

    /// Starts the guardian's deadline for an OOM in `path`.
    private func hold(_ path: CgroupPath, for delay: Duration) {
        guard let loop, let timer = try? DeadlineTimer() else { return }
        held[path] = timer
        do {
            try loop.add(timer.descriptor) { [unowned self] _ in
                timer.acknowledge()
                deadlinePassed(path)
            }
        } catch {
            held[path] = nil
            return
        }
        timer.arm(after: delay + Guardian.deadlineSlack)
    }

    /// An OOM's deadline (plus the slack) passed since its handling began: over, or handed back by watch
    /// → nothing; still held with the killer disabled → watch did not hand it back (stopped, or stuck in
    /// a write; a running watch whose next handling began would have said `!`), so the guardian does.
    private func deadlinePassed(_ path: CgroupPath) {
        guard let loop, let timer = held[path], let entry = watched[path], let delay = state.delay else { return }
        loop.remove(timer.descriptor)
        held[path] = nil
        guard let control = try? entry.memory.oomControl(), control.underOOM, control.oomKillDisable else { return }
        // The kernel marks a whole subtree under OOM for an ancestor's: only the cgroup whose own limit was
        // hit waits on its flag (a listed ancestor has its own deadline). Re-enabling a descendant's killer
        // would do nothing for this OOM and take that cgroup from watch.
        if let system, case .ancestor = OOMOwner.find(OOMOwner.lineage(of: entry.memory, in: system)) { return }
        if let code = Guardian.writeKiller(entry.control, directory: directories[ByteKey(entry.control)]) {
            log(
                "oomctl guardian: cannot hand the OOM back to the kernel: \(entry.control): \(String(cString: strerror(code)))"
            )
        } else {
            log(
                "oomctl guardian: watch (pid \(watch)) \(Self.whatHolds(watch)) and held the OOM in "
                    + "\(path.description.visibleControlCharacters) past its --delay \(delay.compactDescription): "
                    + "re-enabled the kernel OOM killer there (watch disables it again once the OOM is over)")
        }
    }

    /// What keeps watch from acting, as far as /proc tells: "is stopped (state T)", or "is not responding
    /// (state S, waiting in pipe_write)" — a write to a pipe or terminal nobody reads, typically.
    static func whatHolds(_ watch: Int32) -> String {
        let process = ProcFS().process(watch)
        guard let stat = try? process.stat() else { return "is not responding" }
        if stat.isStopped { return "is stopped (state \(stat.state))" }
        let channel = (try? FileIO.readText(path: "/proc/\(watch)/wchan")) ?? ""
        let waiting = channel.isEmpty || channel == "0" ? "" : ", waiting in \(channel)"
        return "is not responding (state \(stat.state)\(waiting))"
    }
}

/// The guardian died and could not be started again: `watch` restores everything and stops (exit 1),
/// since it could no longer promise that its own death leaves nothing hanging.
public struct GuardianLostError: OOMKitError, Sendable {
    /// Why no new guardian runs.
    public enum Reason: Error, Sendable, Equatable {
        /// A restarted guardian died again this soon.
        case diedAgain(after: Duration)
        /// Starting a new one failed.
        case cannotStart(String)
    }

    /// The guardian that died.
    public var pid: Int32
    /// How it ended.
    public var ended: ChildProcess.Termination
    /// Why it could not be replaced.
    public var reason: Reason

    init(pid: Int32, ended: ChildProcess.Termination, reason: any Error) {
        self.pid = pid
        self.ended = ended
        self.reason = (reason as? Reason) ?? .cannotStart("\(reason)")
    }

    public var kind: FailureKind { .actionFailed }

    public var description: String {
        let why =
            switch reason {
            case .diedAgain(let after): "the one started in its place died too, after \(after.compactDescription)"
            case .cannotStart(let message): "no new one could be started: \(message)"
            }
        return "the guardian (pid \(pid)) \(ended.phrase) and \(why); watch stopped and restored everything it "
            + "had changed, since its own death would now leave cgroups hanging"
    }
}

extension ChildProcess.Termination {
    /// "was killed by signal 9", "exited with status 3".
    public var phrase: String {
        switch self {
        case .exited(let status): "exited with status \(status)"
        case .signaled(let signal): "was killed by signal \(signal)"
        }
    }
}
