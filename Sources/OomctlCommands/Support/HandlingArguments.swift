import ArgumentParser
import Glibc
import OOMKit

/// The options of the handling pipeline, shared by `watch` and the sandbox runs of `simulate`: which
/// events, the hooks, the action, the deadline, the snapshots.
///
/// Options whose presence matters (a replay refuses them, a mode ignores them) are optional; their
/// defaults are applied in ``handlingOptions(defaultPolicy:)``.
struct HandlingArguments: ParsableArguments {
    /// The PSI trigger when --pressure is not given.
    static let defaultPressure = PressureTrigger.standard

    @Option(
        help: ArgumentHelp(
            "Events to handle, comma-separated: \(EventKindList.selectable.map(\.rawValue).joined(separator: ", ")) "
                + "(default: oom on v1; oom-kill,high,max on v2).",
            valueName: "EVENTS"),
        completion: EventKindList.defaultCompletionKind, transform: EventKindList.parse)
    var on: EventKindList?

    @Option(
        help: ArgumentHelp(
            "The PSI trigger of --on pressure: some|full STALL WINDOW, the window 500ms to 10s "
                + "(default: \"\(defaultPressure)\").",
            valueName: "TRIGGER"),
        transform: PressureTrigger.parse)
    var pressure: PressureTrigger?

    @Option(help: ArgumentHelp("A command to run on each event (repeatable; run in order).", valueName: "CMD"))
    var hook: [String] = []

    @Option(help: ArgumentHelp("A command to run after a kill, with --kill (repeatable).", valueName: "CMD"))
    var postKill: [String] = []

    @Option(
        help: ArgumentHelp(
            "How long a hook may run before its process group is killed (default: 10s).", valueName: "DURATION"),
        transform: Duration.parsePositive)
    var hookTimeout: Duration?

    @Option(
        help: ArgumentHelp(
            "Kill the victim a policy picks when hooks did not resolve the OOM, or none "
                + "(default: none; priority with watch --system).",
            valueName: "POLICY"))
    var kill: KillChoice?

    @OptionGroup var filters: VictimFilterArguments

    @OptionGroup var signalling: KillSignalArguments

    @Option(
        help: ArgumentHelp(
            "v2: what holds the cgroup while the snapshot and hooks run: none, or freeze (cgroup.freeze, "
                + "thawed before a kill, at the end, at --delay, and if watch dies) (default: none).",
            valueName: "HOLD"))
    var hold: HandlingOptions.Hold?

    @Option(
        help: ArgumentHelp(
            "v1: hand the OOM back to the kernel killer if unresolved after this long (default: 1s).",
            valueName: "DURATION"),
        transform: Duration.parse)
    var delay: Duration?

    @Option(
        help: ArgumentHelp("Write a snapshot of each event into DIR (mode 0600 files).", valueName: "DIR"),
        completion: .directory)
    var snapshotDir: String?

    @Option(
        help: ArgumentHelp(
            "The least time between two handlings of one cgroup; events between are coalesced (default: 250ms).",
            valueName: "DURATION"),
        transform: Duration.parse)
    var minInterval: Duration?

    @Flag(help: "Run hooks and decide, but never kill and never disable the kernel killer.")
    var dryRun = false

    @OptionGroup(title: "cgroup v2 distress (a high, max or pressure event starts a handling only on distress)")
    var distress: DistressArguments

    /// Whether --on asks for PSI pressure events.
    var wantsPressure: Bool { on?.kinds.contains(.pressure) == true }

    /// The pipeline options given on the command line (not the victim filters), by name: what a replay
    /// (`simulate --from`), which runs no pipeline, refuses.
    var givenPipelineOptions: [String] {
        let given: [(Bool, String)] =
            [
                (on != nil, "--on"), (pressure != nil, "--pressure"), (!hook.isEmpty, "--hook"),
                (!postKill.isEmpty, "--post-kill"), (hookTimeout != nil, "--hook-timeout"), (kill != nil, "--kill"),
                (delay != nil, "--delay"), (snapshotDir != nil, "--snapshot-dir"),
                (minInterval != nil, "--min-interval"),
                (dryRun, "--dry-run"), (hold != nil, "--hold"),
            ] + (distress.given + signalling.given).map { (true, $0) }
        return given.filter(\.0).map(\.1)
    }

    /// Checks everything that does not need the live system. `systemPressure`: the PSI trigger is used
    /// without --on pressure (watch --system).
    func check(systemPressure: Bool = false, defaultPolicy: KillChoice = .none) throws {
        if pressure != nil && !wantsPressure && !systemPressure {
            throw ValidationError(
                "--pressure is the trigger of --on pressure (and of watch --system); add pressure to --on")
        }
        if hookTimeout != nil && hook.isEmpty && postKill.isEmpty {
            throw ValidationError("--hook-timeout limits hooks; give a --hook or --post-kill")
        }
        if !postKill.isEmpty && (kill ?? defaultPolicy) == .none {
            throw ValidationError("--post-kill runs after a kill; give --kill POLICY")
        }
        if !signalling.given.isEmpty && (kill ?? defaultPolicy) == .none {
            throw ValidationError("--signal and --grace say how a victim is killed; give --kill POLICY")
        }
        try signalling.validate()
        _ = try handlingOptions(defaultPolicy: defaultPolicy)
        if let snapshotDir {
            var info = stat()
            guard stat(snapshotDir, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                throw ValidationError("--snapshot-dir '\(snapshotDir)' is not a directory")
            }
        }
        for command in hook + postKill {
            // A hook that names a program by path must exist: fail now, not at the first OOM.
            guard let program = command.split(separator: " ").first, program.contains("/") else { continue }
            guard access(String(program), X_OK) == 0 else {
                throw ValidationError("hook program '\(program)' does not exist or is not executable")
            }
        }
        try filters.validate()
    }

