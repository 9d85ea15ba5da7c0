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
    private let loop: EventLoop
    private let signals: SignalSource
    private let watcher: OOMWatcher
    private var handler: Handler?
    private var killers: KernelKillerControl
    private var guardian: GuardianClient?
    private let log = Logger(label: "oomctl.watch")
    private let reporter = StepReporter()

    init(
        system: CgroupSystem, options: HandlingOptions, kinds: @escaping (CgroupVersion) throws -> Set<OOMEvent.Kind>,
        pressure: PressureTrigger?, recursive: Bool, selfProtection: Bool
    ) throws {
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
        let handlesV1OOMs = try kinds(.v1).contains(.oom)
        let needsGuardian = !options.dryRun && handlesV1OOMs && all.contains { $0.version == .v1 }
        if needsGuardian {
            let client = try GuardianClient(executable: Self.executablePath())
            guardian = client
            killers = KernelKillerControl(guardian: client)
        }
        let handler = Handler(
            system: system, loop: loop, options: options,
            rearm: { [unowned self] memory in try? self.killers.disable(memory) },
            onStep: { [unowned self] step in self.report(step) })
        self.handler = handler
        watcher.onEvent = { event in handler.handle(event) }
        watcher.onChildCreated = { [unowned self] child in self.adopt(child) }
        for memory in all { try add(memory) }
        try loop.add(signals.descriptor) { [unowned self] _ in self.stop(signal: self.signals.read()) }

        warmUp(memories.first)
        let protection = selfProtection ? SelfProtection.apply() : nil
        protection?.warnings.forEach { log.log(.warning, "\($0)") }
        announce(all, protection: protection)
    }

    /// Runs until SIGTERM, SIGINT or SIGHUP.
    func run() { loop.run() }

    // MARK: Cgroups

    private func add(_ memory: MemoryCgroup) throws {
        let wanted = try kinds(memory.version)
        if !options.dryRun && wanted.contains(.oom) { try killers.disable(memory) }
        try watcher.watch(memory, for: wanted.union([.removed]), pressure: pressure)
        if recursive { try watcher.followChildren(of: memory) }
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
        killers.restoreAll()
        guardian?.shutDown()
    }

    private func stop(signal: Int32) {
        handler?.cancelAll()
        killers.restoreAll()
        guardian?.shutDown()
        log.log(
            .watchStopped, "stopped by signal \(signal); the kernel OOM killer is restored everywhere",
            metadata: ["signal": .stringConvertible(signal)])
        loop.stop()
    }

    /// Runs the code of a handling once before memory is locked, so that it is resident (and then
    /// locked) before an OOM needs it: a snapshot, its JSON, a policy decision.
    private func warmUp(_ memory: MemoryCgroup?) {
        guard let memory else { return }
        let collector = SnapshotCollector(system: system)
        if let snapshot = try? collector.collect(root: memory.path, options: SnapshotOptions(topProcesses: 5)) {
            _ = snapshot.jsonBytes()
            _ = try? PolicyEngine(options: PolicyOptions()).decide(in: snapshot, under: memory.path)
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
            if protection.scoreAdjusted { parts.append("oom_score_adj -1000") }
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
        if case .removed(let cgroup) = step { killers.forget(cgroup) }
        reporter.report(step)
    }
}
