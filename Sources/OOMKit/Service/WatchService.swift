import Glibc

/// The OOM handler as a service: what `oomctl watch` runs, for any Swift program.
///
/// It composes the event loop, the ``OOMWatcher`` (or, for the system scope, a PSI trigger on system
/// memory), the ``Handler`` pipeline, the v1 kernel-killer control with its guardian process, reserve
/// grants, the recovery of what a crashed predecessor left behind, v2 memory.high reconciliation, and
/// self-protection (a warm-up of the handling path, then mlockall, a self reserve, oom_score_adj,
/// memory.min of its own cgroup). Whatever it changed is restored however it stops: ``stop()``, a signal,
/// an error during start-up; and on v1, where the kernel waits for it, through the guardian, its own
/// death (killers and reserve-raised limits; the next start restores what even the guardian left). A
/// v2 memory.min raised for the handler's own cgroup is not guarded: it goes with the cgroup.
///
/// ```swift
/// Guardian.runIfRequested()  // this program is also its own guardian
/// var handling = HandlingOptions()
/// handling.action = .kill(PolicyOptions())
/// let service = try WatchService(
///     system: CgroupSystem(), configuration: WatchConfiguration(scope: .cgroups([path], recursive: false),
///     handling: handling))
/// service.onStep = { step in print(step) }
/// try service.start()
/// service.run()  // until SIGTERM, SIGINT or SIGHUP
/// ```
///
/// Single-threaded and synchronous by design: call it from one thread. Callbacks come from ``start()``
/// (notices, and in the system scope a first handling when memory is already short) and from ``run()``.
/// With ``WatchConfiguration/handlesSignals``, the ``stopSignals`` stay blocked in that thread after the
/// service is gone.
///
/// The guardian is watched too (a pidfd in the loop): one that dies is started again and told everything
/// it must know; if that fails, the service stops, restores everything, and ``failure`` says why.
public final class WatchService {
    public let system: CgroupSystem
    public let configuration: WatchConfiguration
    /// The loop everything runs on; a program may add its own sources to it.
    public let loop: EventLoop
    /// Every step of every handling.
    public var onStep: (HandlingStep) -> Void = { _ in }
    /// Everything else worth telling (see ``WatchNotice``).
    public var onNotice: (WatchNotice) -> Void = { _ in }
    /// What the service records, with ``WatchConfiguration/metricsCgroupLimit`` (nil: nothing is).
    public let metrics: WatchMetrics?
    /// The signal that stopped the service, if one did.
    public private(set) var stoppedBySignal: Int32?
    /// Why the service stopped by itself, if it did (its guardian died and could not be started again):
    /// a caller exits non-zero with it.
    public private(set) var failure: (any OOMKitError)?
    /// The service manager to tell (sd_notify(3)) that the service is ready, once ``start()`` has armed
    /// every target and started the guardian; what it watches (STATUS=, at most once a second); that it
    /// stops; and, with a watchdog, that its loop runs. Set before ``start()``.
    public var serviceManager: ServiceManagerNotifier?
    /// Serve `oomctl status` on a control socket from ``start()`` to ``stop()`` (``ControlServer``);
    /// nil (the default): no socket. Set it before ``start()``.
    public var controlSocket: ControlSocketOptions?
    /// The reply to a control socket's `metrics` request (nil: "metrics not enabled").
    public var metricsProvider: (() -> String)?

    /// The signals that stop the service with its clean-up (with ``WatchConfiguration/handlesSignals``):
    /// TERM, INT and HUP, and the other catchable ones whose default would end it without one (QUIT, USR1,
    /// USR2, ALRM, ABRT; an abort() of this very process still ends it, and its guardian restores).
    public static let stopSignals = [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGABRT]
    /// A restarted guardian that dies again sooner than this is not started a third time.
    static let guardianMinimumLifetime = Duration.seconds(5)

    private let signals: SignalSource?
    private var watcher: OOMWatcher?
    private var handler: Handler?
    /// `--hold freeze`: the cgroups frozen while handled.
    private var holds: FreezeHolds?
    private var systemWatch: SystemMemoryWatch?
    private var killers = KernelKillerControl(guardian: nil)
    private var guardian: GuardianClient?
    /// The guardian's pidfd, in the loop: readable when it exits.
    private var guardianHandle: ProcessHandle?
    private var guardianRestarts = 0
    private var reserves: ReserveGrants?
    /// The handler's own v2 cgroup and the memory.min it had before it was protected.
    private var protectedSelf: (memory: MemoryCgroup, previous: ByteCount)?
    private enum State { case idle, running, stopped }
    private var state = State.idle
    private var pressureAdjustmentReported = false
    /// Handlings finished since the start, for the service manager's status line.
    private var handlingsFinished = 0
    private var running: Bool { state == .running }
    private var control: ControlServer?
    private let statusRecorder = StatusRecorder()
    private let startedAt = (wall: SnapshotCollector.timestamp(), monotonic: ContinuousClock().now)