    /// The event kinds asked for with --on (or the version's default).
    func eventKinds(version: CgroupVersion) -> Set<OOMEvent.Kind> {
        guard let on else { return WatchConfiguration.Events.default.kinds(for: version) }
        return Set(on.kinds)
    }

    /// The PSI trigger for --on pressure (nil when not asked for).
    func pressureTrigger() -> PressureTrigger? {
        wantsPressure ? pressure ?? Self.defaultPressure : nil
    }

    /// The PSI trigger of watch --system, which always arms one.
    var systemPressureTrigger: PressureTrigger { pressure ?? Self.defaultPressure }

    /// The pipeline's options. Cgroup arguments of the filters are checked for form only; see
    /// ``resolvedHandlingOptions(in:defaultPolicy:)`` for the live system.
    func handlingOptions(defaultPolicy: KillChoice = .none) throws -> HandlingOptions {
        var options = HandlingOptions()
        options.hooks = hook
        options.postKillHooks = postKill
        options.dryRun = dryRun
        options.snapshotDirectory = snapshotDir
        if let hookTimeout { options.hookTimeout = hookTimeout }
        if let delay { options.delay = delay }
        if let minInterval { options.minimumInterval = minInterval }
        distress.apply(to: &options)
        if let hold { options.hold = hold }
        options.kill = signalling.killOptions(timeout: options.kill.timeout)
        if let policy = (kill ?? defaultPolicy).policy {
            var policyOptions = try filters.options(resolve: { try CgroupPath($0) })
            policyOptions.policy = policy
            options.action = .kill(policyOptions)
        } else if filters.isCustomized {
            throw ValidationError("--process and the victim filters go with --kill POLICY")
        }
        return options
    }

    /// The pipeline's options with the filters' cgroup arguments resolved on the live system.
    func resolvedHandlingOptions(
        in system: CgroupSystem, defaultPolicy: KillChoice = .none
    ) throws
        -> HandlingOptions
    {
        var options = try handlingOptions(defaultPolicy: defaultPolicy)
        if case .kill(let chosen) = options.action {
            var policy = try filters.options(resolve: { text throws(CgroupError) in
                try system.memoryCgroupPath(for: text)
            })
            policy.policy = chosen.policy
            options.action = .kill(policy)
        }
        return options
    }
}

/// What counts as distress on cgroup v2 (``MemoryDistress``), and how long a verdict takes.
struct DistressArguments: ParsableArguments {
    static let defaults = DistressThresholds.default

    @Option(
        name: .customLong("distress-unreclaimable"),
        help: ArgumentHelp(
            "Distress when unreclaimable memory (anon and shmem without swap room, unevictable, kernel memory) "
                + "reaches this share of memory.high, else memory.max (default: \(Share(fraction: defaults.unreclaimableShare))).",
            valueName: "PERCENT"),
        transform: Share.parse)
    var unreclaimable: Share?

    @Option(
        name: .customLong("distress-full-stall"),
        help: ArgumentHelp(
            "Distress when every task of the cgroup stalls on memory (PSI full) for this share of the window "
                + "(default: \(Share(fraction: defaults.fullStallShare))).",
            valueName: "PERCENT"),
        transform: Share.parse)
    var fullStall: Share?

    @Option(
        name: .customLong("distress-thrashing"),
        help: ArgumentHelp(
            "Distress when working-set refaults per second reach this share of the ceiling while tasks stall "
                + "(default: \(Share(fraction: defaults.thrashingShare))).",
            valueName: "PERCENT"),
        transform: Share.parse)
    var thrashing: Share?

    @Option(
        name: .customLong("distress-window"),
        help: ArgumentHelp(
            "How far apart the two samples of a verdict are when the first shows no distress (default: 500ms).",
            valueName: "DURATION"),
        transform: Duration.parsePositive)
    var window: Duration?

    @Option(
        help: ArgumentHelp(
            "v2: a handling is resolved when the verdict has stayed clear this long (default: 500ms).",
            valueName: "DURATION"),
        transform: Duration.parse)
    var settle: Duration?

    /// The options given, by flag name.
    var given: [String] {
        [
            (unreclaimable != nil, "--distress-unreclaimable"), (fullStall != nil, "--distress-full-stall"),
            (thrashing != nil, "--distress-thrashing"), (window != nil, "--distress-window"),
            (settle != nil, "--settle"),
        ].filter(\.0).map(\.1)
    }

    func apply(to options: inout HandlingOptions) {
        if let unreclaimable { options.distress.unreclaimableShare = unreclaimable.fraction }
        if let fullStall { options.distress.fullStallShare = fullStall.fraction }
        if let thrashing { options.distress.thrashingShare = thrashing.fraction }
        if let window { options.distressWindow = window }
        if let settle { options.settleTime = settle }
    }
}
