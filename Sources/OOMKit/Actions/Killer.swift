import Glibc

/// How to kill.
public struct KillOptions: Sendable {
    /// The first signal. With anything but SIGKILL, processes still alive after ``grace`` get SIGKILL.
    public var signal: Int32
    /// How long to wait after a non-SIGKILL ``signal`` before SIGKILL.
    public var grace: Duration
    /// How long to wait for the processes to exit (after SIGKILL) before reporting failure.
    public var timeout: Duration

    public init(signal: Int32 = SIGKILL, grace: Duration = .seconds(5), timeout: Duration = .seconds(10)) {
        self.signal = signal
        self.grace = grace
        self.timeout = timeout
    }
}

/// What a kill did, for the user and the journal.
public struct KillReport: Sendable, Codable {
    /// How the processes were killed.
    public enum Method: String, Sendable, Codable {
        /// v2: one write to cgroup.kill (Linux 5.14) kills the whole subtree, forks included; written
        /// before anything is listed, so ``KillReport/signalledPIDs`` are the processes seen dying after it.
        case cgroupKill = "cgroup.kill"
        /// v1 (or v2 without cgroup.kill): read cgroup.procs, signal every process by pidfd, repeat until
        /// no process is left that was not signalled, so that a forking task cannot escape.
        case pidfdLoop = "pidfd loop"
        /// One process, through a pidfd.
        case pidfd
    }

    /// The cgroup killed, or the cgroup of the process killed.
    public var cgroup: CgroupPath?
    /// The process killed, when a single process was the target.
    public var pid: Int32?
    public var method: Method
    /// Every process that was signalled; with ``Method/cgroupKill``, every process oomctl saw dying after
    /// the write (the kernel signalled the whole subtree, also processes that exited before oomctl looked).
    public var signalledPIDs: [Int32]
    /// v2 cgroup kill: the tasks (threads) in the subtree just before the first signal, as the pids
    /// controller counted them (pids.current); nil without that controller or for a single process.
    /// With ``Method/cgroupKill`` this is how many the kernel's kill took at least, where
    /// ``signalledPIDs`` has only those still there when oomctl looked.
    public var tasksBefore: UInt64? = nil
    /// Passes of the pidfd loop (1 for cgroup.kill and single processes).
    public var rounds: Int
    /// Processes whose memory was reaped early with process_mrelease.
    public var memoryReleased: Int
    /// The cgroup's usage (or the process's resident set + swap) before and after.
    public var usageBefore: ByteCount?
    public var usageAfter: ByteCount?
    /// Wall time from the first signal until every process had exited.
    public var elapsedMicroseconds: Int64
    /// Processes still alive at the timeout (empty on success).
    public var survivors: [Int32]
    /// A graceful kill whose condition ended within the grace: what outlived the first signal was not
    /// sent SIGKILL (``Killer/start(_:options:in:escalateAfterGrace:completion:)``).
    public var spared: [Int32] = []

    /// Memory that was freed, as far as the usage figures show.
    public var freed: ByteCount? {
        guard let usageBefore, let usageAfter else { return nil }
        return usageBefore - usageAfter
    }
}

/// Why a kill was refused or failed.
public enum KillError: OOMKitError {
    /// Killing this would take down the system or oomctl itself.
    case refused(String)
    /// The process does not exist (or exited before it could be signalled).
    case noSuchProcess(Int32)
    /// Processes survived SIGKILL past the timeout (stuck in the kernel, e.g. in D state).
    case survivors([Int32], after: Duration)
    /// v2: the subtree still holds processes past the timeout, but none could be listed (a descendant
    /// that cannot be read).
    case stillPopulated(CgroupPath, after: Duration)
    case cgroup(CgroupError)
    case system(SystemCallError)

    public var kind: FailureKind {
        switch self {
        case .refused: .badInput
        case .noSuchProcess: .notFound
        case .survivors, .stillPopulated: .actionFailed
        case .cgroup(let error): error.kind
        case .system(let error): error.kind == .permissionDenied ? .permissionDenied : .actionFailed
        }
    }

    public var description: String {
        switch self {
        case .refused(let reason): "refusing to kill: \(reason)"
        case .noSuchProcess(let pid): "no such process: \(pid) (it may have exited already)"
        case .survivors(let pids, let timeout):
            "\(pids.count) process(es) still alive \(timeout.compactDescription) after SIGKILL: "
                + pids.prefix(10).map(String.init).joined(separator: " ")
                + " (stuck in the kernel? see /proc/PID/stack)"
        case .stillPopulated(let path, let timeout):
            "\(path.description.visibleControlCharacters) still holds processes \(timeout.compactDescription) after "
                + "SIGKILL, in cgroups oomctl could not list (cgroup.events: populated 1); look with "
                + "systemd-cgls or cat */cgroup.procs there"
        case .cgroup(let error): error.description
        case .system(let error): error.description
        }
    }
}

/// Kills a cgroup's processes or one process, never by a bare PID that may have been reused:
/// every signal goes through a pidfd opened while the process was verifiably the one meant.
public struct Killer: Sendable {
    public let system: CgroupSystem
    /// oomctl's own PID, never signalled.
    public let selfPID: Int32