    /// Prepares the loop (and, with ``WatchConfiguration/handlesSignals``, blocks SIGTERM, SIGINT and
    /// SIGHUP into a signalfd, so that from here on a signal ends in a clean stop). Nothing is watched
    /// or changed before ``start()``.
    public init(system: CgroupSystem, configuration: WatchConfiguration) throws(SystemCallError) {
        self.system = system
        self.configuration = configuration
        SelfProtection.raiseFileLimit()
        loop = try EventLoop()
        metrics = configuration.metricsCgroupLimit.map { WatchMetrics(cgroupLimit: $0, procfs: system.procfs) }
        signals = configuration.handlesSignals ? try SignalSource(signals: Self.stopSignals) : nil
    }

    deinit { stop() }

    /// Handlings in progress.
    public var activeHandlings: Int { (handler?.activeCount ?? 0) + (systemWatch?.activeCount ?? 0) }

    /// The guardian process, when one runs.
    public var guardianPID: Int32? { guardian?.pid }

    /// Starts watching. On failure everything changed so far is restored before the error is thrown
    /// (an ``OOMKitError``: a cgroup that cannot be opened or watched, a guardian that cannot start, …).
    /// A service starts once: after ``stop()`` or a failed start, make a new one.
    public func start() throws {
        precondition(state == .idle, "a WatchService starts once")
        state = .running
        openControlSocket()
        do {
            switch configuration.scope {
            case .cgroups(let targets, let recursive): try startWatching(targets, recursive: recursive)
            case .system(let scope): try startWatchingSystem(scope)
            }
            try serviceManager?.announceReady(on: loop) { [unowned self] in serviceStatus }
        } catch {
            stop()
            throw error
        }
        updateMetricGauges()
    }

    /// Runs the loop until the service stops (``stop()`` or a signal); returns at once if it has already.
    public func run() {
        guard running else { return }
        loop.run()
    }

    /// Stops: kills running hooks, restores every kernel killer, reserve grant and memory.min, stops the
    /// guardian, and makes ``run()`` return. Nothing of the service runs after this, whatever else is
    /// ready in the loop's current round. Releasing a running service stops it too.
    public func stop() {
        guard running else { return }
        state = .stopped
        serviceManager?.announceStopping()
        control?.shutDown()
        control = nil
        handler?.cancelAll()
        systemWatch?.stop()
        // Its descriptors leave the loop: no OOM, removal or new cgroup is reported any more.
        watcher?.unwatchAll()
        restore()
        loop.stop()
    }

    // MARK: The cgroup scope

