import Glibc

/// A kill in progress, driven by an ``EventLoop``: the victims are signalled at once, and their exits
/// are waited for through their pidfds in the loop, with the grace period (a first signal other than
/// SIGKILL) and the timeout as a timerfd. Nothing here blocks: a victim that cannot die quickly (in D
/// state, in a frozen cgroup) delays only its own kill.
///
/// Made by ``Killer/start(_:options:in:completion:)``; its completion is called exactly once, always
/// from the loop (never from inside `start`), unless the operation is cancelled first.
public final class KillOperation {
    private enum Stage {
        /// The first signal was sent; waiting up to the grace period before SIGKILL.
        case grace
        /// SIGKILL was sent; waiting up to the timeout for every victim to exit.
        case dying
        case done
    }

    private let killer: Killer
    private let target: Killer.Target
    private let options: KillOptions
    private let loop: EventLoop
    private let completion: (Result<KillReport, KillError>) -> Void
    private let escalateAfterGrace: (() -> Bool)?
    private var spared: [Int32] = []
    private let timer: DeadlineTimer
    private let clock = ContinuousClock()
    /// When the first signal went out (reset just before it: the report's time is the kill's own).
    private var startedAt: ContinuousClock.Instant
    private var stage = Stage.grace
    /// The victims not yet seen to exit in the current stage.
    private var pending: [Int32: ProcessHandle] = [:]
    private var signalled: Set<Int32> = []
    private var method = KillReport.Method.pidfdLoop
    private var rounds = 0
    private var released = 0
    private var usageBefore: ByteCount?
    private var tasksBefore: UInt64?
    /// The process being killed, for a process target (opened once, before any signal).
    private var victim: ProcessHandle?
    private var victimCgroup: CgroupPath?

    init(
        killer: Killer, target: Killer.Target, options: KillOptions, loop: EventLoop,
        escalateAfterGrace: (() -> Bool)? = nil, completion: @escaping (Result<KillReport, KillError>) -> Void
    ) throws(KillError) {
        self.escalateAfterGrace = escalateAfterGrace
        self.killer = killer
        self.target = target
        self.options = options
        self.loop = loop
        self.completion = completion
        do { timer = try DeadlineTimer() } catch { throw .system(error) }
        startedAt = clock.now
    }

    deinit { detach() }

    /// The processes signalled so far (all of them once SIGKILL was sent).
    public var signalledPIDs: [Int32] { signalled.sorted() }

    /// Whether the operation has completed (or was cancelled).
    public var isDone: Bool { stage == .done }

    /// Sends the first signal (throws when nothing could be signalled: a refusal, no such process, an
    /// unreadable cgroup).
    func begin() throws(KillError) {
        switch target {
        case .cgroup(let memory):
            try killer.checkAllowed(memory.path)
            usageBefore = try? memory.usage()
            tasksBefore = memory.cgroup.taskCount()
        case .process(let pid, let expected):
            let handle = try killer.openVictim(pid)
            victim = handle
            // Read after the pidfd is open: the PID cannot be reused while the pidfd exists.
            victimCgroup = try? killer.system.memoryCgroupPath(ofProcess: pid)
            // A process of a cgroup without the memory controller (threaded, or not enabled) is ranked in
            // the nearest ancestor that has it, which holds its memory.
            if let expected, victimCgroup != expected, victimCgroup.map(killer.memoryOwner) != expected {
                throw .refused(
                    "PID \(pid) is no longer in \(expected) (it exited, and its PID may belong to another process now)")
            }
            usageBefore = (try? ProcFS(path: killer.system.procPath).process(pid).sample())?.footprint
        }
        try loopAdd(timer.descriptor) { [unowned self] in self.timerFired() }
        startedAt = clock.now
        guard options.signal != SIGKILL else { return try sendKill() }
        switch target {
        case .cgroup(let memory):
            let first = try killer.signalCgroup(memory, signal: options.signal)
            rounds += first.rounds
            try wait(for: first.handles, stage: .grace, upTo: options.grace)
        case .process(let pid, _):
            guard let victim, try killer.send(options.signal, to: victim) else { throw .noSuchProcess(pid) }
            try wait(for: [pid: victim], stage: .grace, upTo: options.grace)
        }
    }

    /// Stops waiting; the completion is not called.
    public func cancel() {
        stage = .done
        detach()
    }

    // MARK: Stages

    private func sendKill() throws(KillError) {
        var handles: [Int32: ProcessHandle]
        switch target {
        case .cgroup(let memory):
            let pass = try killer.signalCgroup(memory, signal: SIGKILL)
            rounds += pass.rounds
            method = pass.method
            handles = pass.handles
        case .process(let pid, _):
            guard let victim else { throw .noSuchProcess(pid) }
            method = .pidfd
            rounds = 1
            if !victim.hasExited, try !killer.send(SIGKILL, to: victim), options.signal == SIGKILL {
                throw .noSuchProcess(pid)
            }
            handles = [pid: victim]
        }
        // Every victim is signalled before any memory is reaped: process_mrelease does the teardown in
        // this thread, so reaping one by one while signalling serialised what the dying processes do in
        // parallel (measured: 1.41x the shell loop's time against 1.14x). Now it only helps victims that
        // have not run their exit yet.
        released += handles.values.reduce(0) { $0 + ($1.releaseMemory() ? 1 : 0) }
        dyingDeadline = clock.now + options.timeout
        try wait(for: handles, stage: .dying, upTo: options.timeout)
    }