    public init(system: CgroupSystem, selfPID: Int32 = getpid()) {
        self.system = system
        self.selfPID = selfPID
    }

    /// Throws the refusal a kill of this cgroup would meet: the root, or a cgroup containing oomctl.
    public func checkAllowed(_ path: CgroupPath) throws(KillError) {
        if path.isRoot { throw .refused("the root cgroup holds the whole system") }
        if let own = try? system.memoryCgroupPath(ofProcess: selfPID), own.isDescendant(of: path) {
            throw .refused("\(path) contains oomctl itself (PID \(selfPID))")
        }
    }

    /// Throws the refusal a kill of this process would meet: PID 1, oomctl itself or a kernel thread.
    public func checkAllowed(pid: Int32) throws(KillError) {
        if pid == 1 { throw .refused("PID 1 is init; killing it takes the whole system down") }
        if pid == selfPID { throw .refused("PID \(pid) is oomctl itself") }
        if (try? ProcFS(path: system.procPath).process(pid).isKernelThread()) == true {
            throw .refused("PID \(pid) is a kernel thread")
        }
    }

    /// What a kill is aimed at.
    public enum Target: Sendable {
        /// Every process in the cgroup and its descendants.
        case cgroup(MemoryCgroup)
        /// One process; with `expectedCgroup`, only while it is still in that cgroup (a victim chosen from
        /// a snapshot may have exited, and its PID been reused, before the kill).
        case process(Int32, expectedCgroup: CgroupPath? = nil)
    }

    /// Kills every process in `memory` and its descendants and waits until they have exited (blocking:
    /// for commands; the handler uses ``start(_:options:in:completion:)`` so that its loop never waits).
    public func kill(_ memory: MemoryCgroup, options: KillOptions = .init()) throws(KillError) -> KillReport {
        try killWaiting(.cgroup(memory), options: options)
    }

    /// Kills one process through a pidfd and waits for it to exit (blocking, as ``kill(_:options:)``).
    public func kill(pid: Int32, options: KillOptions = .init()) throws(KillError) -> KillReport {
        try killWaiting(.process(pid, expectedCgroup: nil), options: options)
    }

    /// Starts a kill in `loop`: the victims are signalled now, and their exits are waited for through
    /// their pidfds in the loop, with the grace period and the timeout as timerfds. `completion` is
    /// called once, from the loop. A victim that cannot die quickly (stuck in the kernel, frozen) delays
    /// only this kill, never anything else in the loop. Throws when nothing could be signalled (a
    /// refusal, no such process, a cgroup that cannot be read). Keep the operation until its completion
    /// has been called: releasing it cancels the kill's waiting (not its signals).
    @discardableResult
    /// `escalateAfterGrace`, asked when the grace after a first signal other than SIGKILL ends: whether
    /// SIGKILL still follows (nil: always). `watch` asks whether the OOM (or distress) lasts.
    public func start(
        _ target: Target, options: KillOptions = .init(), in loop: EventLoop,
        escalateAfterGrace: (() -> Bool)? = nil, completion: @escaping (Result<KillReport, KillError>) -> Void
    ) throws(KillError) -> KillOperation {
        let operation = try KillOperation(
            killer: self, target: target, options: options, loop: loop, escalateAfterGrace: escalateAfterGrace,
            completion: completion)
        try operation.begin()
        return operation
    }

    /// The blocking kill: the same operation on a loop of its own, run until it completes.
    private func killWaiting(_ target: Target, options: KillOptions) throws(KillError) -> KillReport {
        let loop: EventLoop
        do { loop = try EventLoop() } catch { throw .system(error) }
        var outcome: Result<KillReport, KillError>?
        let operation = try start(target, options: options, in: loop) { outcome = $0 }
        while outcome == nil { loop.runOnce() }
        withExtendedLifetime(operation) {}
        switch outcome {
        case .success(let report): return report
        case .failure(let error): throw error
        case nil: throw .refused("the kill did not complete")
        }
    }

    /// One signalling pass over a target: the handles of the processes signalled, the method and rounds.
    struct Signalled {
        var handles: [Int32: ProcessHandle] = [:]
        var method: KillReport.Method
        var rounds = 0
    }

    /// Signals every process of a cgroup subtree: with SIGKILL on v2 through cgroup.kill, otherwise by
    /// the pidfd loop.
    ///
    /// Kill first, look after: cgroup.kill is written before anything is listed, so a fork bomb has no
    /// time to grow while oomctl reads (the kernel's kill takes forks made meanwhile too), and pidfds are
    /// then opened for the processes still there, to wait for and reap. A threaded cgroup refuses
    /// cgroup.kill (EOPNOTSUPP: killing is per process, its threads are per thread): the pidfd loop
    /// then kills the processes its threads belong to.
    func signalCgroup(_ memory: MemoryCgroup, signal: Int32) throws(KillError) -> Signalled {
        var signalled = Signalled(method: .pidfdLoop)
        if signal == SIGKILL && memory.version == .v2 && memory.cgroup.hasFile("cgroup.kill") {
            do {
                try memory.cgroup.write("cgroup.kill", "1")
                signalled.method = .cgroupKill
                signalled.rounds = 1
                signalled.handles = dyingProcesses(below: memory, excluding: [])
                return signalled
            } catch .system(let error) where error.code == .notSupported {
                // A threaded cgroup: the loop below.
            } catch {
                throw .cgroup(error)
            }
        }
        signalled.rounds = try signalUntilConverged(memory, signal: signal, signalled: &signalled.handles)
        return signalled
    }