    private func startWatching(_ targets: [CgroupPath], recursive: Bool) throws {
        let memories = try targets.map { path throws(CgroupError) in try MemoryCgroup.open(path, in: system) }
        if !configuration.handling.dryRun { try requireMayAct(on: memories) }
        var all: [MemoryCgroup] = []
        for memory in memories {
            try memory.requireMemoryController()
            if memory.path.isRoot && !recursive {
                throw CgroupError.unsupported(
                    "watching the root cgroup itself (it has no limit of its own, no memory.events on v2, no "
                        + "oom_kill_disable on v1; watch / --recursive watches every cgroup below it, --system the "
                        + "machine's memory)", version: memory.version)
            }
            all.append(memory)
            if recursive { all += watchableDescendants(of: memory) }
        }
        let options = configuration.handling
        // Before anything is changed: a cgroup another live watch armed is that watch's.
        if !options.dryRun && configuration.events.v1.contains(.oom) {
            for memory in all { try requireNotArmedByAnother(memory) }
        }
        recoverLeftoverKillers(all)
        let handlesV1OOMs = configuration.events.v1.contains(.oom) && all.contains { $0.version == .v1 }
        // v2 wake-ups that a distress verdict turns into handlings may grant a reserve (memory.high up
        // to memory.max): guardian-backed like v1's, for a reserve set now or while watch runs.
        let grantsV2Reserves =
            options.confirmsDistress && all.contains { $0.version == .v2 }
            && !configuration.events.v2.isDisjoint(with: [.high, .max, .pressure])
        if options.hold == .freeze, let v1 = all.first(where: { $0.version == .v1 }) {
            // Freezing a v1 cgroup means moving its processes into a freezer cgroup: not done here.
            throw FreezeHoldError.cgroupV1(v1.path)
        }
        if !options.dryRun && (handlesV1OOMs || grantsV2Reserves || options.hold == .freeze) {
            let client = try GuardianClient(launch: configuration.guardian)
            guardian = client
            client.tellDelay(options.delay)
            try watchGuardian()
            killers = KernelKillerControl(guardian: client)
            reserves = ReserveGrants(store: ReserveStore(system: system), guardian: client, loop: loop)
            if options.hold == .freeze { holds = FreezeHolds(guardian: client) }
        }
        recoverLeftoverReserves(all)
        let handler = Handler(
            system: system, loop: loop, options: options, reserves: reserves, holds: holds, guardian: guardian,
            rearm: { [unowned self] memory in if running { try? killers.disable(memory) } },
            onStep: { [unowned self] step in report(step) })
        self.handler = handler
        let watcher = try OOMWatcher(loop: loop)
        self.watcher = watcher
        // v1: a notification of an ancestor's OOM is handled in the ancestor, if this watch handles it.
        handler.handlesOOMs = { [unowned watcher] path in watcher.isWatching(path) }
        watcher.onAwaitFailed = { [unowned self] path, error in
            onNotice(.cannotWatchNewCgroup(path, reason: error.description))
        }
        let targetPaths = Set(targets)
        watcher.onEvent = { [unowned self] event in
            metrics?.record(event)
            handler.handle(event)
            if event.kind == .removed, targetPaths.contains(event.cgroup), running {
                awaitTarget(event.cgroup, recursive: recursive)
            }
        }
        watcher.onChildCreated = { [unowned self] child in
            guard running else { return }
            if recursive { adopt(child) } else { releaseInherited(child) }
            updateMetricGauges()
        }
        for memory in all { try add(memory, recursive: recursive) }
        try listenForSignals()

        warmUp(below: memories.first)
        let protection = protectSelf()
        let hierarchy = all.first?.cgroup.hierarchy
        onNotice(
            .started(
                WatchStartReport(
                    cgroups: watcher.watchedCount, hierarchy: hierarchy,
                    kinds: hierarchy.map { configuration.events.kinds(for: $0.version) } ?? [],
                    protection: protection, protectedCgroup: protectedCgroupReport, guardianPID: guardian?.pid)))
    }

    /// Why a file of `memory` is not the caller's, as a ``DelegationError`` words it.
    private func notDelegatedReason(_ file: String, in memory: MemoryCgroup) -> String {
        do {
            try Delegation(system: system, hierarchy: memory.cgroup.hierarchy)
                .requireWritable(file, in: memory.cgroup, action: "write to")
            return "\(file) is not writable"
        } catch {
            return error.description
        }
    }

    /// An unprivileged watch acts only where it may: every watched cgroup must be the caller's (the
    /// delegation point of a subtree delegated to them, or a cgroup below it). Anything else is refused
    /// (``DelegationError``, exit 77) before anything is changed; `--dry-run` only watches.
    private func requireMayAct(on memories: [MemoryCgroup]) throws {
        guard let hierarchy = memories.first?.cgroup.hierarchy else { return }
        let delegation = Delegation(system: system, hierarchy: hierarchy)
        guard !delegation.isPrivileged else { return }
        for memory in memories {
            try delegation.requireWritable(nil, in: memory.cgroup, action: "handle OOMs in")
        }
    }

    /// Refuses a cgroup whose kernel killer another watch that is still running disabled (its marker
    /// names it): two watches on one cgroup would each undo the other's arming (``CgroupError/armedByAnotherWatch(_:owner:)``,
    /// exit 75). A marker whose watch is gone is a leftover, restored as such.
    private func requireNotArmedByAnother(_ memory: MemoryCgroup) throws(CgroupError) {
        guard let other = KernelKillerControl.otherWatch(armed: memory) else { return }
        throw .armedByAnotherWatch(memory.path, owner: other.phrase)
    }

    /// Re-enables kernel killers that a watch that died (with its guardian) left disabled.
    private func recoverLeftoverKillers(_ memories: [MemoryCgroup]) {
        for path in KernelKillerControl.restoreLeftovers(memories) { onNotice(.leftoverKillerRestored(path)) }
    }

