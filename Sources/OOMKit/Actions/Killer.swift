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
        /// v2: one write to cgroup.kill (Linux 5.14) kills the whole subtree, forks included.
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
    /// Every process that was signalled.
    public var signalledPIDs: [Int32]
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
    case cgroup(CgroupError)
    case system(SystemCallError)

    public var kind: FailureKind {
        switch self {
        case .refused: .badInput
        case .noSuchProcess: .notFound
        case .survivors: .actionFailed
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

    /// Throws the refusal a kill of this process would meet: PID 1 or oomctl itself.
    public func checkAllowed(pid: Int32) throws(KillError) {
        if pid == 1 { throw .refused("PID 1 is init; killing it takes the whole system down") }
        if pid == selfPID { throw .refused("PID \(pid) is oomctl itself") }
    }

    /// Kills every process in `memory` and its descendants and waits until they have exited.
    public func kill(_ memory: MemoryCgroup, options: KillOptions = .init()) throws(KillError) -> KillReport {
        try checkAllowed(memory.path)
        let clock = ContinuousClock()
        let before = try? memory.usage()
        let start = clock.now
        var signalled: [Int32: ProcessHandle] = [:]
        var rounds = 0
        var method = KillReport.Method.pidfdLoop

        if options.signal != SIGKILL {
            rounds += try signalUntilConverged(memory, signal: options.signal, signalled: &signalled)
            _ = ProcessHandle.waitForExit(Array(signalled.values), timeout: options.grace)
            signalled.removeAll()
        }
        if memory.version == .v2 && memory.cgroup.hasFile("cgroup.kill") {
            // Open pidfds first so we can wait for exactly these processes, then kill the subtree at once.
            for pid in try processIDs(below: memory) where pid != selfPID {
                if let handle = try? ProcessHandle(pid: pid) { signalled[pid] = handle }
            }
            do {
                try memory.cgroup.write("cgroup.kill", "1")
            } catch {
                throw .cgroup(error)
            }
            method = .cgroupKill
            rounds += 1
        } else {
            rounds += try signalUntilConverged(memory, signal: SIGKILL, signalled: &signalled)
        }
        let handles = Array(signalled.values)
        // Every victim is signalled before any memory is reaped: process_mrelease does the teardown in
        // this thread, so reaping one by one while signalling serialised what the dying processes do in
        // parallel (measured: 1.41x the shell loop's time against 1.14x). Now it only helps victims that
        // have not run their exit yet.
        let released = handles.reduce(0) { $0 + ($1.releaseMemory() ? 1 : 0) }
        let survivors = ProcessHandle.waitForExit(handles, timeout: options.timeout).map(\.pid).sorted()
        let elapsed = clock.now - start
        if !survivors.isEmpty { throw .survivors(survivors, after: options.timeout) }
        return KillReport(
            cgroup: memory.path, pid: nil, method: method, signalledPIDs: signalled.keys.sorted(), rounds: rounds,
            memoryReleased: released, usageBefore: before, usageAfter: try? memory.usage(),
            elapsedMicroseconds: elapsed.totalNanoseconds / 1000, survivors: [])
    }

    /// Kills one process through a pidfd and waits for it to exit.
    public func kill(pid: Int32, options: KillOptions = .init()) throws(KillError) -> KillReport {
        try checkAllowed(pid: pid)
        guard pid > 0 else { throw .noSuchProcess(pid) }
        let handle: ProcessHandle
        do {
            handle = try ProcessHandle(pid: pid)
        } catch {
            throw error.kind == .notFound ? .noSuchProcess(pid) : .system(error)
        }
        let files = ProcFS(path: system.procPath).process(pid)
        if (try? files.isKernelThread()) == true { throw .refused("PID \(pid) is a kernel thread") }
        let cgroup = try? system.memoryCgroupPath(ofProcess: pid)
        let before = (try? files.sample())?.footprint
        let clock = ContinuousClock()
        let start = clock.now
        if options.signal != SIGKILL {
            guard try send(options.signal, to: handle) else { throw .noSuchProcess(pid) }
            _ = ProcessHandle.waitForExit([handle], timeout: options.grace)
        }
        if !handle.hasExited, try !send(SIGKILL, to: handle), options.signal == SIGKILL {
            throw .noSuchProcess(pid)
        }
        let released = handle.releaseMemory() ? 1 : 0
        let survivors = ProcessHandle.waitForExit([handle], timeout: options.timeout)
        let elapsed = clock.now - start
        if !survivors.isEmpty { throw .survivors([pid], after: options.timeout) }
        return KillReport(
            cgroup: cgroup, pid: pid, method: .pidfd, signalledPIDs: [pid], rounds: 1, memoryReleased: released,
            usageBefore: before, usageAfter: .zero, elapsedMicroseconds: elapsed.totalNanoseconds / 1000,
            survivors: [])
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

    private func send(_ signal: Int32, to handle: ProcessHandle) throws(KillError) -> Bool {
        do {
            return try handle.send(signal)
        } catch {
            throw .system(error)
        }
    }

    /// Every process in the cgroup and its descendants.
    private func processIDs(below memory: MemoryCgroup) throws(KillError) -> [Int32] {
        do {
            return try Self.subtreeProcessIDs(memory)
        } catch {
            throw .cgroup(error)
        }
    }

    /// Every process in the cgroup and its descendants; a descendant removed while walking contributes none.
    public static func subtreeProcessIDs(_ memory: MemoryCgroup) throws(CgroupError) -> [Int32] {
        var pids = try memory.processIDs()
        for child in try memory.children() {
            do {
                pids += try subtreeProcessIDs(child)
            } catch  where !child.cgroup.isAlive {
                continue
            }
        }
        return pids
    }
}