    /// v2: writes cgroup.kill again (it is idempotent): a process moved into the subtree after the first
    /// write (a service manager restarting a unit, a sibling writing cgroup.procs) got no SIGKILL from it.
    func killAgain(_ memory: MemoryCgroup) {
        try? memory.cgroup.write("cgroup.kill", "1")
    }

    /// After cgroup.kill: pidfds on the processes of the subtree not yet in `known`, to wait for (each has
    /// SIGKILL pending from the kernel). Best effort: a process gone meanwhile is not listed, and a
    /// descendant that cannot be read is left to ``Cgroup/isPopulated``, which decides when the kill is over.
    func dyingProcesses(below memory: MemoryCgroup, excluding known: Set<Int32>) -> [Int32: ProcessHandle] {
        var handles: [Int32: ProcessHandle] = [:]
        for pid in (try? processIDs(below: memory)) ?? [] where !known.contains(pid) && pid != selfPID {
            if let handle = try? ProcessHandle(pid: pid) { handles[pid] = handle }
        }
        return handles
    }

    /// The cgroup that holds the memory of what is in `path`: itself, or for a v2 cgroup without the
    /// memory controller (threaded, or not enabled by its parent) the nearest ancestor that has it.
    func memoryOwner(of path: CgroupPath) -> CgroupPath {
        var current = path
        while let memory = try? MemoryCgroup.open(current, in: system), !memory.hasMemoryController,
            let parent = current.parent
        {
            current = parent
        }
        return current
    }

    /// Opens a pidfd on a process about to be killed, refusing what ``checkAllowed(pid:)`` refuses.
    func openVictim(_ pid: Int32) throws(KillError) -> ProcessHandle {
        guard pid > 0 else { throw .noSuchProcess(pid) }
        let handle: ProcessHandle
        do {
            handle = try ProcessHandle(pid: pid)
        } catch {
            throw error.kind == .notFound ? .noSuchProcess(pid) : .system(error)
        }
        // With the pidfd open: the process checked is the one it refers to (its PID cannot be reused).
        try checkAllowed(pid: pid)
        return handle
    }

    func send(_ signal: Int32, to handle: ProcessHandle) throws(KillError) -> Bool {
        do {
            return try handle.send(signal)
        } catch {
            throw .system(error)
        }
    }

    /// The pidfd loop: list the processes of the subtree, open a pidfd for each new one, list again and
    /// signal those still listed, and repeat until a pass finds nobody new. A pidfd opened for a PID that
    /// is still in the subtree afterwards is that process: its PID cannot be reused while it exists. (This
    /// replaces a /proc/PID/cgroup read per process: half of the kill's CPU time in the benchmark.)
    private func signalUntilConverged(
        _ memory: MemoryCgroup, signal: Int32, signalled: inout [Int32: ProcessHandle]
    ) throws(KillError) -> Int {
        var rounds = 0
        while true {
            rounds += 1
            var opened: [ProcessHandle] = []
            for pid in try processIDs(below: memory) where signalled[pid] == nil && pid != selfPID {
                if let handle = try? ProcessHandle(pid: pid) { opened.append(handle) }
            }
            guard !opened.isEmpty else { return rounds }
            let confirmed = Set(try processIDs(below: memory))
            var fresh = 0
            for handle in opened where confirmed.contains(handle.pid) {
                // A process that exited meanwhile is not recorded: its PID may come back as another one.
                guard try send(signal, to: handle) else { continue }
                signalled[handle.pid] = handle
                fresh += 1
            }
            if fresh == 0 { return rounds }
        }
    }

    /// Every process in the cgroup and its descendants.
    func processIDs(below memory: MemoryCgroup) throws(KillError) -> [Int32] {
        do {
            // A threaded domain lists its threaded cgroups' processes too: each process once.
            var seen = Set<Int32>()
            return try Self.subtreeProcessIDs(memory, procPath: system.procPath).filter { seen.insert($0).inserted }
        } catch {
            throw .cgroup(error)
        }
    }

    /// Every process in the cgroup and its descendants; a descendant removed while walking contributes none.
    public static func subtreeProcessIDs(
        _ memory: MemoryCgroup, procPath: String = "/proc"
    ) throws(CgroupError)
        -> [Int32]
    {
        var pids = try memory.cgroup.processIDs(procPath: procPath)
        for child in try memory.children() {
            do {
                pids += try subtreeProcessIDs(child, procPath: procPath)
            } catch  where !child.cgroup.isAlive {
                continue
            }
        }
        return pids
    }
}
