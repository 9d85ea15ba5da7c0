import CLinux
import Glibc
import Logging
import OOMKit

/// `oomctl watch --system`: pre-empt the kernel's global OOM killer.
///
/// Stock kernels tell userspace nothing before a global OOM, so this acts on the way there: a PSI
/// trigger on /proc/pressure/memory wakes it when tasks stall on memory, and only then is available
/// memory (and free swap) compared with the thresholds — no polling while memory is plentiful. Below
/// the warn threshold the hooks run; below the act threshold the hooks run and the policy's victim
/// (priority by default) among the cgroups of the hierarchy, or of the `--under` subtrees, is killed,
/// unless memory recovered while choosing. Then a quiet period before acting again.
final class SystemWatchSession {
    private let system: CgroupSystem
    private let thresholds: SystemMemoryThresholds
    private let trigger: PressureTrigger
    private var armedTrigger: PressureTrigger
    private let cooldown: Duration
    private let loop: EventLoop
    private let signals: SignalSource
    private let recheck: DeadlineTimer
    private let reporter = StepReporter()
    private let log = Logger(label: "oomctl.watch")
    private var actHandler: Handler?
    private var warnHandler: Handler?
    private var root: CgroupPath = .root
    private var pressureDescriptor: Int32 = -1
    private var quietUntil: ContinuousClock.Instant?
    private var lastPressure: ContinuousClock.Instant?
    private let clock = ContinuousClock()
    private var nextSyntheticCount: UInt64 = 0

    /// The longest wait between two checks of memory without pressure (nil: PSI only). The wait is the
    /// headroom above the act threshold divided by ``assumedConsumptionRate``, so it is short only
    /// when memory is nearly short: on a machine with nothing to reclaim PSI stays quiet until the
    /// last pages, and the kernel's OOM killer would act first.
    private let maxCheckInterval: Duration?
    /// How fast memory is assumed to be eaten when sizing the wait (1 GiB/s).
    static let assumedConsumptionRate = Double(1 << 30)

    init(
        system: CgroupSystem, thresholds: SystemMemoryThresholds, trigger: PressureTrigger, cooldown: Duration,
        maxCheckInterval: Duration?
    ) throws {
        self.system = system
        self.maxCheckInterval = maxCheckInterval
        self.thresholds = thresholds
        self.trigger = trigger
        self.armedTrigger = trigger
        self.cooldown = cooldown
        SelfProtection.raiseFileLimit()
        loop = try EventLoop()
        signals = try SignalSource()
        recheck = try DeadlineTimer()
    }

    deinit { if pressureDescriptor >= 0 { close(pressureDescriptor) } }

    /// Prepares the handlers for the subtrees in `under` (the whole hierarchy when empty) and arms the
    /// PSI trigger; then checks memory once, so a machine already short acts at once.
    func start(options: HandlingOptions, under: [CgroupPath], selfProtection: Bool) throws {
        root = Self.commonAncestor(under)
        var act = options
        act.killTriggeringWhenNoCandidates = false
        if case .kill(var policy) = act.action {
            policy.protectedCgroups += try Self.outside(under, below: root, in: system)
            act.action = .kill(policy)
        }
        let thresholds = self.thresholds
        let procfs = system.procfs
        // Re-checked after each hook and just before a kill: memory that recovered meanwhile means
        // nothing is killed.
        act.resolution = { (try? procfs.memInfo()).map { thresholds.level(of: $0) < .act } ?? false }
        var warn = options
        warn.action = .none
        warn.resolution = { (try? procfs.memInfo()).map { thresholds.level(of: $0) < .warn } ?? false }
        actHandler = Handler(
            system: system, loop: loop, options: act, rearm: { _ in }, onStep: { [unowned self] in self.step($0) })
        warnHandler = Handler(
            system: system, loop: loop, options: warn, rearm: { _ in }, onStep: { [unowned self] in self.step($0) })

        try armPressureTrigger()
        try loop.add(signals.descriptor) { [unowned self] _ in
            let signal = self.signals.read()
            self.actHandler?.cancelAll()
            self.warnHandler?.cancelAll()
            self.log.log(.watchStopped, "stopped by signal \(signal)", metadata: ["signal": .stringConvertible(signal)])
            self.loop.stop()
        }
        try loop.add(recheck.descriptor) { [unowned self] _ in
            self.recheck.acknowledge()
            self.evaluate(reason: "re-check")
        }
        let protection = selfProtection ? SelfProtection.apply() : nil
        protection?.warnings.forEach { log.log(.warning, "\($0)") }
        var line = "watching system memory: PSI trigger \(armedTrigger) on \(system.procPath)/pressure/memory; "
        line += "act below \(thresholds.actAvailable) available"
        if let warn = thresholds.warnAvailable { line += ", warn below \(warn)" }
        if let swap = thresholds.actSwapFree { line += " (and below \(swap) free swap where swap exists)" }
        line += "; victims under \(root.description.visibleControlCharacters); cooldown \(cooldown.compactDescription)"
        if options.dryRun { line += "; DRY RUN" }
        if let maxCheckInterval {
            line += "; re-checks at most every \(maxCheckInterval.compactDescription) (sooner as memory gets short)"
        }
        if let protection, protection.memoryLocked { line += "; memory locked" }
        log.log(.watchStarted, "\(line)", metadata: ["pid": .stringConvertible(getpid())])
        evaluate(reason: "start-up")
    }

