import Glibc

/// One step of a handling, as it happens: what `watch` prints and journals.
public enum HandlingStep: Sendable {
    case detected(HandlingReport)
    case coalesced(cgroup: CgroupPath, event: OOMEvent.Kind, total: UInt64)
    case snapshotWritten(id: Int, cgroup: CgroupPath, path: String)
    case hookStarted(id: Int, cgroup: CgroupPath, command: String)
    case hookFinished(id: Int, cgroup: CgroupPath, result: HookResult)
    case decided(id: Int, cgroup: CgroupPath, decision: Decision)
    case killed(id: Int, cgroup: CgroupPath, report: KillReport)
    case fellBack(id: Int, cgroup: CgroupPath, after: Duration)
    /// v1: the cgroup's reserve was granted (its limit raised by the reserve).
    case reserveGranted(id: Int, grant: ReserveGrant)
    /// v1: the grant was taken back (`problem` nil: the original limit is back).
    case reserveRestored(id: Int, grant: ReserveGrant, problem: String?)
    case failed(id: Int, cgroup: CgroupPath, message: String)
    /// The cgroup was removed; it is no longer watched.
    case removed(cgroup: CgroupPath)
    case finished(HandlingReport)
}

/// The OOM handling pipeline that `watch` runs for each event, driven by the event loop:
/// detect → reserve grant (v1) → snapshot → hooks → decide and act → post-kill hooks → deadline fallback
/// → restore the reserve → report.
///
/// Every cgroup's handling is its own state machine: a hook that hangs delays only its own cgroup,
/// never another. Events for a cgroup already being handled (or handled less than
/// ``HandlingOptions/minimumInterval`` ago) are coalesced into a counter, not handled again — except a
/// v2 `oom-kill`: the kernel has killed something, which a handling of the `high` or `max` events that
/// led up to it (often read from the same memory.events change) must not swallow. It waits for the
/// running handling of its cgroup to finish and is then handled on its own, whatever the interval.
public final class Handler {
    private let system: CgroupSystem
    private let loop: EventLoop
    private let hooks: HookRunner
    private let options: HandlingOptions
    private let onStep: (HandlingStep) -> Void
    /// Re-arms the kernel killer disabling after a fallback resolved the OOM (v1).
    private let rearm: (MemoryCgroup) -> Void
    /// v1 reserve grants (nil: reserves are not granted).
    private let reserves: ReserveGrants?
    private var active: [CgroupPath: Handling] = [:]
    private var lastFinished: [CgroupPath: ContinuousClock.Instant] = [:]
    private var coalescedSinceLast: [CgroupPath: UInt64] = [:]
    /// v2 oom-kill events that came while their cgroup was being handled; handled when it finishes.
    private var pendingKills: [CgroupPath: OOMEvent] = [:]
    private var nextID = 1
    private let clock = ContinuousClock()

    public init(
        system: CgroupSystem, loop: EventLoop, options: HandlingOptions, reserves: ReserveGrants? = nil,
        rearm: @escaping (MemoryCgroup) -> Void, onStep: @escaping (HandlingStep) -> Void
    ) {
        self.reserves = reserves
        self.system = system
        self.loop = loop
        self.hooks = HookRunner(loop: loop)
        self.options = options
        self.rearm = rearm
        self.onStep = onStep
    }

    /// Handlings in progress.
    public var activeCount: Int { active.count }

    /// Kills running hooks (shutdown).
    public func cancelAll() { hooks.killAll() }