    /// Restores limits that a watch that died (with its guardian) left raised, where they still hold what
    /// it wrote; what usage does not allow yet is taken over and retried like this watch's own grants
    /// (with a guardian), or tried once (without one: a dry run).
    private func recoverLeftoverReserves(_ memories: [MemoryCgroup]) {
        let report: (CgroupPath, ReserveGrants.LeftoverOutcome) -> Void = { [unowned self] path, outcome in
            switch outcome {
            case .restored: onNotice(.leftoverReserveRestored(path))
            case .busy: onNotice(.leftoverReserveStillRaised(path))
            case .changedByOthers(let reason), .failed(let reason):
                onNotice(.leftoverReserveNotRestored(path, reason: reason))
            }
        }
        if let reserves {
            reserves.takeOverLeftovers(memories, done: report)
        } else {
            for (path, outcome) in ReserveGrants.restoreLeftovers(memories, store: ReserveStore(system: system)) {
                report(path, outcome)
            }
        }
    }

    // MARK: The guardian

    /// Its pidfd into the loop: a guardian that dies is noticed at once, not when it is needed.
    private func watchGuardian() throws(SystemCallError) {
        guard let guardian else { return }
        let handle = try ProcessHandle(pid: guardian.pid)
        try loop.add(handle.descriptor) { [unowned self] _ in guardianExited() }
        guardianHandle = handle
    }

    /// The guardian died: started again and told everything anew; when that fails (or a restarted one
    /// dies again within ``guardianMinimumLifetime``), everything is restored and the service stops
    /// with ``failure``.
    private func guardianExited() {
        guard running, let guardian, let handle = guardianHandle, let ended = guardian.reapIfExited() else { return }
        loop.remove(handle.descriptor)
        guardianHandle = nil
        let previous = guardian.pid
        let lived = ContinuousClock().now - guardian.startedAt
        do {
            if guardianRestarts > 0 && lived < Self.guardianMinimumLifetime {
                throw GuardianLostError.Reason.diedAgain(after: lived)
            }
            do { try guardian.restart() } catch { throw GuardianLostError.Reason.cannotStart(error.description) }
            guardianRestarts += 1
            do { try watchGuardian() } catch { throw GuardianLostError.Reason.cannotStart(error.description) }
            onNotice(.guardianRestarted(previous: previous, ended: ended, pid: guardian.pid))
            reportGuardianScore()
        } catch {
            let lost = GuardianLostError(pid: previous, ended: ended, reason: error)
            onNotice(.guardianLost(lost))
            failure = lost
            stop()
        }
    }

    /// The guardian's oom_score_adj -1000 is watch's to report, like its own.
    private func reportGuardianScore() {
        guard configuration.selfProtection?.adjustScore == true, let guardian, !guardian.scoreAdjusted else { return }
        onNotice(
            .selfProtectionWarning(
                "the guardian's oom_score_adj not lowered to -1000 (it needs CAP_SYS_RESOURCE, or OOMScoreAdjust= "
                    + "in a system unit): the kernel's OOM killer may pick the guardian (pid \(guardian.pid))"))
    }

    /// The descendants that have the memory controller; each one that has not is told once (with what to
    /// enable), and nothing below it is looked at (its children cannot have the controller either).
    private func watchableDescendants(of memory: MemoryCgroup) -> [MemoryCgroup] {
        var result: [MemoryCgroup] = []
        for child in (try? memory.children()) ?? [] {
            do throws(CgroupError) {
                try child.requireMemoryController()
            } catch {
                onNotice(.notWatched(child.path, reason: error.description))
                continue
            }
            result.append(child)
            result += watchableDescendants(of: child)
        }
        return result
    }