    func run() { loop.run() }

    // MARK: Evaluation

    private func armPressureTrigger() throws {
        let path = system.procPath + "/pressure/memory"
        let descriptor = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw SystemCallError("open (PSI needs Linux 4.20 with psi enabled)", path: path, errno: errno)
        }
        pressureDescriptor = descriptor
        armedTrigger = try trigger.arm(on: descriptor, path: path)
        if armedTrigger != trigger {
            log.log(
                .warning,
                "this process may only use PSI windows that are multiples of 2s (no CAP_SYS_RESOURCE): armed \(armedTrigger) instead of \(trigger)"
            )
        }
        try loop.add(descriptor, priority: true) { [unowned self] _ in
            self.lastPressure = self.clock.now
            self.evaluate(reason: "pressure")
        }
    }

    /// Reads meminfo and acts on the level. Memory is read only here: at start-up, when PSI reports
    /// pressure, and on re-checks while memory is short or pressure was seen in the last window.
    private func evaluate(reason: String) {
        guard let memory = try? system.procfs.memInfo() else { return }
        let level = thresholds.level(of: memory)
        let now = clock.now
        let busy = (actHandler?.activeCount ?? 0) + (warnHandler?.activeCount ?? 0) > 0
        if level > .ok, !busy {
            if let quietUntil, now < quietUntil {
                recheck.arm(after: quietUntil - now)
                return
            }
            nextSyntheticCount += 1
            let event = OOMEvent(kind: .pressure, cgroup: root, count: 1, detectedAt: now)
            let text =
                "system memory below the \(level == .act ? "act" : "warn") threshold (\(reason)): "
                + "available \(memory.available?.description ?? "?") of \(memory.total?.description ?? "?")"
            log.log(
                level == .act ? .oomDetected : .warning, "\(text)",
                metadata: [
                    "event": "system-\(level)", "available_bytes": .stringConvertible(memory.available?.bytes ?? 0),
                ])
            (level == .act ? actHandler : warnHandler)?.handle(event)
            return
        }
        // Keep looking while memory is short or pressure was seen within the trigger's window; and,
        // with a check interval, again when the headroom could be used up.
        var next: Duration?
        if level > .ok || lastPressure.map({ now - $0 < armedTrigger.window * 2 }) == true {
            next = .milliseconds(250)
        }
        if let maxCheckInterval, let total = memory.total, let available = memory.available {
            let headroom = Double(available.bytes) - Double(thresholds.actAvailable.bytes(of: total))
            let seconds = max(0.1, headroom / Self.assumedConsumptionRate)
            let adaptive = min(maxCheckInterval, .nanoseconds(Int64(seconds * 1e9)))
            next = next.map { min($0, adaptive) } ?? adaptive
        }
        if let next { recheck.arm(after: next) }
    }

    private func step(_ step: HandlingStep) {
        reporter.report(step)
        if case .finished = step {
            quietUntil = clock.now + cooldown
            recheck.arm(after: cooldown)
        }
    }

    // MARK: Subtrees

    /// The deepest cgroup containing every path (the hierarchy root when none is given).
    static func commonAncestor(_ paths: [CgroupPath]) -> CgroupPath {
        guard var common = paths.first else { return .root }
        for path in paths.dropFirst() {
            while !path.isDescendant(of: common), let parent = common.parent { common = parent }
        }
        return common
    }

    /// The cgroups below `root` that are neither in one of `under` nor on the way to one: protected,
    /// so that the policy picks only inside the `--under` subtrees.
    static func outside(_ under: [CgroupPath], below root: CgroupPath, in system: CgroupSystem) throws -> [CgroupPath] {
        guard !under.isEmpty, !under.contains(root) else { return [] }
        var protected: [CgroupPath] = []
        func visit(_ memory: MemoryCgroup) throws {
            for child in try memory.children() {
                if under.contains(where: { child.path.isDescendant(of: $0) }) { continue }
                if under.contains(where: { $0.isDescendant(of: child.path) }) {
                    try visit(child)
                } else {
                    protected.append(child.path)
                }
            }
        }
        try visit(MemoryCgroup.open(root, in: system))
        return protected
    }
}
