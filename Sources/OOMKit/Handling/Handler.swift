import Glibc

/// One step of a handling, as it happens: what `watch` prints and journals.
public enum HandlingStep: Sendable {
    case detected(HandlingReport)
    case coalesced(cgroup: CgroupPath, event: OOMEvent.Kind, total: UInt64)
    case snapshotWritten(id: Int, cgroup: CgroupPath, path: String)
    case hookStarted(id: Int, cgroup: CgroupPath, command: String)
    case hookFinished(id: Int, cgroup: CgroupPath, result: HookResult)
    case decided(id: Int, cgroup: CgroupPath, decision: Decision)
    /// The victim's processes were sent the kill's first signal; `.killed` follows once they are gone.
    case victimSignalled(id: Int, cgroup: CgroupPath, pids: [Int32])
    case killed(id: Int, cgroup: CgroupPath, report: KillReport)
    /// The kernel OOM killer is re-enabled: at the deadline, `after` the delay, or at once (nil) when
    /// nothing more could come from userspace.
    case fellBack(id: Int, cgroup: CgroupPath, after: Duration?)
    /// The panic action: the snapshot is flushed; file systems are synced and the trigger written next.
    case panicking(id: Int, cgroup: CgroupPath, report: PanicReport)
    /// v1: the cgroup's reserve was granted (its limit raised by the reserve).
    case reserveGranted(id: Int, grant: ReserveGrant)
    /// v1: the grant was taken back (`problem` nil: the original limit is back).
    case reserveRestored(id: Int, grant: ReserveGrant, problem: String?)
    case failed(id: Int, cgroup: CgroupPath, message: String)
    /// `--hold freeze`: the cgroup was frozen while the snapshot and hooks run.
    case held(id: Int, cgroup: CgroupPath)
    /// The hold ended (`problem` nil: thawed).
    case released(id: Int, cgroup: CgroupPath, problem: String?)
    /// cgroup v2: a wake-up (`high`, `max`, `pressure`; `count` events folded) found the cgroup not in
    /// distress: nothing runs.
    case notInDistress(cgroup: CgroupPath, event: OOMEvent.Kind, count: UInt64, verdict: DistressVerdict)
    /// The cgroup was removed; it is no longer watched.
    case removed(cgroup: CgroupPath)
    /// v1: the kernel notified `cgroup` of an OOM that is not its own (it notifies every memcg below the
    /// one whose limit was hit): the OOM of `owner`, handled there when `handledThere` (one handling,
    /// the others' notifications folded into it); `owner` nil when neither the cgroup nor an ancestor is
    /// in OOM at a limit of its own (see ``OOMOwner``). Nothing is handled in `cgroup` itself.
    case notifiedOfOtherOOM(cgroup: CgroupPath, owner: CgroupPath?, handledThere: Bool)
    case finished(HandlingReport)

    /// What a ``fellBack(id:cgroup:after:)`` says: at the deadline, or at once (`after` nil: a kill
    /// that could not be made, no deadline that could be armed).
    public static func fallbackSummary(after: Duration?) -> String {
        guard let after else { return "nothing more oomctl can do: the kernel OOM killer is re-enabled at once" }
        return "not resolved after \(after.compactDescription): the kernel OOM killer is re-enabled"
    }
}

