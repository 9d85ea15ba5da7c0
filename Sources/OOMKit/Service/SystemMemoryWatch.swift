/// The system scope of a ``WatchService``: pre-empt the kernel's global OOM killer.
///
/// Stock kernels tell userspace nothing before a global OOM, so this acts on the way there: a PSI
/// trigger on /proc/pressure/memory wakes it when tasks stall on memory, and only then is available
/// memory (and free swap) compared with the thresholds — no polling while memory is plentiful. Below
/// the warn threshold the hooks run; below the act threshold the hooks run and the policy's victim among
/// the cgroups below the root is killed, unless memory recovered while choosing. Then a quiet period.
/// Besides PSI, memory is re-checked after a wait sized by the headroom above the act threshold (PSI
/// stays quiet until the last pages when nothing can be reclaimed).
final class SystemMemoryWatch {
    /// How fast memory is assumed to be eaten when sizing the wait between checks (1 GiB/s).
    static let assumedConsumptionRate = Double(1 << 30)
    /// How often memory is looked at while it is short, or pressure was seen within the trigger's window.
    static let shortMemoryCheckInterval = Duration.milliseconds(250)

    private let system: CgroupSystem
    private let scope: WatchConfiguration.SystemScope
    private let loop: EventLoop
    private let onNotice: (WatchNotice) -> Void
    private let recheck: DeadlineTimer
    private let clock = ContinuousClock()
    /// The deepest cgroup containing every `under` subtree: the root of every handling.
    let root: CgroupPath
    private var actHandler: Handler?
    private var warnHandler: Handler?
    private var pressure: PressureSource?
    private var quietUntil: ContinuousClock.Instant?
    private var lastPressure: ContinuousClock.Instant?

    init(
        system: CgroupSystem, scope: WatchConfiguration.SystemScope, loop: EventLoop,
        onNotice: @escaping (WatchNotice) -> Void
    ) throws(SystemCallError) {
        self.system = system
        self.scope = scope
        self.loop = loop
        self.onNotice = onNotice
        recheck = try DeadlineTimer()
        root = Self.commonAncestor(scope.under)
    }

    /// The trigger as armed (after ``start(options:onStep:)``).
    var armedTrigger: PressureTrigger { pressure?.armed ?? scope.trigger }

    var activeCount: Int { (actHandler?.activeCount ?? 0) + (warnHandler?.activeCount ?? 0) }

    /// Prepares the act and warn handlers and arms the PSI trigger.
    func start(options: HandlingOptions, onStep: @escaping (HandlingStep) -> Void) throws {
        var act = options
        act.killTriggeringWhenNoCandidates = false
        // Its evidence is MemAvailable, which counts page cache and reclaimable slab as available: it
        // does not act on fullness, and its root (often the v2 root) has no ceiling to judge against.
        act.confirmsDistress = false
        if case .kill(var policy) = act.action {
            policy.protectedCgroups += try Self.outside(scope.under, below: root, in: system)
            act.action = .kill(policy)
        }
        let thresholds = scope.thresholds
        let procfs = system.procfs
        // Re-checked after each hook and just before a kill: memory that recovered meanwhile means
        // nothing is killed.
        act.resolution = { (try? procfs.memInfo()).map { thresholds.level(of: $0) < .act } ?? false }
        var warn = options
        warn.action = .none
        warn.confirmsDistress = false
        warn.resolution = { (try? procfs.memInfo()).map { thresholds.level(of: $0) < .warn } ?? false }
        let report: (HandlingStep) -> Void = { [unowned self] step in
            if case .finished = step {
                quietUntil = clock.now + scope.cooldown
                recheck.arm(after: scope.cooldown)
            }
            onStep(step)
        }
        actHandler = Handler(system: system, loop: loop, options: act, rearm: { _ in }, onStep: report)
        warnHandler = Handler(system: system, loop: loop, options: warn, rearm: { _ in }, onStep: report)

        let path = system.procPath + "/pressure/memory"
        let source = try PressureSource(
            file: path, shownPath: path, trigger: scope.trigger, loop: loop
        ) { [unowned self] in
            lastPressure = clock.now
            evaluate(reason: "pressure")
        }
        pressure = source
        if source.armed != scope.trigger {
            onNotice(.pressureTriggerAdjusted(asked: scope.trigger, armed: source.armed))
        }
        try loop.add(recheck.descriptor) { [unowned self] _ in
            recheck.acknowledge()
            evaluate(reason: "re-check")
        }
    }

    /// Shutdown: the handlers stop, and neither pressure nor a re-check wakes anything any more.
    func stop() {
        actHandler?.cancelAll()
        warnHandler?.cancelAll()
        pressure = nil
        loop.remove(recheck.descriptor)
    }

    /// Reads meminfo and acts on the level. Memory is read only here: at start-up, when PSI reports
    /// pressure, and on re-checks while memory is short or pressure was seen in the last window.
    func evaluate(reason: String) {
        guard let memory = try? system.procfs.memInfo() else { return }
        let thresholds = scope.thresholds
        let level = thresholds.level(of: memory)
        let now = clock.now
        if level > .ok, activeCount == 0 {
            if let quietUntil, now < quietUntil {
                recheck.arm(after: quietUntil - now)
                return
            }
            onNotice(.systemMemoryShort(level: level, reason: reason, available: memory.available, total: memory.total))
            let event = OOMEvent(kind: .pressure, cgroup: root, count: 1, detectedAt: now)
            (level == .act ? actHandler : warnHandler)?.handle(event)
            return
        }
        // Keep looking while memory is short or pressure was seen within the trigger's window; and,
        // with a check interval, again when the headroom could be used up.
        var next: Duration?
        if level > .ok || lastPressure.map({ now - $0 < armedTrigger.window * 2 }) == true {
            next = Self.shortMemoryCheckInterval
        }
        if let maxCheckInterval = scope.maxCheckInterval, let total = memory.total, let available = memory.available {
            let headroom = Double(available.bytes) - Double(thresholds.actAvailable.bytes(of: total))
            let seconds = max(0.1, headroom / Self.assumedConsumptionRate)
            let adaptive = min(maxCheckInterval, .nanoseconds(Int64(seconds * 1e9)))
            next = next.map { min($0, adaptive) } ?? adaptive
        }
        if let next { recheck.arm(after: next) }
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
    /// so that the policy picks only inside the `under` subtrees.
    static func outside(
        _ under: [CgroupPath], below root: CgroupPath, in system: CgroupSystem
    ) throws(CgroupError) -> [CgroupPath] {
        guard !under.isEmpty, !under.contains(root) else { return [] }
        var protected: [CgroupPath] = []
        func visit(_ memory: MemoryCgroup) throws(CgroupError) {
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