    private func add(_ memory: MemoryCgroup, recursive: Bool) throws(CgroupError) {
        guard let watcher else { return }
        if recursive && memory.version == .v2 {
            // +memory enabled here later gives the existing children their memory files, which no
            // IN_CREATE tells: they are adopted then (under memory.events.local nobody else counts them).
            try? watcher.onModification(of: "cgroup.subtree_control", in: memory) { [unowned self] in
                guard running else { return }
                for child in (try? memory.children()) ?? []
                where child.hasMemoryController && self.watcher?.isWatching(child.path) == false {
                    adopt(child)
                }
            }
        }
        if memory.path.isRoot {
            // No limit of its own (no memory.events on v2, no oom_kill_disable on v1): only what is made
            // below it is watched.
            if recursive { try watcher.followChildren(of: memory) }
            return
        }
        try memory.requireMemoryController()
        let hasReserve = Reserves(system: system).store.read(memory) != nil
        let limitFile = memory.version == .v2 ? "memory.high" : "memory.limit_in_bytes"
        if hasReserve && !configuration.handling.dryRun && !Delegation.mayWrite(limitFile, in: memory.cgroup) {
            onNotice(
                .notDelegated(
                    memory.path,
                    what: "the reserve of \(memory.path.description.visibleControlCharacters) is not granted by "
                        + "this watch (it could not be taken back)",
                    reason: notDelegatedReason(limitFile, in: memory)))
        } else if memory.version == .v2 && hasReserve {
            reconcileHigh(memory)
            // Writes to memory.max are reported by inotify: no timer, no polling.
            try watcher.onModification(of: "memory.max", in: memory) { [unowned self] in
                if running && memory.cgroup.isAlive { reconcileHigh(memory) }
            }
        }
        var wanted = configuration.events.kinds(for: memory.version)
        if wanted.contains(.pressure) && !Delegation.mayWrite("memory.pressure", in: memory.cgroup) {
            // A PSI trigger is armed by writing memory.pressure: not possible on a delegation point.
            wanted.remove(.pressure)
            onNotice(
                .notDelegated(
                    memory.path, what: "no PSI trigger on \(memory.path.description.visibleControlCharacters)",
                    reason: notDelegatedReason("memory.pressure", in: memory)))
        }
        if configuration.handling.hold == .freeze && !configuration.handling.dryRun
            && !Delegation.mayWrite("cgroup.freeze", in: memory.cgroup)
        {
            onNotice(
                .notDelegated(
                    memory.path,
                    what: "--hold freeze will not hold \(memory.path.description.visibleControlCharacters) (a "
                        + "handling there goes on without it; its own children are held)",
                    reason: notDelegatedReason("cgroup.freeze", in: memory)))
        }
        let arms = !configuration.handling.dryRun && wanted.contains(.oom) && memory.version == .v1
        if arms {
            try requireNotArmedByAnother(memory)
            try killers.disable(memory)
        }
        do {
            // --recursive watches every descendant too: each counts only its own events, so one kernel
            // event is one handling, in the cgroup where it happened (not once per watched ancestor).
            try watcher.watch(
                memory, for: wanted.union([.removed]), pressure: configuration.pressure, localEvents: recursive)
            // An armed v1 cgroup arms the children made below it (the kernel copies the flag at mkdir):
            // they are followed either way, to be adopted or released.
            if recursive || arms { try watcher.followChildren(of: memory) }
            if let asked = configuration.pressure, let armed = watcher.armedPressureTrigger(for: memory.path),
                armed != asked, !pressureAdjustmentReported
            {
                // Said once, not for every cgroup: the kernel rounds every unprivileged window the same way.
                pressureAdjustmentReported = true
                onNotice(.pressureTriggerAdjusted(asked: asked, armed: armed))
            }
        } catch {
            // Not watched, so not held: an OOM there must not wait for a handler that will not come.
            watcher.unwatch(memory.path)
            killers.restore(memory.path)
            throw error
        }
    }

    /// A target was removed: it is watched again once a cgroup is made at its path (a service restarted
    /// by systemd gets a new cgroup of the same name).
    private func awaitTarget(_ path: CgroupPath, recursive: Bool) {
        guard let watcher, let hierarchy = try? system.memoryHierarchy() else { return }
        do throws(CgroupError) {
            try watcher.awaitCreation(of: path, in: hierarchy) { [unowned self] memory in
                guard running else { return }
                do throws(CgroupError) {
                    try add(memory, recursive: recursive)
                    onNotice(.targetWatchedAgain(memory.path))
                    serviceManager?.statusChanged()
                    updateMetricGauges()
                } catch .noSuchCgroup {
                    return awaitTarget(path, recursive: recursive)  // removed again at once: awaited again
                } catch {
                    onNotice(.cannotWatchNewCgroup(memory.path, reason: error.description))
                    return
                }
                if recursive { for descendant in watchableDescendants(of: memory) { adopt(descendant) } }
            }
            onNotice(.targetAwaited(path))
            serviceManager?.statusChanged()
        } catch {
            // No watch could be set up (a parent that went too is awaited in turn: not an error).
            onNotice(.cannotWatchNewCgroup(path, reason: error.description))
        }
    }

