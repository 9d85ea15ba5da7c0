import Glibc
import Logging
import OOMKit

/// One run of `oomctl watch`: the loop, the watcher, the handler, the kernel-killer control and the
/// guardian, and the lines (or journal entries) that report what happens.
final class WatchSession {
    private let system: CgroupSystem
    private let options: HandlingOptions
    private let kinds: (CgroupVersion) throws -> Set<OOMEvent.Kind>
    private let pressure: PressureTrigger?
    private let recursive: Bool
    private let selfProtection: Bool
    private let selfReserve: ByteCount?
    private let protectSelf: Bool
    /// --protect-self: watch's own v2 cgroup and the memory.min it had before.
    private var protectedSelf: (memory: MemoryCgroup, previous: ByteCount)?
    /// The loop everything runs on (simulate adds its hogs' pidfds and its timeout to it).
    let loop: EventLoop
    private let signals: SignalSource
    private let watcher: OOMWatcher
    private var handler: Handler?
    private var killers: KernelKillerControl
    private var guardian: GuardianClient?
    private var reserves: ReserveGrants?
    private let log = Logger(label: "oomctl.watch")
    private let reporter = StepReporter()
    /// Called with every step after it is logged (simulate builds its timeline from them).
    var observer: ((HandlingStep) -> Void)?
    /// Whether steps are logged (simulate reports them in its timeline instead).
    var logsSteps = true
    /// The signal that stopped the session, if one did.
    private(set) var stoppedBySignal: Int32?

    /// Handlings in progress.
    var activeHandlings: Int { handler?.activeCount ?? 0 }

    init(
        system: CgroupSystem, options: HandlingOptions, kinds: @escaping (CgroupVersion) throws -> Set<OOMEvent.Kind>,
        pressure: PressureTrigger?, recursive: Bool, selfProtection: Bool, selfReserve: ByteCount? = nil,
        protectSelf: Bool = false
    ) throws {
        self.selfReserve = selfReserve
        self.protectSelf = protectSelf
        self.system = system
        self.options = options
        self.kinds = kinds
        self.pressure = pressure
        self.recursive = recursive
        self.selfProtection = selfProtection
        SelfProtection.raiseFileLimit()
        loop = try EventLoop()
        signals = try SignalSource()
        watcher = try OOMWatcher(loop: loop)
        killers = KernelKillerControl(guardian: nil)
    }

    /// Opens and watches the targets (and, with --recursive, everything below them).
    func start(_ targets: [CgroupPath]) throws {
        let memories = try targets.map { try MemoryCgroup.open($0, in: system) }
        var all: [MemoryCgroup] = []
        for memory in memories {
            all.append(memory)
            if recursive { all += try Self.descendants(of: memory) }
        }
        for path in KernelKillerControl.restoreLeftovers(all) {
            log.log(
                .warning, "re-enabled the kernel OOM killer that a previous watch left disabled",
                metadata: ["cgroup": .string(path.description)])
        }
        let leftovers = ReserveGrants.restoreLeftovers(all)
        for path in leftovers.restored {
            log.log(
                .warning, "restored the memory limit that a previous watch left raised by a reserve grant",
                metadata: ["cgroup": .string(path.description)])
        }
        for path in leftovers.busy {
            log.log(
                .warning,
                "a previous watch left this memory limit raised by a reserve grant; usage is still above the original limit, so it cannot be restored yet",
                metadata: ["cgroup": .string(path.description)])
        }
        let handlesV1OOMs = try kinds(.v1).contains(.oom)
        let needsGuardian = !options.dryRun && handlesV1OOMs && all.contains { $0.version == .v1 }
        if needsGuardian {
            let client = try GuardianClient(executable: Self.executablePath())
            guardian = client
            killers = KernelKillerControl(guardian: client)
        }
        if !options.dryRun && handlesV1OOMs && all.contains(where: { $0.version == .v1 }) {
            reserves = ReserveGrants(store: ReserveStore(system: system), guardian: guardian, loop: loop)
        }
        let handler = Handler(
            system: system, loop: loop, options: options, reserves: reserves,
            rearm: { [unowned self] memory in try? self.killers.disable(memory) },
            onStep: { [unowned self] step in self.report(step) })
        self.handler = handler
        watcher.onEvent = { event in handler.handle(event) }
        watcher.onChildCreated = { [unowned self] child in self.adopt(child) }
        for memory in all { try add(memory) }
        try loop.add(signals.descriptor) { [unowned self] _ in self.stop(signal: self.signals.read()) }

        warmUp(memories.first)
        let protection = selfProtection ? SelfProtection.apply(selfReserve: selfReserve) : nil
        protection?.warnings.forEach { log.log(.warning, "\($0)") }
        if protectSelf { protectOwnCgroup() }
        announce(all, protection: protection)
    }