/// The OOM handling pipeline that `watch` runs for each event, driven by the event loop:
/// detect → reserve grant (v1) → snapshot → hooks → decide and act → post-kill hooks → deadline fallback
/// → restore the reserve → report.
///
/// Every cgroup's handling is its own state machine (``Handling``, whose ``Handling/Phase`` says where it
/// is): a hook that hangs, or a victim that cannot die quickly, delays only its own cgroup, never
/// another. Events for a cgroup already being handled (or handled less than
/// ``HandlingOptions/minimumInterval`` ago) are coalesced into a counter, not handled again — except a
/// v2 `oom-kill`: the kernel has killed something, which a handling of the `high` or `max` events that
/// led up to it (often read from the same memory.events change) must not swallow. It waits for the
/// running handling of its cgroup to finish and is then handled on its own, whatever the interval.
package final class Handler {
    /// How often a v1 OOM is looked at after its pipeline ran (a fallback, a reserve grant) until it ends.
    static let resolutionPollInterval = Duration.milliseconds(20)
    /// How long that looking lasts at most (1,500 × 20 ms = 30 s); then the killer is re-armed anyway.
    static let resolutionPollLimit = 1500
    /// v2: how often the verdict is looked at while a handling waits for it to clear.
    static let v2PollInterval = Duration.milliseconds(50)
    /// v2: how long after detection a handling waits at most for its verdict to clear.
    static let v2ResolutionLimit = Duration.seconds(10)
    /// How long a hook that exited 0 is given for its fix to show: a v1 cgroup stays under_oom until the
    /// woken task has run again after, say, the hook raised the limit (seen: the kill came first).
    static let hookSettleTime = Duration.milliseconds(50)
    /// How often a v1 OOM is looked at while it settles (``Handler/v1SettleTime``): after a hook, at the
    /// action, at the deadline, through a kill's grace.
    static let hookSettleInterval = Duration.milliseconds(5)
    /// How long a v1 OOM must stay over, with no new notification of it, before it counts as over: a
    /// stalled task that an uncharge in its cgroup wakes (another task's free, a deferred free) leaves
    /// under_oom at 0 while it retries its charge, and notifies again when the charge fails. Read once,
    /// such a look credited a hook that did nothing, or skipped a kill (6 of 20 trials here with a
    /// process freeing 4 KiB a millisecond beside the hog). Longer than the retry, a wait for a core
    /// under load included.
    static let v1SettleTime = Duration.milliseconds(50)

    private let system: CgroupSystem
    private let loop: EventLoop
    private let hooks: HookRunner
    private let options: HandlingOptions
    private let onStep: (HandlingStep) -> Void
    /// Re-arms the kernel killer disabling after a fallback resolved the OOM (v1).
    private let rearm: (MemoryCgroup) -> Void
    /// Reserve grants (nil: reserves are not granted).
    private let reserves: ReserveGrants?
    /// `--hold freeze` (nil: nothing is held).
    private let holds: FreezeHolds?
    private var active: [CgroupPath: Handling] = [:]
    private var lastFinished: [CgroupPath: ContinuousClock.Instant] = [:]
    private var coalescedSinceLast: [CgroupPath: UInt64] = [:]
    /// v2 oom-kill events that came while their cgroup was being handled; handled when it finishes.
    private var pendingKills: [CgroupPath: OOMEvent] = [:]
    /// When a handling of a memory.oom.group kill last finished, per cgroup: the kernel counts the
    /// unit's processes one by one as it kills them, so a plain oom-kill read just after is its tail.
    private var groupKillFinished: [CgroupPath: ContinuousClock.Instant] = [:]
    /// How long after a group kill's handling a plain oom-kill is taken for the rest of it; also how
    /// long a group kill's handling waits at most for the kernel to finish counting the unit's kills.
    static let groupKillTail = Duration.seconds(1)
    /// A group kill is over once the unit is empty and no kill was counted for this long: more than the
    /// kernel's 10 ms between two notifications of one cgroup file, plus a turn of the loop.
    static let groupKillSettle = Duration.milliseconds(60)
    private var nextID = 1
    private let clock = ContinuousClock()
    private var cancelled = false
    /// cgroup v2: turns wake-ups into handlings only on distress.
    fileprivate let gate: DistressGate
    /// cgroup v2: wake-ups that found their cgroup not in distress.
    package private(set) var wakeUpsNotInDistress: UInt64 = 0
    /// Descriptors kept for the deadline and the hand-back at the descriptor limit.
    fileprivate let descriptors = DescriptorReserve()
    /// Whether this handler handles OOMs of a cgroup (the watch watches it): a v1 notification of an
    /// ancestor's OOM goes to that ancestor only then (``OOMOwner``), else nothing is done. None when not
    /// set: an ancestor's OOM is never handled by a handler that was not told it may.
    package var handlesOOMs: (CgroupPath) -> Bool = { _ in false }
    /// Told when a v1 handling begins, so that its own deadline covers a watch stuck from then on.
    fileprivate let guardian: GuardianClient?

    package init(
        system: CgroupSystem, loop: EventLoop, options: HandlingOptions, reserves: ReserveGrants? = nil,
        holds: FreezeHolds? = nil, guardian: GuardianClient? = nil, rearm: @escaping (MemoryCgroup) -> Void,
        onStep: @escaping (HandlingStep) -> Void
    ) {
        self.reserves = reserves
        self.holds = holds
        self.system = system
        self.loop = loop
        self.hooks = HookRunner(loop: loop, guardian: guardian)
        self.guardian = guardian
        self.options = options
        self.rearm = rearm
        self.onStep = onStep
        gate = DistressGate(system: system, loop: loop, thresholds: options.distress, window: options.distressWindow)
    }

    /// Handlings in progress.
    package var activeCount: Int { active.count }

    /// Shutdown: kills running hooks, stops waiting for victims, deadlines and re-checks, and handles
    /// nothing from now on. What the handlings changed is the caller's to restore.
    package func cancelAll() {
        cancelled = true
        hooks.killAll()
        for handling in active.values { handling.abandon() }
        holds?.thawAll()
        active = [:]
        pendingKills = [:]
        gate.cancelAll()
    }

    /// Starts handling an event, or coalesces it into the one in progress.
    package func handle(_ event: OOMEvent) {
        guard !cancelled else { return }
        var ownLimit = true
        var memory: MemoryCgroup?
        if event.kind == .oom {
            // v1: the OOM is handled where a limit was hit, once (see OOMOwner).
            do throws(CgroupError) {
                let opened: MemoryCgroup
                if let watched = event.memory { opened = watched } else { opened = try open(event.cgroup) }
                memory = opened
                if opened.version == .v1 {
                    let lineage = OOMOwner.lineage(of: opened, in: system)
                    // Its own files unreadable (at the descriptor limit, say): handled here, where the
                    // deadline hands it back to the kernel, never dropped.
                    switch lineage.isEmpty ? .itself(atLimit: true) : OOMOwner.find(lineage) {
                    case .itself(let atLimit):
                        ownLimit = atLimit
                    case .ancestor(let owner):
                        let handled = handlesOOMs(owner)
                        onStep(.notifiedOfOtherOOM(cgroup: event.cgroup, owner: owner, handledThere: handled))
                        if handled {
                            var routed = event
                            routed.cgroup = owner
                            routed.memory = nil  // the watcher's handle is the notified cgroup's
                            handle(routed, memory: nil, ownLimit: true)
                        }
                        return
                    case .none:
                        onStep(.notifiedOfOtherOOM(cgroup: event.cgroup, owner: nil, handledThere: false))
                        return
                    }
                }
            } catch {
                onStep(.failed(id: 0, cgroup: event.cgroup, message: error.description))
                return
            }
        }
        handle(event, memory: memory, ownLimit: ownLimit)
    }

    /// Opens a cgroup, giving up a spare descriptor at the descriptor limit.
    private func open(_ path: CgroupPath) throws(CgroupError) -> MemoryCgroup {
        try descriptors.retrying(
            { () throws(CgroupError) in try MemoryCgroup.open(path, in: system) },
            isShortage: DescriptorReserve.isShortage)
    }

    /// ``handle(_:)`` once the cgroup an OOM belongs to is known: `ownLimit` false for a v1 cgroup not at
    /// its own limit (its handling never falls back to killing it).
    private func handle(_ event: OOMEvent, memory opened: MemoryCgroup?, ownLimit: Bool) {
        if event.kind == .removed {
            gate.cancel(event.cgroup)
            pendingKills[event.cgroup] = nil
            groupKillFinished[event.cgroup] = nil
            active[event.cgroup]?.cgroupRemoved()
            lastFinished[event.cgroup] = nil
            coalescedSinceLast[event.cgroup] = nil
            onStep(.removed(cgroup: event.cgroup))
            return
        }
        if event.kind == .oomKill, event.groupKills == 0, let finished = groupKillFinished[event.cgroup],
            event.detectedAt - finished < Self.groupKillTail, active[event.cgroup] == nil
        {
            onStep(.coalesced(cgroup: event.cgroup, event: event.kind, total: event.count))
            return
        }
        if let running = active[event.cgroup], event.kind == .oomKill, running.report.groupKills > 0,
            event.groupKills == 0
        {
            // The rest of a group kill the handling already reports (the kernel counts each process of
            // the unit as it kills it, and memory.events may be read in between): part of it, not another.
            running.groupKillCounted(event.count)
            return
        }
        if active[event.cgroup] != nil && event.kind == .oomKill {
            var pending =
                pendingKills[event.cgroup]
                ?? OOMEvent(kind: .oomKill, cgroup: event.cgroup, count: 0, detectedAt: event.detectedAt)
            pending.count += event.count
            pending.groupKills += event.groupKills
            pendingKills[event.cgroup] = pending
            return
        }
        if let running = active[event.cgroup] {
            running.report.coalesced += event.count
            onStep(.coalesced(cgroup: event.cgroup, event: event.kind, total: running.report.coalesced))
            if event.kind == .oom { running.notifiedAgain() }
            return
        }
        if gate.isConfirming(event.cgroup) && event.kind != .oomKill {
            onStep(.coalesced(cgroup: event.cgroup, event: event.kind, total: gate.fold(event)))
            return
        }
        if let last = lastFinished[event.cgroup], event.detectedAt - last < options.minimumInterval,
            event.kind != .oom, event.kind != .oomKill
        {
            let total = (coalescedSinceLast[event.cgroup] ?? 0) + event.count
            coalescedSinceLast[event.cgroup] = total
            onStep(.coalesced(cgroup: event.cgroup, event: event.kind, total: total))
            return
        }
        let memory: MemoryCgroup
        if let opened {
            memory = opened
        } else if let watched = event.memory {
            memory = watched
        } else {
            do throws(CgroupError) {
                memory = try open(event.cgroup)
            } catch {
                onStep(.failed(id: 0, cgroup: event.cgroup, message: error.description))
                return
            }
        }
        if options.confirmsDistress && DistressGate.gates(event, in: memory) {
            do {
                try gate.confirm(event, in: memory) { [unowned self] event, memory, verdict in
                    self.verdictReached(event, memory: memory, verdict: verdict)
                }
            } catch {
                onStep(.failed(id: 0, cgroup: event.cgroup, message: "distress: \(error.description)"))
            }
            return
        }
        start(event, memory: memory, distress: nil, ownLimit: ownLimit)
    }

    /// A wake-up's verdict: a handling when in distress, a counted `notInDistress` step otherwise.
    private func verdictReached(_ event: OOMEvent, memory: MemoryCgroup, verdict: DistressVerdict) {
        guard !cancelled else { return }
        guard verdict.inDistress else {
            wakeUpsNotInDistress += 1
            onStep(.notInDistress(cgroup: event.cgroup, event: event.kind, count: event.count, verdict: verdict))
            return
        }
        if let running = active[event.cgroup] {  // an oom-kill started one meanwhile
            running.report.coalesced += event.count
            return
        }
        start(event, memory: memory, distress: verdict)
    }

    private func start(_ event: OOMEvent, memory: MemoryCgroup, distress: DistressVerdict?, ownLimit: Bool = true) {
        let handling = Handling(
            id: nextID, event: event, memory: memory, handler: self,
            coalescedBefore: coalescedSinceLast[event.cgroup] ?? 0, ownLimit: ownLimit)
        handling.report.distress = distress
        coalescedSinceLast[event.cgroup] = nil
        nextID += 1
        active[event.cgroup] = handling
        handling.begin()
    }

    fileprivate func finished(_ handling: Handling) {
        descriptors.replenish()
        active[handling.report.cgroup] = nil
        lastFinished[handling.report.cgroup] = clock.now
        if handling.report.groupKills > 0 { groupKillFinished[handling.report.cgroup] = clock.now }
        onStep(.finished(handling.report))
        if let pending = pendingKills.removeValue(forKey: handling.report.cgroup) { handle(pending) }
    }

    /// The handling of one event: a state machine driven by the loop. The pipeline below reads top to
    /// bottom in the order it runs; each step records facts (``HandlingFacts``), and the outcome is
    /// derived from them once, in ``finish()``.
    fileprivate final class Handling {
        /// Where a handling is.
        enum Phase: Equatable {
            /// Running the hooks before the action; the next one to start.
            case hooks(next: Int)
            /// Deciding, and waiting for the victim to die (the kill runs in the loop).
            case acting
            /// Running the post-kill hooks; the next one to start.
            case postKillHooks(next: Int)
            /// v1: the pipeline has run, the OOM is not over yet; waiting for it to end or for the
            /// deadline's fallback.
            case awaitingResolution
            case finished
        }

        let event: OOMEvent
        let memory: MemoryCgroup
        /// v1: false when the cgroup was not at its own limit when notified (``OOMOwner``): no fallback
        /// to killing it.
        let ownLimit: Bool
        unowned let handler: Handler
        var report: HandlingReport
        private(set) var phase = Phase.hooks(next: 0)
        private var facts = HandlingFacts()
        private var deadline: DeadlineTimer?
        /// v1: memory.oom_control, open from the start: the resolution checks and the hand-back need no
        /// new descriptor (at the descriptor limit) and no path.
        private var oomControl: OOMControlFile?
        private var recheck: DeadlineTimer?
        private var resolutionChecks = 0
        /// Looks at the condition until it has settled (``awaitSettling(patience:_:)``).
        private var settle: DeadlineTimer?
        /// v1: when the deadline passed, if it has (nil: not yet). From then on the OOM is not the
        /// handling's to hold: notified again, or found on when the pipeline has run, it goes to the
        /// kernel at once.
        private var deadlinePassedAt: ContinuousClock.Instant?
        /// The OOM outlasted the looking after a fallback: the kernel killer is not disabled again.
        private var keepsKernelKiller = false
        /// The kill in flight (in ``Phase/acting``).
        private var kill: KillOperation?
        /// The reserve this handling granted (v1), taken back when it finishes.
        private var grant: ReserveGrant?
        /// Ends a `--hold freeze` at `--delay`.
        private var holdLimit: DeadlineTimer?
        /// v2: the last sample of the cgroup, from which the next verdict's rates are taken.
        private var lastSample: MemorySample?
        /// Since when the condition has been over, as looked at (nil: not over at the last look; v1: or
        /// notified again since).
        private var clearSince: ContinuousClock.Instant?
        /// When ``look()`` last looked.
        private var lastLookAt: ContinuousClock.Instant?
        /// v2 memory.oom.group kill: when the kernel's count of its kills last grew (as read by watch).
        private var lastKillCounted: ContinuousClock.Instant

        init(
            id: Int, event: OOMEvent, memory: MemoryCgroup, handler: Handler, coalescedBefore: UInt64, ownLimit: Bool
        ) {
            self.event = event
            self.memory = memory
            self.ownLimit = ownLimit
            self.handler = handler
            report = HandlingReport(id: id, cgroup: event.cgroup, event: event.kind, count: event.count)
            report.groupKills = event.groupKills
            report.coalesced = coalescedBefore
            lastKillCounted = event.detectedAt
            facts.kernelWaits = isV1OOM
        }

        private var options: HandlingOptions { handler.options }
        /// A v1 OOM: the kernel waits for userspace (its killer is disabled), so a deadline applies.
        private var isV1OOM: Bool { memory.version == .v1 && event.kind == .oom }
        /// After an oom-kill the kernel has already resolved the OOM: nothing userspace does resolves it.
        private var kernelActed: Bool { event.kind == .oomKill }
        /// A v2 handling started by a distress verdict: it is over when the verdict has stayed clear for
        /// the settle time.
        private var isV2Distress: Bool { report.distress != nil }
        /// Whether this handling holds the cgroup frozen now.
        private var heldNow: Bool { report.held && (handler.holds?.held.contains(memory.path) ?? false) }

        // MARK: 1. Detect

        func begin() {
            // First, before any output that could block: the guardian's deadline and watch's own start
            // together, so that a slow output cannot make the guardian act before a healthy watch does.
            if isV1OOM && !options.dryRun { handler.guardian?.handlingBegins(KernelKillerControl.controlPath(memory)) }
            if isV1OOM {
                oomControl = try? handler.descriptors.retrying(
                    { () throws(CgroupError) in try OOMControlFile(memory) }, isShortage: DescriptorReserve.isShortage)
            }
            if isV1OOM && !options.dryRun { armDeadline() }
            report.usage = try? memory.usage()
            report.limit = try? memory.limit()
            if isV2Distress { lastSample = try? handler.gate.sample(memory) }
            handler.onStep(.detected(report))
            grantReserve()
            hold()
            writeSnapshot()
            runNextHook()
        }

        // MARK: 2. Reserve

        /// Lets the cgroup overdraw its reserve while the OOM is handled: v1 limit + reserve; v2 (on
        /// distress) memory.high up to memory.max, so throttled tasks run while snapshot and hooks work.
        private func grantReserve() {
            guard isV1OOM || isV2Distress, !options.dryRun, let reserves = handler.reserves else { return }
            // Unprivileged on a cgroup whose limit file is not ours (a delegation point whose reserve root
            // set): a grant we could not take back is not taken; watch said so at start.
            let limitFile = memory.version == .v2 ? "memory.high" : "memory.limit_in_bytes"
            guard Delegation.mayWrite(limitFile, in: memory.cgroup) else { return }
            do {
                guard let granted = try reserves.grant(memory) else { return }
                grant = granted
                report.reserve = granted.bytes
                handler.onStep(.reserveGranted(id: report.id, grant: granted))
            } catch {
                fail("reserve: \(error.description)")
            }
        }

        /// `--hold freeze`: nothing in the cgroup allocates while the snapshot and hooks run.
        private func hold() {
            guard options.hold == .freeze, isV2Distress, !options.dryRun, let holds = handler.holds else { return }
            // Unprivileged on a delegation point: its cgroup.freeze is not ours to write (nor, so, to thaw);
            // watch said so at start, and nothing is taken that could not be given back.
            guard Delegation.mayWrite("cgroup.freeze", in: memory.cgroup) else { return }
            do {
                guard try holds.freeze(memory.cgroup) else { return }  // frozen by someone else already
                report.held = true
                handler.onStep(.held(id: report.id, cgroup: report.cgroup))
            } catch {
                return fail("hold: \(error.description)")
            }
            // The hold lasts --delay at most, whatever the hooks do.
            guard let timer = try? DeadlineTimer() else { return }
            holdLimit = timer
            try? handler.loop.add(timer.descriptor) { [self] _ in
                timer.acknowledge()
                release()
            }
            timer.arm(after: options.delay)
        }

        /// Ends the hold, if there is one.
        private func release() {
            if let holdLimit { handler.loop.remove(holdLimit.descriptor) }
            holdLimit = nil
            guard report.held, let holds = handler.holds, holds.held.contains(memory.path) else { return }
            let problem = holds.thaw(memory.path)
            handler.onStep(.released(id: report.id, cgroup: report.cgroup, problem: problem))
        }

        // MARK: 3. Snapshot

        private func writeSnapshot() {
            guard let directory = options.snapshotDirectory else { return }
            do {
                let snapshot = try SnapshotCollector(system: handler.system)
                    .collect(root: memory.path, options: SnapshotOptions(topProcesses: 20))
                let name = "oomctl-\(report.id)-\(Self.fileSafe(memory.path))-\(snapshot.takenAt).json"
                let path = directory + "/" + name
                try AtomicFile.write(snapshot.jsonBytes(), to: path)
                report.snapshotPath = path
                handler.onStep(.snapshotWritten(id: report.id, cgroup: report.cgroup, path: path))
            } catch let error as any OOMKitError {
                fail("snapshot: \(error.description)")
            } catch {
                fail("snapshot: \(error)")
            }
        }

        // MARK: 4. Hooks (and, after a kill, the post-kill hooks)

        /// Starts the next hook of the current phase, or moves on when there is none left.
        private func runNextHook() {
            let commands: [String]
            let index: Int
            switch phase {
            case .hooks(let next): (commands, index) = (options.hooks, next)
            case .postKillHooks(let next): (commands, index) = (options.postKillHooks, next)
            case .acting, .awaitingResolution, .finished: return
            }
            guard index < commands.count else {
                if case .hooks = phase { return act() }
                return pipelineDone()
            }
            let command = commands[index]
            let post = phase == .postKillHooks(next: index)
            phase = post ? .postKillHooks(next: index + 1) : .hooks(next: index + 1)
            let context = HookContext(event: event.kind, memory: memory, report: report, dryRun: options.dryRun)
            do {
                // Said once it runs: nothing but its environment stands between the event and the hook.
                try handler.hooks.start(
                    command, environment: context.environment, input: { context.input }, timeout: options.hookTimeout,
                    detectedAt: event.detectedAt
                ) { [self] result in hookFinished(result, post: post) }
                handler.onStep(.hookStarted(id: report.id, cgroup: report.cgroup, command: command))
            } catch {
                fail("hook '\(command)': \(error.description)")
                runNextHook()
            }
        }

        private func hookFinished(_ result: HookResult, post: Bool) {
            guard phase != .finished else { return }
            if post { report.postKillHooks.append(result) } else { report.hooks.append(result) }
            handler.onStep(.hookFinished(id: report.id, cgroup: report.cgroup, result: result))
            // A hook that exits 0 and leaves the OOM resolved ends the handling: nothing is killed. Once
            // the deadline handed the OOM to the kernel, what ends it is the kernel's doing, not the hook's.
            if !post && result.succeeded && !kernelActed && !facts.fellBack { return awaitHookResolution() }
            runNextHook()
        }

        /// After a hook exited 0: a fix that shows within ``Handler/hookSettleTime`` (v1: the woken task
        /// lags behind a fix such as a raised limit) and then settles (v1: stays for
        /// ``Handler/v1SettleTime``; v2 distress: for `--settle`) ends the handling; otherwise the next
        /// hook runs. v2 distress: a fix that does not show at the first look is none.
        private func awaitHookResolution() {
            awaitSettling(patience: isV2Distress ? .zero : Handler.hookSettleTime) { [self] settled in
                guard settled else { return runNextHook() }
                facts.resolvedByHook = true
                pipelineDone()
            }
        }

        private func stopSettling() {
            if let settle { handler.loop.remove(settle.descriptor) }
            settle = nil
        }

        // MARK: 5. Decide and act

        private func act() {
            phase = .acting
            guard !kernelActed, isResolved() else { return takeAction() }
            guard isV1OOM else {
                facts.action = .alreadyResolved
                return pipelineDone()
            }
            // Found over once: over for good only if it stays so (``Handler/v1SettleTime``).
            awaitSettling(patience: .zero) { [self] settled in
                guard phase == .acting else { return }
                guard settled else { return takeAction() }
                facts.action = .alreadyResolved
                pipelineDone()
            }
        }

        /// The action: a panic, a kill by the policy, or nothing.
        private func takeAction() {
            if case .panic(let panic) = options.action, !kernelActed { return takeTheMachineDown(panic) }
            guard case .kill(let policy) = options.action, !kernelActed else {
                facts.action = .nothingToDo
                return pipelineDone()
            }
            guard let decision = decide(policy) else {
                facts.action = .failed
                handBackUnmadeKill()
                return pipelineDone()
            }
            report.decision = decision
            handler.onStep(.decided(id: report.id, cgroup: report.cgroup, decision: decision))
            if options.dryRun {
                facts.action = .decidedOnly
                return pipelineDone()
            }
            guard let victim = decision.victim else {
                facts.action = .failed
                handBackUnmadeKill()
                return pipelineDone()
            }
            release()  // thawed before the kill: a frozen v1 task could not even die
            do throws(KillError) {
                let target: Killer.Target
                switch victim.target {
                case .cgroup(let path):
                    do { target = .cgroup(try openInSubtree(path)) } catch { throw .cgroup(error) }
                case .process(let pid, _, let cgroup):
                    // Where the victim is now, by the same directory: a rename since the decision is no
                    // reason to refuse the kill (a PID used again by another cgroup's process still is).
                    let now = (try? openInSubtree(cgroup))?.cgroup.currentPath
                    target = .process(pid, expectedCgroup: now ?? cgroup)
                }
                // A graceful kill (--signal TERM --grace 2s): SIGKILL after the grace only if the OOM (or
                // the distress) lasts.
                let operation = try Killer(system: handler.system).start(
                    target, options: options.kill, in: handler.loop,
                    escalateAfterGrace: { [unowned self] in isV1OOM ? look() != .settled : !isResolved() }
                ) { [self] result in victimKilled(result, target: victim.target) }
                kill = operation
                if options.kill.signal != SIGKILL { lookThroughGrace() }
                // Said now, before the loop can see a victim exit: whoever watches the victims (a sandbox
                // run) learns who killed them before they are gone.
                handler.onStep(.victimSignalled(id: report.id, cgroup: report.cgroup, pids: operation.signalledPIDs))
                // v2: the reserve was for the snapshot and hooks; a victim that ignores a graceful first
                // signal must not run on to memory.max on it (the kernel would kill first). After the
                // signal: the memory.high write reclaims inside the kernel, in this thread.
                if memory.version == .v2 { restoreReserve() }
            } catch {
                fail("kill \(victim.target): \(error.description)")
                facts.action = .failed
                handBackUnmadeKill()
                startPostKillHooks()
            }
        }

        /// A cgroup of this handling's subtree (a victim), opened down from the handling's own directory so
        /// that a rename since watch opened it does not matter; any other by its path.
        private func openInSubtree(_ path: CgroupPath) throws(CgroupError) -> MemoryCgroup {
            guard path.isDescendant(of: memory.path) || path == memory.path else {
                return try MemoryCgroup.open(path, in: handler.system)
            }
            var current = memory
            for name in path.components.dropFirst(memory.path.components.count) {
                current = try MemoryCgroup(current.cgroup.child(named: name))
            }
            return current
        }

        /// The kill asked for cannot be made (no victim, a failed decision, a refused signal): nothing more
        /// will come from userspace, so a v1 OOM goes to the kernel now, before any post-kill hook, rather
        /// than at the deadline.
        private func handBackUnmadeKill() {
            if isV1OOM && !options.dryRun { fallBack(after: nil) }
        }

        /// The panic action; its steps are in PanicAction.swift.
        private func takeTheMachineDown(_ panic: PanicOptions) {
            let result = PanicStep.run(
                panic, snapshot: report.snapshotPath, event: event.kind, dryRun: options.dryRun,
                announce: { [self] in
                    report.panic = $0
                    handler.onStep(.panicking(id: report.id, cgroup: report.cgroup, report: $0))
                }, warn: { [self] in fail($0) })
            if case .failed(let message) = result { fail(message) }
            facts.action = result.factsAction
            pipelineDone()
        }

        /// The policy's victim below the cgroup; when the cgroup has nothing below it to choose from,
        /// the cgroup itself (or, for process victims, its largest process), if it hit its own limit.
        private func decide(_ policy: PolicyOptions) -> Decision? {
            var policy = policy
            policy.triggering = memory.path
            policy.overlimit.formUnion(handler.reserves?.grantedCgroups ?? [])
            // The limit the victim must get the cgroup under is the one the OOM hit, not the reserve's
            // (v1 memory.limit_in_bytes, v2 memory.high); v2 without a grant: memory.high when set.
            if let grant {
                policy.resolutionLimit = grant.originalLimit
            } else if memory.version == .v2, let high = (try? memory.high()) ?? nil, !high.isUnlimited {
                policy.resolutionLimit = high
            }
            do {
                return try PolicyEngine.decideLive(
                    under: memory, in: handler.system, options: policy,
                    fallBackToTriggering: options.killTriggeringWhenNoCandidates && ownLimit)
            } catch {
                let note =
                    ownLimit || !options.killTriggeringWhenNoCandidates
                    ? ""
                    : "; \(memory.path.description.visibleControlCharacters) was not at a limit of its own when "
                        + "notified, so it is not killed itself (the kernel gets the OOM)"
                fail("decide: \(error.description)\(note)")
                return nil
            }
        }

        /// v1, a graceful kill: the OOM is looked at through the grace, so that the escalation judges it by
        /// whether it has settled, not by one look at its end (a look in a woken task's retry would spare a
        /// victim that ignores the first signal, and the kill would end as a success over a live OOM).
        private func lookThroughGrace() {
            guard isV1OOM, settle == nil, let timer = try? DeadlineTimer() else { return }
            settle = timer
            do {
                try handler.loop.add(timer.descriptor) { [self] _ in
                    timer.acknowledge()
                    guard phase == .acting, kill != nil else { return stopSettling() }
                    _ = look()
                    timer.arm(after: Handler.hookSettleInterval)
                }
            } catch {
                settle = nil
                return
            }
            timer.arm(after: Handler.hookSettleInterval)
        }

        /// The kill's completion, from the loop: every victim exited, or the timeout passed.
        private func victimKilled(_ result: Result<KillReport, KillError>, target: Candidate.Target) {
            kill = nil
            stopSettling()
            guard phase == .acting else { return }
            switch result {
            case .success(let killed):
                report.kill = killed
                facts.action = .killed
                handler.onStep(.killed(id: report.id, cgroup: report.cgroup, report: killed))
            case .failure(let error):
                fail("kill \(target): \(error.description)")
                facts.action = .failed
                switch error {
                // Signalled, still dying (D state, a slow exit): the kernel's killer now could take a second
                // victim; the deadline stays.
                case .survivors, .stillPopulated: break
                default: handBackUnmadeKill()
                }
            }
            startPostKillHooks()
        }

        /// Stops waiting for a victim.
        func cancelKill() {
            kill?.cancel()
            kill = nil
        }

        /// Shutdown: nothing of this handling runs any more, and nothing is reported.
        func abandon() {
            phase = .finished
            if let holdLimit { handler.loop.remove(holdLimit.descriptor) }
            cancelKill()
            stopSettling()
            stopRechecking()
            if let deadline { handler.loop.remove(deadline.descriptor) }
        }

        private func startPostKillHooks() {
            phase = .postKillHooks(next: 0)
            runNextHook()
        }

        // MARK: 6. Fallback (v1)

        /// The steps have run; a v1 OOM that is not yet resolved waits for the deadline's fallback (past
        /// the deadline: falls back now). When the kernel killer is back (a fallback) or a granted reserve
        /// lets the stalled tasks run on, the OOM can end before the deadline: it is looked for every
        /// 20 ms, so the grant goes back and the handling ends once it has settled. Found over without a
        /// kill of watch's own, it must stay so (``Handler/v1SettleTime``) before the handling ends.
        private func pipelineDone() {
            guard phase != .finished else { return }
            if isV1OOM && !options.dryRun {
                guard isResolved() else { return awaitResolution() }
                // Over after a kill, or confirmed over already: done. Otherwise it must stay so.
                if facts.action != .killed && facts.action != .alreadyResolved && !facts.resolvedByHook {
                    phase = .awaitingResolution
                    return awaitSettling(patience: .zero) { [self] settled in settled ? finish() : awaitResolution() }
                }
            }
            if kernelActed && report.groupKills > 0 && memory.cgroup.isAlive {
                // The kernel may still be killing (and counting) the unit: the report waits for its end.
                phase = .awaitingResolution
                return awaitGroupKillEnd()
            }
            if isV2Distress && facts.action == .killed && memory.cgroup.isAlive {
                // After a kill: over when the verdict has stayed clear for the settle time, not at the
                // first clear look (wake-ups meanwhile are folded into this handling).
                phase = .awaitingResolution
                clearSince = nil
                return watchForResolution()
            }
            finish()
        }

        /// v1: the OOM outlasted the pipeline. It ends by itself (a granted reserve), by the kernel (after
        /// the fallback), or at the deadline; past the deadline, it goes to the kernel now.
        private func awaitResolution() {
            phase = .awaitingResolution
            if deadlinePassedAt != nil && !facts.fellBack { return fallBack(after: options.delay) }
            if facts.fellBack || grant != nil { watchForResolution() }
        }

        /// Arms the deadline that hands a v1 OOM back to the kernel. Nothing may skip it: at the descriptor
        /// limit a spare descriptor is given up for it, and when no deadline can be armed at all the OOM
        /// goes back to the kernel at once.
        private func armDeadline() {
            let timer: DeadlineTimer
            do {
                timer = try handler.descriptors.retrying(
                    { () throws(SystemCallError) in try DeadlineTimer() },
                    isShortage: { DescriptorReserve.isShortage($0.code) })
                try handler.loop.add(timer.descriptor) { [self] _ in
                    timer.acknowledge()
                    deadlinePassed()
                }
            } catch {
                fail("deadline: \(error.description); the kernel OOM killer takes this OOM now")
                return fallBack(after: nil)
            }
            deadline = timer
            timer.arm(after: options.delay)
        }

        /// The deadline passed: unless the OOM is over, hand it to the kernel killer. This can come in any
        /// phase (a hook or a victim still running): the deadline does not wait for userspace. Found over,
        /// it is looked at again until it has settled (a task woken to retry its charge reads as over),
        /// and handed back unless it does.
        private func deadlinePassed() {
            guard phase != .finished, !facts.fellBack else { return }
            let now = handler.clock.now
            if deadlinePassedAt == nil { deadlinePassedAt = now }
            switch look() {
            case .settled:
                // It went away before the deadline (a granted reserve let the tasks finish).
                if phase == .awaitingResolution { finish() }
            case .clearing where now - (deadlinePassedAt ?? now) < Handler.v1SettleTime * 2:
                deadline?.arm(after: Handler.hookSettleInterval)
            case .clearing, .ongoing:
                fallBack(after: options.delay)
            }
        }

        /// Hands the OOM to the kernel killer: `after` the delay at the deadline, or at once (nil) when
        /// nothing more comes from userspace (no deadline could be armed, a kill could not be made).
        private func fallBack(after: Duration?) {
            guard phase != .finished, !facts.fellBack, isV1OOM else { return }
            do {
                if let oomControl {
                    try oomControl.setKillDisabled(false)
                } else {
                    try handler.descriptors.retrying(
                        { () throws(CgroupError) in try memory.setOOMKillDisabled(false) },
                        isShortage: DescriptorReserve.isShortage)
                }
                facts.fellBack = true
                report.fellBack = true
                handler.onStep(.fellBack(id: report.id, cgroup: report.cgroup, after: after))
            } catch {
                fail("fallback: \(error.description)")
            }
            watchForResolution()
        }

        /// v1: the kernel notified this OOM again while it is being handled (folded into it). It is not
        /// over, whatever a look found meanwhile; past the deadline, it goes to the kernel now.
        func notifiedAgain() {
            guard isV1OOM, phase != .finished else { return }
            clearSince = nil
            if deadlinePassedAt != nil && !options.dryRun { fallBack(after: options.delay) }
        }

        /// After a fallback or a reserve grant: look every 20 ms (only while this OOM lasts) until it is
        /// resolved. The handling ends then if its pipeline has run; otherwise the looking just stops, and
        /// the pipeline's end looks again if it finds the OOM back. The killer is re-armed in ``finish()``.
        private func watchForResolution() {
            guard recheck == nil else { return }
            guard let timer = try? DeadlineTimer() else {
                // No timer, no looking: a v2 handling ends now rather than wait for ever, and so does a v1
                // one the kernel has taken (v1 before the fallback has its deadline). The kernel killer
                // then stays enabled: disabled again while the OOM may last, it would leave it hanging.
                if facts.fellBack { keepsKernelKiller = true }
                if (isV2Distress || facts.fellBack) && phase == .awaitingResolution { finish() }
                return
            }
            recheck = timer
            try? handler.loop.add(timer.descriptor) { [self] _ in
                timer.acknowledge()
                resolutionChecks += 1
                if look() == .settled || !memory.cgroup.isAlive {
                    stopRechecking()
                    if phase == .awaitingResolution { finish() }
                } else if isV2Distress && handler.clock.now - event.detectedAt > Handler.v2ResolutionLimit {
                    // Still in distress after the pipeline: this handling ends (its outcome stands), and
                    // the next wake-up's verdict starts another.
                    stopRechecking()
                    if phase == .awaitingResolution { finish() }
                } else if resolutionChecks > Handler.resolutionPollLimit {
                    // Still out of memory long after the kernel killer came back: leave it to the kernel
                    // rather than disable it again over stalled tasks.
                    stopRechecking()
                    keepsKernelKiller = true
                    fail(
                        "still out of memory \((Handler.resolutionPollInterval * Handler.resolutionPollLimit).compactDescription) after the fallback; the kernel OOM killer stays enabled for this cgroup"
                    )
                    if phase == .awaitingResolution { finish() }
                } else {
                    timer.arm(after: pollInterval)
                }
            }
            timer.arm(after: pollInterval)
        }

        /// More of this handling's memory.oom.group kill, counted by the kernel after the first read.
        func groupKillCounted(_ kills: UInt64) {
            report.count += kills
            lastKillCounted = handler.clock.now
        }

        /// A kernel group kill counts each process of the unit as it kills it (the first victim twice when
        /// its memory was not freed yet), and watch may read memory.events in between: the handling ends
        /// once the unit is empty and the count has stopped growing, or after ``Handler/groupKillTail``,
        /// so that its report gives the whole kill, not the part read first.
        private func awaitGroupKillEnd() {
            guard recheck == nil else { return }
            guard let timer = try? DeadlineTimer() else { return finish() }
            recheck = timer
            do {
                try handler.loop.add(timer.descriptor) { [self] _ in
                    timer.acknowledge()
                    let now = handler.clock.now
                    if !memory.cgroup.isAlive || now - event.detectedAt >= Handler.groupKillTail
                        || (!memory.cgroup.isPopulated && now - lastKillCounted >= Handler.groupKillSettle)
                    {
                        stopRechecking()
                        finish()
                    } else {
                        timer.arm(after: Handler.resolutionPollInterval)
                    }
                }
            } catch {
                recheck = nil
                return finish()
            }
            timer.arm(after: Handler.resolutionPollInterval)
        }

        /// How often a condition is looked at: v1 cgroup files are cheap; a v2 verdict reads memory.stat.
        private var pollInterval: Duration {
            isV2Distress ? Handler.v2PollInterval : Handler.resolutionPollInterval
        }

        /// What one look at the condition finds.
        enum Condition: Equatable {
            /// Not over.
            case ongoing
            /// Over, but not yet for the settle time.
            case clearing
            /// Over for the settle time: over for good.
            case settled
        }

        /// How long the condition must stay over to be over for good: v2 distress `--settle`, v1
        /// ``Handler/v1SettleTime``; nil (the first look that finds it over) otherwise.
        private var settleTime: Duration? {
            if isV2Distress { return options.settleTime }
            return isV1OOM ? Handler.v1SettleTime : nil
        }

        /// Looks at the condition once (``isResolved()``) and says how long it has been over. v1: a stretch
        /// of over counts only while it is looked at (no gap above half the settle time) and not notified
        /// again (``notifiedAgain()``).
        private func look() -> Condition {
            let now = handler.clock.now
            if isV1OOM, let last = lastLookAt, now - last > Handler.v1SettleTime / 2 { clearSince = nil }
            lastLookAt = now
            guard isResolved() else {
                clearSince = nil
                return .ongoing
            }
            guard let settleTime else { return .settled }
            let since = clearSince ?? now
            clearSince = since
            return now - since >= settleTime ? .settled : .clearing
        }

        /// Looks at the condition from the loop until it has settled (`done(true)`), or until it is found
        /// not over with `patience` gone, or `patience` and twice the settle time have passed (`done(false)`).
        /// One at a time: the pipeline has one step in flight. Without a timer: `done(false)`, and what
        /// follows acts as if the condition lasted.
        private func awaitSettling(patience: Duration, _ done: @escaping (Bool) -> Void) {
            // One at a time; a second caller would be a bug here, and is told "not settled" (it then acts).
            assert(settle == nil, "a settling is already in flight")
            guard settle == nil else { return done(false) }
            // v1: a stretch of over that other looks began stands (an OOM back is notified, which ends
            // it); v2: the looking starts afresh.
            if !isV1OOM { clearSince = nil }
            let started = handler.clock.now
            let limit = patience + (settleTime ?? .zero) * 2
            let interval = isV1OOM ? Handler.hookSettleInterval : pollInterval
            func verdict() -> Bool? {
                let condition = look()
                if condition == .settled { return true }
                let elapsed = handler.clock.now - started
                return (condition == .ongoing && elapsed >= patience) || elapsed >= limit ? false : nil
            }
            if let now = verdict() { return done(now) }
            guard let timer = try? DeadlineTimer() else { return done(false) }
            settle = timer
            do {
                try handler.loop.add(timer.descriptor) { [self] _ in
                    timer.acknowledge()
                    guard phase != .finished else { return }
                    guard let result = verdict() else { return timer.arm(after: interval) }
                    stopSettling()
                    done(result)
                }
            } catch {
                settle = nil
                return done(false)
            }
            timer.arm(after: interval)
        }

        private func stopRechecking() {
            if let recheck { handler.loop.remove(recheck.descriptor) }
            recheck = nil
        }

        // MARK: 7. Restore and report

        func cgroupRemoved() {
            guard phase != .finished else { return }
            facts.removed = true
            finish()
        }

        private func finish() {
            guard phase != .finished else { return }
            phase = .finished
            cancelKill()
            stopSettling()
            stopRechecking()
            if let deadline { handler.loop.remove(deadline.descriptor) }
            // The killer found enabled without a fallback of ours: the guardian handed the OOM to the
            // kernel while watch was stopped or stuck past --delay (or someone wrote memory.oom_control).
            if isV1OOM && !options.dryRun && !facts.fellBack && memory.cgroup.isAlive,
                (try? memory.oomControl().oomKillDisable) == false
            {
                facts.fellBack = true
                report.fellBack = true
                fail(
                    "the kernel OOM killer was re-enabled during this OOM, not by watch (its guardian does so "
                        + "when watch is stopped or stuck past --delay); disabled again now that the OOM is over")
            }
            // After a fallback the kernel killer is enabled: disabled again, for the next OOM.
            if facts.fellBack && !keepsKernelKiller && memory.cgroup.isAlive { handler.rearm(memory) }
            release()
            restoreReserve()
            report.durationMicroseconds = (handler.clock.now - event.detectedAt).totalNanoseconds / 1000
            report.outcome = HandlingOutcome(facts)
            handler.finished(self)
        }

        /// Takes the grant back once usage fits the original limit (at once, or by the grants' retries).
        private func restoreReserve() {
            guard let grant, let reserves = handler.reserves else { return }
            let id = report.id
            let onStep = handler.onStep
            reserves.restore(grant.cgroup) { grant, problem in
                onStep(.reserveRestored(id: id, grant: grant, problem: problem))
            }
        }

        private func fail(_ message: String) {
            facts.failed = true
            report.errors.append(message)
            handler.onStep(.failed(id: report.id, cgroup: report.cgroup, message: message))
        }

        /// v1: the cgroup is no longer in OOM (and, with a reserve granted, its usage is below the original
        /// limit again). v2 after a distress verdict: the verdict over the last sample and a new one is
        /// clear. v2 otherwise: usage is below memory.high (or memory.max when no high is set).
        private func isResolved() -> Bool {
            if let resolution = options.resolution { return resolution() }
            guard memory.cgroup.isAlive else { return true }
            switch memory.version {
            case .v1:
                let control = try? oomControl?.read() ?? memory.oomControl()
                guard control?.underOOM == false else { return false }
                guard let grant else { return true }
                // Strictly below: at the original limit the charge that stalled has not gone through yet
                // (once it does, usage is above it), so putting the limit back would only OOM again.
                return (try? memory.usage()).map { $0 < grant.originalLimit } ?? true
            case .v2 where isV2Distress:
                guard var sample = try? handler.gate.sample(memory) else { return !memory.cgroup.isAlive }
                // While the reserve is granted memory.high is at memory.max: distress is judged against the
                // ceiling the cgroup goes back to (memory.max − reserve as they are now: a hook may have
                // raised memory.max), or the grant itself would look like the resolution.
                let granted = grant.map { sample.high == $0.raisedLimit } ?? false
                if granted, let grant, let reserves = handler.reserves {
                    sample.high = reserves.restoreTarget(grant, memory)
                }
                let previous = lastSample
                lastSample = sample
                // Frozen or on the reserve, nothing stalls and the kernel counts no oom: the rates say
                // nothing then. Only unreclaimable memory can show the end of such a distress.
                if granted || heldNow {
                    let single = MemoryDistress.assess(previous: nil, current: sample, thresholds: options.distress)
                    let unreclaimableOnly =
                        report.distress?.reasons.allSatisfy { $0 == .unreclaimableAtCeiling } ?? false
                    return unreclaimableOnly && !single.inDistress
                }
                let verdict = MemoryDistress.assess(previous: previous, current: sample, thresholds: options.distress)
                return !verdict.inDistress
            case .v2:
                guard let usage = try? memory.usage() else { return true }
                let high = (try? memory.high()) ?? nil
                let ceiling = high.flatMap { $0.isUnlimited ? nil : $0 } ?? (try? memory.limit()) ?? .unlimited
                return usage < ceiling
            }
        }

        private static func fileSafe(_ path: CgroupPath) -> String {
            let text = path.isRoot ? "root" : path.components.joined(separator: "_")
            return String(text.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" }.prefix(80))
        }
    }
}