    /// `recursive`: watches a new child, and what was made below it before it was followed (`mkdir -p`).
    private func adopt(_ child: MemoryCgroup) {
        guard watcher?.isWatching(child.path) == false else { return }
        do {
            try add(child, recursive: true)
            onNotice(.watchingNewCgroup(child.path))
            serviceManager?.statusChanged()
        } catch {
            onNotice(.cannotWatchNewCgroup(child.path, reason: error.description))
            return
        }
        for descendant in watchableDescendants(of: child) { adopt(descendant) }
    }

    /// Without `recursive`: a new child of an armed v1 cgroup inherited the disabled killer but is not
    /// handled, so the kernel killer comes back for it (and for what was made below it meanwhile).
    private func releaseInherited(_ child: MemoryCgroup) {
        for path in KernelKillerControl.clearInherited(at: child) { onNotice(.inheritedKillerReleased(path)) }
    }

    /// v2: memory.high follows a changed memory.max, so the reserve stays what `oomctl reserve` set.
    private func reconcileHigh(_ memory: MemoryCgroup) {
        // While a grant is in force memory.high is at memory.max on purpose; the grant's restore puts
        // it at memory.max − reserve for the memory.max of then, and the guardian learns that value.
        if let reserves, reserves.grant(for: memory.path) != nil {
            if let target = reserves.limitChanged(memory.path) { onNotice(.grantFollowsMax(memory.path, then: target)) }
            return
        }
        do {
            guard let (old, new) = try Reserves(system: system).reconcile(memory) else { return }
            onNotice(.highFollowsMax(memory.path, old: old, new: new))
        } catch {
            onNotice(.highNotReconciled(memory.path, reason: "\(error)"))
        }
    }

    private func report(_ step: HandlingStep) {
        statusRecorder.record(step)
        if case .removed(let cgroup) = step {
            killers.forget(cgroup)
            reserves?.forget(cgroup)
        }
        if case .finished = step { handlingsFinished += 1 }
        serviceManager?.statusChanged()
        if let metrics {
            metrics.record(step)
            // The steps that change a gauge (not every step: the watch's own memory is read then). Not
            // at a detection, which the hooks and the kill wait for: the handling's end reads it.
            switch step {
            case .detected: updateMetricGauges(readingOwnMemory: false)
            case .finished, .removed, .fellBack: updateMetricGauges()
            default: break
            }
        }
        onStep(step)
    }

    /// The service manager's status line: what is watched, and the handlings so far.
    private var serviceStatus: String {
        var handlings = "\(handlingsFinished) handling\(handlingsFinished == 1 ? "" : "s")"
        if activeHandlings > 0 { handlings += ", \(activeHandlings) in progress" }
        if configuration.handling.dryRun { handlings += " (dry run)" }
        switch configuration.scope {
        case .system(let scope):
            return "watching system memory (act below \(scope.thresholds.actAvailable) available); \(handlings)"
        case .cgroups(let targets, _):
            let watched = watcher?.watchedCount ?? 0
            let mount = (try? system.memoryHierarchy().mountPoint) ?? ""
            let places = targets.prefix(2).map { mount + ($0.isRoot ? "" : $0.description.visibleControlCharacters) }
            var line = "watching \(watched) cgroup\(watched == 1 ? "" : "s") under " + places.joined(separator: ", ")
            if targets.count > 2 { line += " and \(targets.count - 2) more" }
            line += "; " + handlings
            let awaited = targets.filter { !$0.isRoot && watcher?.isWatching($0) == false }.count
            if awaited > 0 { line += "; \(awaited) removed target\(awaited == 1 ? "" : "s") awaited" }
            return line
        }
    }

    /// The gauges of ``metrics``, as they are now.
    private func updateMetricGauges(readingOwnMemory: Bool = true) {
        guard let metrics, running else { return }
        metrics.update(
            WatchMetrics.Gauges(
                watchedCgroups: watcher?.watchedCount ?? 0, handlingsInProgress: activeHandlings,
                armedCgroups: killers.disabledCount),
            readingOwnMemory: readingOwnMemory)
    }

    // MARK: The system scope