    /// Runs until SIGTERM, SIGINT or SIGHUP.
    func run() { loop.run() }

    // MARK: Cgroups

    private func add(_ memory: MemoryCgroup) throws {
        if memory.version == .v2 && Reserves(system: system).store.read(memory) != nil {
            reconcileHigh(memory)
            // Writes to memory.max are reported by inotify: no timer, no polling.
            try watcher.onModification(of: "memory.max", in: memory) { [unowned self] in
                if memory.cgroup.isAlive { self.reconcileHigh(memory) }
            }
        }
        let wanted = try kinds(memory.version)
        if !options.dryRun && wanted.contains(.oom) { try killers.disable(memory) }
        try watcher.watch(memory, for: wanted.union([.removed]), pressure: pressure)
        if recursive { try watcher.followChildren(of: memory) }
    }

    /// v2: memory.high follows a changed memory.max, so the reserve stays what `oomctl reserve` set.
    private func reconcileHigh(_ memory: MemoryCgroup) {
        do {
            guard let (old, new) = try Reserves(system: system).reconcile(memory) else { return }
            log.log(
                level: .notice,
                "memory.high of \(memory.path.description.visibleControlCharacters) follows memory.max to keep its reserve: \(old) → \(new)",
                metadata: ["cgroup": .string(memory.path.description), "high_bytes": .stringConvertible(new.bytes)])
        } catch {
            log.log(
                .warning, "cannot keep memory.high in step with the reserve: \(error)",
                metadata: ["cgroup": .string(memory.path.description)])
        }
    }

    /// --protect-self: on v2, when watch (and its guardian) are alone in their cgroup, sets its memory.min to
    /// what they use now (after warm-up and the self reserve), rounded up to a MiB, so the kernel does not
    /// reclaim the handler's memory; the previous value comes back on exit.
    private func protectOwnCgroup() {
        do {
            let own = try MemoryCgroup.open(system.memoryCgroupPath(ofProcess: getpid()), in: system)
            guard own.version == .v2, !own.path.isRoot else {
                return log.log(.warning, "--protect-self needs watch in its own cgroup v2 (not the root); ignored")
            }
            let allowed = Set([getpid(), guardian?.pid].compactMap { $0 })
            let others = try own.processIDs().filter { !allowed.contains($0) }
            guard others.isEmpty else {
                return log.log(
                    .warning,
                    "--protect-self: \(own.path.description.visibleControlCharacters) holds \(others.count) other process(es); run watch in a cgroup of its own (e.g. a systemd service); ignored"
                )
            }
            let previous = try own.min() ?? .zero
            let mebibyte: UInt64 = 1 << 20
            let protection = ByteCount((try own.usage().bytes + mebibyte - 1) / mebibyte * mebibyte)
            try own.setMin(protection)
            protectedSelf = (own, previous)
        } catch {
            log.log(.warning, "--protect-self: \(error)")
        }
    }

    private func unprotectOwnCgroup() {
        guard let (memory, previous) = protectedSelf else { return }
        try? memory.setMin(previous)
        protectedSelf = nil
    }

    private func adopt(_ child: MemoryCgroup) {
        do {
            try add(child)
            log.info("watching new cgroup", metadata: ["cgroup": .string(child.path.description)])
        } catch {
            log.log(
                .warning, "cannot watch new cgroup: \(error)", metadata: ["cgroup": .string(child.path.description)])
        }
    }