    /// Starts handling an event, or coalesces it into the one in progress.
    public func handle(_ event: OOMEvent) {
        if event.kind == .removed {
            pendingKills[event.cgroup] = nil
            active[event.cgroup]?.cgroupRemoved()
            lastFinished[event.cgroup] = nil
            coalescedSinceLast[event.cgroup] = nil
            onStep(.removed(cgroup: event.cgroup))
            return
        }
        if active[event.cgroup] != nil && event.kind == .oomKill {
            var pending =
                pendingKills[event.cgroup]
                ?? OOMEvent(
                    kind: .oomKill, cgroup: event.cgroup, count: 0, detectedAt: event.detectedAt)
            pending.count += event.count
            pendingKills[event.cgroup] = pending
            return
        }
        if let running = active[event.cgroup] {
            running.report.coalesced += event.count
            onStep(.coalesced(cgroup: event.cgroup, event: event.kind, total: running.report.coalesced))
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
        do {
            memory = try MemoryCgroup.open(event.cgroup, in: system)
        } catch {
            onStep(.failed(id: 0, cgroup: event.cgroup, message: error.description))
            return
        }
        let handling = Handling(
            id: nextID, event: event, memory: memory, handler: self,
            coalescedBefore: coalescedSinceLast[event.cgroup] ?? 0)
        coalescedSinceLast[event.cgroup] = nil
        nextID += 1
        active[event.cgroup] = handling
        handling.begin()
    }

    fileprivate func finished(_ handling: Handling) {
        active[handling.report.cgroup] = nil
        lastFinished[handling.report.cgroup] = clock.now
        onStep(.finished(handling.report))
        if let pending = pendingKills.removeValue(forKey: handling.report.cgroup) { handle(pending) }
    }

    /// The state of one event's handling.
    fileprivate final class Handling {
        let event: OOMEvent
        let memory: MemoryCgroup
        unowned let handler: Handler
        var report: HandlingReport
        var deadline: DeadlineTimer?
        var recheck: DeadlineTimer?
        var pipelineDone = false
        var done = false
        var resolutionChecks = 0
        /// The reserve this handling granted (v1), taken back when it finishes.
        var grant: ReserveGrant?

        init(id: Int, event: OOMEvent, memory: MemoryCgroup, handler: Handler, coalescedBefore: UInt64) {
            self.event = event
            self.memory = memory
            self.handler = handler
            report = HandlingReport(id: id, cgroup: event.cgroup, event: event.kind, count: event.count)
            report.coalesced = coalescedBefore
        }

        private var options: HandlingOptions { handler.options }
        private var isV1OOM: Bool { memory.version == .v1 && event.kind == .oom }

        func begin() {
            report.usage = try? memory.usage()
            report.limit = try? memory.limit()
            handler.onStep(.detected(report))
            if isV1OOM && !options.dryRun { armDeadline() }
            grantReserve()
            writeSnapshot()
            runHook(at: 0, from: options.hooks, post: false)
        }

        func cgroupRemoved() {
            guard !done else { return }
            report.outcome = .removed
            finish()
        }

        // MARK: Steps

        /// v1: lets the cgroup overdraw its reserve while the OOM is handled (limit + reserve).
        private func grantReserve() {
            guard isV1OOM, !options.dryRun, let reserves = handler.reserves else { return }
            do {
                guard let granted = try reserves.grant(memory) else { return }
                grant = granted
                report.reserve = granted.bytes
                handler.onStep(.reserveGranted(id: report.id, grant: granted))
            } catch {
                fail("reserve: \(error.description)")
            }
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

        private func runHook(at index: Int, from commands: [String], post: Bool) {
            guard !done else { return }
            guard index < commands.count else {
                if post { completePipeline() } else { act() }
                return
            }
            let command = commands[index]
            handler.onStep(.hookStarted(id: report.id, cgroup: report.cgroup, command: command))
            do {
                try handler.hooks.start(
                    command, environment: environment(), input: JSONOutput.encode(hookInput(), pretty: false),
                    timeout: options.hookTimeout, detectedAt: event.detectedAt
                ) { [self] result in
                    if post { report.postKillHooks.append(result) } else { report.hooks.append(result) }
                    handler.onStep(.hookFinished(id: report.id, cgroup: report.cgroup, result: result))
                    // After an oom-kill the kernel has already resolved the OOM: a hook cannot have, so
                    // every hook runs and the outcome stays "reported".
                    if !post && result.succeeded && event.kind != .oomKill && isResolved() {
                        report.outcome = .resolvedByHook
                        completePipeline()
                    } else {
                        runHook(at: index + 1, from: commands, post: post)
                    }
                }
            } catch {
                fail("hook '\(command)': \(error.description)")
                runHook(at: index + 1, from: commands, post: post)
            }
        }

        private func act() {
            guard !done else { return }
            if isResolved() && event.kind != .oomKill {
                report.outcome = .resolved
                return completePipeline()
            }
            guard case .kill(let policy) = options.action, event.kind != .oomKill else {
                report.outcome = isV1OOM ? .fellBackToKernel : .reported
                return completePipeline()
            }
            guard let decision = decide(policy) else { return completePipeline() }
            report.decision = decision
            handler.onStep(.decided(id: report.id, cgroup: report.cgroup, decision: decision))
            if options.dryRun {
                report.outcome = .dryRun
                return completePipeline()
            }
            guard let victim = decision.victim else { return completePipeline() }
            let killer = Killer(system: handler.system)
            do {
                let result: KillReport
                switch victim.target {
                case .cgroup(let path):
                    result = try killer.kill(MemoryCgroup.open(path, in: handler.system), options: options.kill)
                case .process(let pid, _, _): result = try killer.kill(pid: pid, options: options.kill)
                }
                report.kill = result
                report.outcome = .killed
                handler.onStep(.killed(id: report.id, cgroup: report.cgroup, report: result))
            } catch let error as any OOMKitError {
                fail("kill \(victim.target): \(error.description)")
            } catch {
                fail("kill \(victim.target): \(error)")
            }
            runHook(at: 0, from: options.postKillHooks, post: true)
        }

        /// The policy's victim below the cgroup; when the cgroup has nothing below it to choose from,
        /// the cgroup itself (or, for process victims, its largest process).
        private func decide(_ policy: PolicyOptions) -> Decision? {
            var policy = policy
            policy.triggering = memory.path
            policy.overlimit.formUnion(handler.reserves?.grantedCgroups ?? [])
            if policy.selfCgroup == nil {
                policy.selfCgroup = try? handler.system.memoryCgroupPath(ofProcess: getpid())
            }
            let snapshot: Snapshot
            do {
                snapshot = try SnapshotCollector(system: handler.system)
                    .collect(root: memory.path, options: SnapshotOptions(topProcesses: Int.max, includeSystem: false))
            } catch {
                fail("decide: \(error.description)")
                return nil
            }
            var outcome = Self.decide(policy, in: snapshot, under: memory.path)
            if case .failure(.noCandidates) = outcome, policy.policy != .triggering,
                options.killTriggeringWhenNoCandidates
            {
                policy.policy = .triggering
                outcome = Self.decide(policy, in: snapshot, under: memory.path)
            }
            switch outcome {
            case .success(let decision): return decision
            case .failure(let error):
                fail("decide: \(error.description)")
                return nil
            }
        }

        private static func decide(
            _ policy: PolicyOptions, in snapshot: Snapshot, under root: CgroupPath
        )
            -> Result<Decision, PolicyError>
        {
            do {
                return .success(try PolicyEngine(options: policy).decide(in: snapshot, under: root))
            } catch {
                return .failure(error)
            }
        }

        /// The steps have run; a v1 OOM that is not yet resolved waits for the deadline's fallback. When
        /// the kernel killer is back (a fallback) or a granted reserve lets the stalled tasks run on, the
        /// OOM can end before the deadline: it is looked for every 20 ms, so the grant goes back and the
        /// handling ends as soon as it does.
        private func completePipeline() {
            pipelineDone = true
            if isV1OOM && !options.dryRun && !isResolved() {
                if report.fellBack || grant != nil { watchForResolution() }
                return
            }
            finish()
        }

        private func armDeadline() {
            guard let timer = try? DeadlineTimer() else { return }
            deadline = timer
            timer.arm(after: options.delay)
            try? handler.loop.add(timer.descriptor) { [self] _ in
                timer.acknowledge()
                fallBack()
            }
        }

        /// The deadline passed with the OOM unresolved: hand it to the kernel killer.
        private func fallBack() {
            guard !done, !report.fellBack, isV1OOM else { return }
            if isResolved() {
                // It went away before the deadline (a granted reserve let the tasks finish).
                if report.outcome == .fellBackToKernel { report.outcome = .resolved }
                if pipelineDone { finish() }
                return
            }
            do {
                try memory.setOOMKillDisabled(false)
                report.fellBack = true
                if report.outcome != .killed { report.outcome = .fellBackToKernel }
                handler.onStep(.fellBack(id: report.id, cgroup: report.cgroup, after: options.delay))
            } catch {
                fail("fallback: \(error.description)")
            }
            watchForResolution()
        }

        /// After a fallback or a reserve grant: look every 20 ms (only while this OOM lasts) until it is
        /// resolved, then make sure its killer is disabled again for the next OOM.
        private func watchForResolution() {
            guard recheck == nil, let timer = try? DeadlineTimer() else { return }
            recheck = timer
            try? handler.loop.add(timer.descriptor) { [self] _ in
                timer.acknowledge()
                resolutionChecks += 1
                if isResolved() || !memory.cgroup.isAlive || resolutionChecks > 1500 {
                    if memory.cgroup.isAlive { handler.rearm(memory) }
                    if pipelineDone { finish() } else { handler.loop.remove(timer.descriptor) }
                } else {
                    timer.arm(after: .milliseconds(20))
                }
            }
            timer.arm(after: .milliseconds(20))
        }

        private func finish() {
            guard !done else { return }
            done = true
            if let deadline { handler.loop.remove(deadline.descriptor) }
            if let recheck { handler.loop.remove(recheck.descriptor) }
            restoreReserve()
            report.durationMicroseconds = (handler.clock.now - event.detectedAt).totalNanoseconds / 1000
            if report.outcome == .failed && report.errors.isEmpty { report.outcome = .reported }
            // Resolved before the deadline (a granted reserve let the tasks finish): no fallback happened.
            if report.outcome == .fellBackToKernel && !report.fellBack { report.outcome = .resolved }
            handler.finished(self)
        }

        private func fail(_ message: String) {
            report.errors.append(message)
            handler.onStep(.failed(id: report.id, cgroup: report.cgroup, message: message))
        }

        /// v1: the cgroup is no longer in OOM (and, with a reserve granted, its usage fits the original
        /// limit again). v2: usage is below memory.high (or memory.max when no high is set).
        private func isResolved() -> Bool {
            if let resolution = options.resolution { return resolution() }
            guard memory.cgroup.isAlive else { return true }
            switch memory.version {
            case .v1:
                guard (try? memory.oomControl().underOOM) == false else { return false }
                guard let grant else { return true }
                return (try? memory.usage()).map { $0 <= grant.originalLimit } ?? true
            case .v2:
                guard let usage = try? memory.usage() else { return true }
                let high = (try? memory.high()) ?? nil
                let ceiling = high.flatMap { $0.isUnlimited ? nil : $0 } ?? (try? memory.limit()) ?? .unlimited
                return usage < ceiling
            }
        }

        // MARK: Hook context

        /// The hook's environment: context only, never interpolated into the command.
        private func environment() -> [String: String] {
            var environment: [String: String] = [
                "OOMCTL_EVENT": event.kind.rawValue,
                "OOMCTL_CGROUP": memory.path.description,
                "OOMCTL_CGROUP_PATH": memory.cgroup.filesystemPath,
                "OOMCTL_CGROUP_VERSION": String(memory.version.rawValue),
                "OOMCTL_HANDLING_ID": String(report.id),
                "OOMCTL_COUNT": String(report.count),
                "OOMCTL_DRY_RUN": options.dryRun ? "1" : "0",
            ]
            if let usage = try? memory.usage() { environment["OOMCTL_USAGE"] = String(usage.bytes) }
            if let limit = report.limit {
                environment["OOMCTL_LIMIT"] = limit.isUnlimited ? "max" : String(limit.bytes)
            }
            if let reserve = report.reserve { environment["OOMCTL_RESERVE"] = String(reserve.bytes) }
            if let snapshot = report.snapshotPath { environment["OOMCTL_SNAPSHOT"] = snapshot }
            if let kill = report.kill {
                environment["OOMCTL_VICTIM_CGROUP"] = kill.cgroup?.description
                environment["OOMCTL_VICTIM_PIDS"] = kill.signalledPIDs.map(String.init).joined(separator: " ")
                environment["OOMCTL_FREED_BYTES"] = kill.freed.map { String($0.bytes) }
                if let pid = kill.pid { environment["OOMCTL_VICTIM_PID"] = String(pid) }
            }
            return environment
        }

        private struct HookInput: Encodable {
            var event: OOMEvent.Kind
            var cgroup: CgroupPath
            var cgroupPath: String
            var version: Int
            var handlingID: Int
            var count: UInt64
            var usage: ByteCount?
            var limit: ByteCount?
            /// v1: the reserve granted for this OOM (OOMCTL_RESERVE).
            var reserve: ByteCount?
            var snapshot: String?
            var decision: Decision?
            var kill: KillReport?
            var dryRun: Bool
        }

        private func hookInput() -> HookInput {
            HookInput(
                event: event.kind, cgroup: memory.path, cgroupPath: memory.cgroup.filesystemPath,
                version: memory.version.rawValue, handlingID: report.id, count: report.count,
                usage: try? memory.usage(), limit: report.limit, reserve: report.reserve, snapshot: report.snapshotPath,
                decision: report.decision, kill: report.kill, dryRun: options.dryRun)
        }

        private static func fileSafe(_ path: CgroupPath) -> String {
            let text = path.isRoot ? "root" : path.components.joined(separator: "_")
            return String(text.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" }.prefix(80))
        }
    }
}