    private func startWatchingSystem(_ scope: WatchConfiguration.SystemScope) throws {
        let watch = try SystemMemoryWatch(
            system: system, scope: scope, loop: loop, onNotice: { [unowned self] in onNotice($0) })
        systemWatch = watch
        try watch.start(options: configuration.handling, onStep: { [unowned self] in report($0) })
        try listenForSignals()
        warmUp(below: try? MemoryCgroup.open(watch.root, in: system))
        let protection = protectSelf()
        onNotice(
            .started(
                WatchStartReport(
                    cgroups: 0, hierarchy: try? system.memoryHierarchy(), kinds: [.pressure],
                    systemTrigger: watch.armedTrigger, systemRoot: watch.root, protection: protection,
                    protectedCgroup: protectedCgroupReport, guardianPID: nil)))
        // A machine already short of memory acts at once.
        watch.evaluate(reason: "start-up")
    }

    // MARK: Signals and stopping

    private func listenForSignals() throws(SystemCallError) {
        guard let signals else { return }
        try loop.add(signals.descriptor) { [unowned self] _ in
            let signal = signals.read()
            stoppedBySignal = signal
            stop()
            onNotice(.stopped(signal: signal))
        }
    }

    /// Puts back everything the service changed: memory.min, kernel killers, then reserve grants (after
    /// the killers, so that a task stalled at the raised limit can be killed); what usage does not yet
    /// allow stays with the guardian, which keeps trying after the service is gone.
    private func restore() {
        if let guardianHandle { loop.remove(guardianHandle.descriptor) }
        guardianHandle = nil
        if let (memory, previous) = protectedSelf {
            try? memory.setMin(previous)
            protectedSelf = nil
        }
        holds?.thawAll()
        killers.restoreAll()
        let busy = reserves?.restoreAll() ?? []
        for path in busy { onNotice(.reserveLeftToGuardian(path)) }
        guardian?.shutDown(wait: busy.isEmpty)
        guardian = nil
        killers = KernelKillerControl(guardian: nil)
        reserves = nil
    }

    // MARK: Self-protection

    /// Warm-up, then mlockall, the self reserve, oom_score_adj and memory.min, as configured.
    private func protectSelf() -> SelfProtectionReport? {
        guard let options = configuration.selfProtection else { return nil }
        let report = SelfProtection.apply(
            lockMemory: options.lockMemory, adjustScore: options.adjustScore, selfReserve: options.reserve)
        report.warnings.forEach { onNotice(.selfProtectionWarning($0)) }
        reportGuardianScore()
        if options.protectOwnCgroup { protectOwnCgroup() }
        return report
    }

    /// On v2, when the handler (and its guardian) are alone in their cgroup, sets its memory.min to what
    /// they use now (after warm-up and the self reserve), rounded up to a MiB, so the kernel does not
    /// reclaim the handler's memory; the previous value comes back at stop.
    private func protectOwnCgroup() {
        do {
            let own = try MemoryCgroup.open(system.memoryCgroupPath(ofProcess: getpid()), in: system)
            guard own.version == .v2, !own.path.isRoot else {
                return onNotice(.ownCgroupNotProtected(.notInOwnV2Cgroup))
            }
            let allowed = Set([getpid(), guardian?.pid].compactMap { $0 })
            let others = try own.processIDs().filter { !allowed.contains($0) }
            guard others.isEmpty else {
                return onNotice(.ownCgroupNotProtected(.shared(own.path, otherProcesses: others.count)))
            }
            let previous = try own.min() ?? .zero
            let mebibyte: UInt64 = 1 << 20
            let protection = ByteCount((try own.usage().bytes + mebibyte - 1) / mebibyte * mebibyte)
            try own.setMin(protection)
            protectedSelf = (own, previous)
        } catch {
            onNotice(.ownCgroupNotProtected(.failed(error.description)))
        }
    }

    private var protectedCgroupReport: (path: CgroupPath, minimum: ByteCount)? {
        guard let (memory, _) = protectedSelf, let minimum = try? memory.min() else { return nil }
        return (memory.path, minimum)
    }