    private static func descendants(of memory: MemoryCgroup) throws -> [MemoryCgroup] {
        var result: [MemoryCgroup] = []
        for child in try memory.children() {
            result.append(child)
            result += try descendants(of: child)
        }
        return result
    }

    // MARK: Lifecycle

    /// Undoes a start that failed half-way: re-enables every kernel killer already disabled.
    func abandon() {
        unprotectOwnCgroup()
        killers.restoreAll()
        let busy = reserves?.restoreAll() ?? []
        guardian?.shutDown(wait: busy.isEmpty)
    }

    private func stop(signal: Int32) {
        stoppedBySignal = signal
        shutDown()
        log.log(
            .watchStopped, "stopped by signal \(signal); the kernel OOM killer is restored everywhere",
            metadata: ["signal": .stringConvertible(signal)])
    }

    /// Ends the session: kills running hooks, restores every kernel killer and reserve grant, stops
    /// the guardian, and makes ``run()`` return.
    func shutDown() {
        handler?.cancelAll()
        unprotectOwnCgroup()
        killers.restoreAll()
        // Reserve grants go back after the killers: a task stalled at the raised limit can then be killed.
        let busy = reserves?.restoreAll() ?? []
        for path in busy {
            log.log(
                .warning, "usage is still above the original limit; the guardian restores it once usage allows",
                metadata: ["cgroup": .string(path.description)])
        }
        guardian?.shutDown(wait: busy.isEmpty)
        guardian = nil
        loop.stop()
    }

    /// Runs the code of a handling once before memory is locked, so that it is resident (and then
    /// locked) before an OOM needs it: a snapshot, its JSON, a policy decision. On a leaf below the first
    /// target: the code is the same for one cgroup as for a thousand, and a snapshot of a whole tree
    /// (1,001 cgroups: ~9 MiB of heap, measured) would stay in the heap that mlockall then locks.
    private func warmUp(_ memory: MemoryCgroup?) {
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
            options.triggering = leaf.path
            if let decision = try? PolicyEngine(options: options).decide(in: snapshot, under: leaf.path) {
                _ = JSONOutput.encode(decision)
            }
        }
    }

    private func announce(_ all: [MemoryCgroup], protection: SelfProtectionReport?) {
        let hierarchy = all.first?.cgroup.hierarchy
        var parts = ["watching \(all.count) cgroup\(all.count == 1 ? "" : "s")"]
        if let hierarchy { parts.append("on cgroup \(hierarchy.version) at \(hierarchy.mountPoint)") }
        if let version = hierarchy?.version, let wanted = try? kinds(version) {
            parts.append("for " + wanted.map(\.rawValue).sorted().joined(separator: ","))
        }
        parts.append("hooks \(options.hooks.count)")
        if case .kill(let policy) = options.action { parts.append("kill \(policy.policy.rawValue)") }
        parts.append("delay \(options.delay.compactDescription)")
        if options.dryRun { parts.append("DRY RUN") }
        if let protection {
            var memory = protection.memoryLocked ? "memory locked" : "memory not locked"
            if let resident = protection.resident {
                memory += " (resident \(resident)" + (protection.locked.map { ", locked \($0)" } ?? "") + ")"
            }
            parts.append(memory)
            if let reserve = protection.selfReserve { parts.append("self reserve \(reserve) pre-faulted") }
            if protection.scoreAdjusted { parts.append("oom_score_adj -1000") }
        }
        if let (memory, _) = protectedSelf, let protection = try? memory.min() {
            parts.append("memory.min \(protection) on \(memory.path.description.visibleControlCharacters)")
        }
        if let guardian { parts.append("guardian pid \(guardian.pid)") }
        log.log(
            .watchStarted, "\(parts.joined(separator: "; "))",
            metadata: ["cgroups": .stringConvertible(all.count), "pid": .stringConvertible(getpid())])
    }

    static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return String(decoding: buffer.prefix(max(count, 0)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Reporting

    private func report(_ step: HandlingStep) {
        if case .removed(let cgroup) = step {
            killers.forget(cgroup)
            reserves?.forget(cgroup)
        }
        if logsSteps { reporter.report(step) }
        observer?(step)
    }
}
