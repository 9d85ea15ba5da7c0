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
            "Instead of a kill, take the machine down when hooks did not resolve the OOM, like the kernel's "
                + "panic_on_oom: crash (SysRq c, a kernel panic) or reboot (SysRq b), once the snapshot and file "
                + "systems are synced. Needs --snapshot-dir, and --confirm-panic unless --dry-run.",
            valueName: "MODE"))
    var panic: PanicMode?

    @Flag(help: "Confirm that --panic may crash or reboot this machine.")
    var confirmPanic = false

    /// Tests only: a regular file or FIFO that takes the SysRq command instead of /proc/sysrq-trigger.
    @Option(help: ArgumentHelp(visibility: .private))
    var sysrqTriggerStandIn: String?

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
                (minInterval != nil, "--min-interval"), (dryRun, "--dry-run"), (hold != nil, "--hold"),
                (panic != nil, "--panic"), (confirmPanic, "--confirm-panic"),
                (sysrqTriggerStandIn != nil, "--sysrq-trigger-stand-in"),
            ] + (distress.given + signalling.given).map { (true, $0) }
        return given.filter(\.0).map(\.1)
    }

    /// Checks everything that does not need the live system. `systemPressure`: the PSI trigger is used
    /// without --on pressure (watch --system). `sandbox`: a simulate run, which only rehearses a panic.
    func check(systemPressure: Bool = false, defaultPolicy: KillChoice = .none, sandbox: Bool = false) throws {
        try checkPanic(sandbox: sandbox)
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
            // Opened as each snapshot will be: no symbolic link anywhere on the way (AtomicFile).
            do {
                close(try AtomicFile.openDirectory(snapshotDir))
            } catch {
                throw ValidationError("--snapshot-dir '\(snapshotDir)' is not a directory to write in: \(error.reason)")
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

    /// --panic and its companions: no kill beside it, a snapshot directory, and (watch, not a dry run)
    /// the confirmation.
    private func checkPanic(sandbox: Bool) throws {
        guard let panic else {
            let orphans: [(Bool, String)] = [
                (confirmPanic, "--confirm-panic"), (sysrqTriggerStandIn != nil, "--sysrq-trigger-stand-in"),
            ]
            if let (_, name) = orphans.first(where: \.0) { throw ValidationError("\(name) goes with --panic") }
            return
        }
        if sandbox {
            if confirmPanic {
                throw ValidationError(
                    "--confirm-panic does nothing in a sandbox run: simulate rehearses --panic and never writes "
                        + "/proc/sysrq-trigger")
            }
            if sysrqTriggerStandIn != nil {
                throw ValidationError("--sysrq-trigger-stand-in goes with watch; simulate writes no trigger")
            }
        }
        let killing: [(Bool, String)] =
            [(kill != nil, "--kill"), (!postKill.isEmpty, "--post-kill")] + signalling.given.map { (true, $0) }
        if let (_, name) = killing.first(where: \.0) {
            throw ValidationError("--panic takes the machine down instead of a kill: drop \(name)")
        }
        if filters.isCustomized {
            throw ValidationError("--process and the victim filters choose a victim; --panic kills none")
        }
        guard snapshotDir != nil else {
            throw ValidationError(
                "--panic needs --snapshot-dir DIR: the snapshot is the evidence that outlives the "
                    + "\(panic.rawValue); give a directory on persistent storage")
        }
        if !sandbox && !dryRun && !confirmPanic {
            throw ValidationError(
                "--panic \(panic.rawValue) takes this machine down when an OOM is not resolved: add --confirm-panic "
                    + "to mean it (or --dry-run to see what it would do)")
        }
    }

    /// Where --panic writes its SysRq command: the stand-in given (tests), the kernel's trigger (`live`,
    /// not a dry run: opened now, so a missing privilege shows at start-up), or a rehearsal.
    func sysrqTrigger(procPath: String, live: Bool) throws(SysrqTriggerError) -> SysrqTrigger {
        if let sysrqTriggerStandIn { return try .standIn(sysrqTriggerStandIn) }
        if live && !dryRun { return try .kernel(procPath: procPath) }
        return .rehearsal(procPath: procPath)
    }

    /// Refuses --on events that a cgroup of `version` never reports (v1: high, max, oom-kill), which
    /// would have watch start and wait for nothing.
    func checkEvents(on version: CgroupVersion) throws {
        let unreported = on?.kinds.filter { !OOMEvent.Kind.reported(on: version).contains($0) } ?? []
        guard !unreported.isEmpty else { return }
        let names = unreported.map(\.rawValue).joined(separator: ",")
        throw ValidationError(
            "--on \(names): the memory cgroups here are cgroup \(version), which never reports "
                + "\(unreported.count == 1 ? "it" : "them") (high, max and oom-kill are memory.events counters, "
                + "which v1 does not have); on v1 watch handles oom, and pressure where the kernel has memory.pressure")
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
        if let panic {
            // A rehearsal until resolvedHandlingOptions(in:defaultPolicy:live:) opens the real trigger.
            options.action = .panic(PanicOptions(mode: panic, trigger: .rehearsal()))
        } else if let policy = (kill ?? defaultPolicy).policy {
            var policyOptions = try filters.options(resolve: { try CgroupPath($0) })
            policyOptions.policy = policy
            options.action = .kill(policyOptions)
        } else if filters.isCustomized {
            throw ValidationError("--process and the victim filters go with --kill POLICY")
        }
        return options
    }

    /// The pipeline's options with the filters' cgroup arguments resolved on the live system, and the
    /// SysRq trigger of --panic opened (`live`: watch; a sandbox run only rehearses).
    func resolvedHandlingOptions(
        in system: CgroupSystem, defaultPolicy: KillChoice = .none, live: Bool
    ) throws
        -> HandlingOptions
    {
        var options = try handlingOptions(defaultPolicy: defaultPolicy)
        if case .panic(var panic) = options.action {
            panic.trigger = try sysrqTrigger(procPath: system.procPath, live: live)
            options.action = .panic(panic)
        }
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