    /// Runs the code of a handling once before memory is locked, so that it is resident (and then
    /// locked) before an OOM needs it: a snapshot, its JSON, a policy decision. On a leaf below the first
    /// target: the code is the same for one cgroup as for a thousand, and a snapshot of a whole tree
    /// (1,001 cgroups: ~9 MiB of heap, measured) would stay in the heap that mlockall then locks.
    /// Start-up's own code is dropped first (``StartupCode``), so that what the warm-up faults back in is
    /// what gets locked.
    private func warmUp(below memory: MemoryCgroup?) {
        guard configuration.selfProtection?.lockMemory == true else { return }
        StartupCode.release()
        guard var leaf = memory else { return }
        while let name = (try? leaf.cgroup.childNames())?.first, let child = try? leaf.cgroup.child(named: name),
            let next = try? MemoryCgroup(child)
        {
            leaf = next
        }
        let collector = SnapshotCollector(system: system)
        guard let snapshot = try? collector.collect(root: leaf.path, options: SnapshotOptions(topProcesses: 5))
        else { return }
        _ = snapshot.jsonBytes()
        // Every policy, as a handling would run it on the cgroup that hit the OOM (on a leaf most find no
        // candidate below it, which is the path the pipeline's fallback to `triggering` takes too).
        for policy in PolicyName.allCases {
            var options = PolicyOptions()
            options.policy = policy
            if let decision = try? PolicyEngine.decide(in: snapshot, under: leaf.path, options: options) {
                _ = JSONOutput.encode(decision)
            }
        }
    }
}

// MARK: Status (`oomctl status`)

extension WatchService {
    /// What the service is doing now: see ``WatchStatus``.
    public func status() -> WatchStatus {
        let options = configuration.handling
        var targets: [CgroupPath] = []
        var recursive = false
        var scope = "system"
        if case .cgroups(let paths, let isRecursive) = configuration.scope {
            (targets, recursive, scope) = (paths, isRecursive, "cgroups")
        }
        let listed = watcher?.watched(first: WatchStatus.listedCgroupLimit) ?? []
        let version = (try? system.memoryHierarchy())?.version ?? .v1
        let armed = Set(killers.disabledCgroups)
        let cgroups = listed.map { path in
            WatchStatus.WatchedCgroup(
                path: path, version: version, armed: armed.contains(path),
                reserveGranted: reserves?.grant(for: path)?.bytes)
        }
        let kinds = { (kinds: Set<OOMEvent.Kind>) in kinds.sorted { $0.rawValue < $1.rawValue } }
        return WatchStatus(
            pid: getpid(), uid: geteuid(), version: controlSocket?.version ?? "", startedAt: startedAt.wall,
            uptimeMilliseconds: (ContinuousClock().now - startedAt.monotonic).totalMilliseconds,
            options: WatchStatus.Options(
                scope: scope, targets: targets, recursive: recursive,
                events: ["\(version.rawValue)": kinds(configuration.events.kinds(for: version))],
                action: options.actionDescription, delayMilliseconds: options.delay.totalMilliseconds,
                hookTimeoutMilliseconds: options.hookTimeout.totalMilliseconds, hooks: options.hooks,
                postKillHooks: options.postKillHooks, hold: options.hold.rawValue, dryRun: options.dryRun,
                snapshotDirectory: options.snapshotDirectory,
                minimumIntervalMilliseconds: options.minimumInterval.totalMilliseconds,
                selfProtection: configuration.selfProtection != nil, selfReserve: configuration.selfProtection?.reserve),
            cgroups: cgroups, cgroupCount: watcher?.watchedCount ?? 0, handlings: statusRecorder.inProgress,
            recent: statusRecorder.recent, finishedCount: statusRecorder.finishedCount,
            guardian: guardian.map {
                WatchStatus.GuardianStatus(pid: $0.pid, alive: guardianHandle != nil, restarts: guardianRestarts)
            },
            metricsEnabled: metricsProvider != nil)
    }

    /// Listens on the control socket, when ``controlSocket`` asks for one; a socket that cannot be made
    /// is told (``WatchNotice/controlSocketUnavailable(reason:)``), and the watch runs on without it.
    private func openControlSocket() {
        guard let options = controlSocket else { return }
        guard let directory = options.directory ?? ControlSocketDirectory.own()
        else {
            return onNotice(
                .controlSocketUnavailable(
                    reason: "XDG_RUNTIME_DIR is not set for this unprivileged watch (root's go to "
                        + "\(ControlSocketDirectory.system))"))
        }
        do {
            control = try ControlServer(directory: directory, loop: loop) { [unowned self] request in
                answer(request)
            }
        } catch {
            onNotice(.controlSocketUnavailable(reason: error.description))
        }
    }

    /// One request of the control socket.
    private func answer(_ request: String) -> ControlReply {
        switch request {
        case "status": return .ok(JSONOutput.encode(status(), pretty: false))
        case "metrics":
            guard let metricsProvider else {
                return .error("unavailable", "this watch records no metrics (it runs with --no-metrics)")
            }
            return .ok(Array(metricsProvider().utf8))
        default:
            return .error("unknown", "requests are 'status' and 'metrics'")
        }
    }
}