    /// Waits in the loop for these processes to exit, up to `limit`. When none is left to wait for, the
    /// timer fires at once: the stage still ends from the loop.
    private func wait(
        for handles: [Int32: ProcessHandle], stage: Stage, upTo limit: Duration
    ) throws(KillError) {
        self.stage = stage
        signalled.formUnion(handles.keys)
        pending = handles
        for (pid, handle) in handles {
            try loopAdd(handle.descriptor) { [unowned self] in self.exited(pid) }
        }
        timer.arm(after: pending.isEmpty ? .nanoseconds(1) : limit)
    }

    private func exited(_ pid: Int32) {
        guard let handle = pending.removeValue(forKey: pid) else { return }
        loop.remove(handle.descriptor)
        if pending.isEmpty { stageEnded() }
    }

    private func timerFired() {
        timer.acknowledge()
        switch stage {
        case .grace:
            if let escalateAfterGrace, !pending.isEmpty, !escalateAfterGrace() {
                // The condition ended within the grace: what outlived the first signal lives on.
                spared = pending.keys.sorted()
                stopWaiting()
                return complete(.success(report()))
            }
            stopWaiting()
            stageEnded()
        case .dying:
            guard !pending.isEmpty || isPastTimeout else { return stageEnded() }
            let survivors = pending.keys.sorted()
            complete(.failure(.survivors(survivors, after: options.timeout)))
        case .done:
            break
        }
    }

    private func stageEnded() {
        timer.disarm()
        switch stage {
        case .grace:
            do { try sendKill() } catch { complete(.failure(error)) }
        case .dying:
            if lookForStragglers() { return }
            complete(.success(report()))
        case .done:
            break
        }
    }

    /// After cgroup.kill, once the processes seen dying have exited: whether the subtree is still
    /// populated (a process forked while oomctl listed, or one it could not list), and if so, waits for
    /// what is left, up to the same timeout. True when it waits on.
    private func lookForStragglers() -> Bool {
        guard method == .cgroupKill, case .cgroup(let memory) = target, memory.cgroup.isPopulated else {
            return false
        }
        guard !isPastTimeout else {
            let left = pending.isEmpty ? ((try? killer.processIDs(below: memory)) ?? []) : pending.keys.sorted()
            complete(
                .failure(
                    left.isEmpty
                        ? .stillPopulated(memory.path, after: options.timeout)
                        : .survivors(left, after: options.timeout)))
            return true
        }
        killer.killAgain(memory)
        let fresh = killer.dyingProcesses(below: memory, excluding: signalled)
        released += fresh.values.reduce(0) { $0 + ($1.releaseMemory() ? 1 : 0) }
        signalled.formUnion(fresh.keys)
        pending = fresh
        for (pid, handle) in fresh {
            do {
                try loopAdd(handle.descriptor) { [unowned self] in self.exited(pid) }
            } catch {
                complete(.failure(error))
                return true
            }
        }
        // Nothing new to wait on (a process between its exit and leaving the cgroup): look again soon.
        timer.arm(after: fresh.isEmpty ? Self.stragglerRecheckInterval : remainingTimeout)
        return true
    }

    /// How soon a populated subtree with no process left to list is looked at again.
    static let stragglerRecheckInterval = Duration.milliseconds(5)

    /// When the SIGKILL stage's timeout ends.
    private var dyingDeadline: ContinuousClock.Instant?
    private var isPastTimeout: Bool { dyingDeadline.map { clock.now >= $0 } ?? false }
    private var remainingTimeout: Duration {
        dyingDeadline.map { max($0 - clock.now, .nanoseconds(1)) } ?? options.timeout
    }

    private func report() -> KillReport {
        let elapsed = clock.now - startedAt
        var report = basicReport(elapsed)
        report.spared = spared
        if !spared.isEmpty, case .process = target { report.usageAfter = nil }  // it lives: nothing is known freed
        return report
    }

    private func basicReport(_ elapsed: Duration) -> KillReport {
        switch target {
        case .cgroup(let memory):
            return KillReport(
                cgroup: memory.path, pid: nil, method: method, signalledPIDs: signalled.sorted(),
                tasksBefore: tasksBefore, rounds: rounds, memoryReleased: released, usageBefore: usageBefore,
                usageAfter: try? memory.usage(), elapsedMicroseconds: elapsed.totalNanoseconds / 1000, survivors: [])
        case .process(let pid, _):
            return KillReport(
                cgroup: victimCgroup, pid: pid, method: .pidfd, signalledPIDs: [pid], rounds: 1,
                memoryReleased: released, usageBefore: usageBefore, usageAfter: .zero,
                elapsedMicroseconds: elapsed.totalNanoseconds / 1000, survivors: [])
        }
    }

    private func complete(_ result: Result<KillReport, KillError>) {
        guard stage != .done else { return }
        stage = .done
        detach()
        completion(result)
    }

    // MARK: Loop registrations

    private func stopWaiting() {
        for handle in pending.values { loop.remove(handle.descriptor) }
        pending = [:]
    }

    private func detach() {
        stopWaiting()
        loop.remove(timer.descriptor)
    }

    private func loopAdd(_ descriptor: Int32, _ handler: @escaping () -> Void) throws(KillError) {
        do {
            try loop.add(descriptor) { _ in handler() }
        } catch {
            throw .system(error)
        }
    }
}
