import ArgumentParser
import Glibc
import Logging
import OOMKit

/// `oomctl watch`: the userspace OOM handler.
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Handle OOMs in memory cgroups: be woken by the kernel, run hooks, pick and kill a victim.",
        discussion: """
            Blocks on kernel notifications (no polling) for each CGROUP and, for every event, runs the \
            handling pipeline: detect → snapshot (--snapshot-dir) → hooks (--hook, in order) → kill the \
            victim the policy picks (--kill) → post-kill hooks → fallback to the kernel killer at the \
            deadline (--delay) → report.

            On cgroup v1, watch disables the kernel OOM killer on the cgroups it handles \
            (memory.oom_control), so tasks that hit the limit stall until the handler acts; if the OOM is \
            not resolved by --delay it re-enables the kernel killer. It restores memory.oom_control on \
            exit, and a guardian process restores it at once if watch itself is killed (and kills its \
            hooks), or is stopped or stuck past --delay. One watch per cgroup: another watch on a cgroup already \
            armed is refused (exit 75). On cgroup \
            v2 the kernel does not wait: watch acts on memory.high / memory.max events and PSI before the \
            limit, and reports oom-kill events after the fact.

            A hook that exits 0 and leaves the OOM resolved (e.g. it freed memory or raised the limit) \
            ends the handling: nothing is killed.

            Reserves (see oomctl reserve): on v1, when a cgroup with a reserve hits OOM, watch raises its \
            limit by the reserve before the hooks run, ranks it lowest for --kill priority, and writes the \
            original limit back once usage allows it (its guardian does so if watch dies). \
            --self-reserve SIZE pre-faults and locks SIZE of heap for watch itself; on v2, --protect-self \
            sets memory.min of watch's own cgroup (when watch is alone in it) to what it uses, and puts the \
            previous value back on exit.

            Hooks run as /bin/sh -c CMD in their own process group, killed with their children at \
            --hook-timeout. A CMD of plain words whose first is a path (/usr/local/bin/dump-heap --all) \
            is started directly, one exec sooner: what the shell would run, without the shell.

            --panic crash|reboot takes the machine down instead of a kill, as the kernel's panic_on_oom \
            would, once the snapshot (--snapshot-dir is required) and the file systems are synced: SysRq c \
            (a kernel panic, and a crash dump where kdump is set up) or b (an immediate reboot). It needs \
            --confirm-panic unless --dry-run, and answers only oom and pressure events (never v2 high or \
            max, which a healthy cgroup at its limit raises all day).

            HOOK ENVIRONMENT:
              OOMCTL_EVENT           oom, oom-kill, high, max or pressure
              OOMCTL_CGROUP          the cgroup, hierarchy-relative (any bytes but '/')
              OOMCTL_CGROUP_PATH     its directory under the cgroup mount
              OOMCTL_CGROUP_VERSION  1 or 2
              OOMCTL_USAGE, OOMCTL_LIMIT  bytes ("max" for no limit)
              OOMCTL_SNAPSHOT        the snapshot file, with --snapshot-dir
              OOMCTL_VICTIM_CGROUP, OOMCTL_VICTIM_PID(S), OOMCTL_FREED_BYTES  (post-kill hooks)
              OOMCTL_RESERVE         v1: the reserve granted for this OOM, bytes
              OOMCTL_HANDLING_ID, OOMCTL_COUNT, OOMCTL_DRY_RUN
            stdin holds the same as one JSON object (plus the decision and the kill report). Never \
            paste these into a command line: read them from the environment or stdin.

            EXAMPLES:
              oomctl watch /batch.slice --hook 'cat /proc/vmstat > /tmp/oom-$OOMCTL_HANDLING_ID'
              oomctl watch /batch.slice --recursive --kill priority --delay 2s
              oomctl watch --pid 1234 --kill largest --process --snapshot-dir /var/tmp/oom
              oomctl watch /app --on high,oom-kill --hook ./throttle.sh --json
              oomctl reserve /batch.slice 64M && oomctl watch /batch.slice --self-reserve 16M
              oomctl watch --system --min-available 2% --panic reboot --confirm-panic --snapshot-dir /var/lib/oomctl

            \(ExitStatus.helpText)
            """
    )

    @Argument(
        help: ArgumentHelp("Memory cgroups to watch.", valueName: "CGROUP"),
        completion: .custom(CgroupCompletion.candidates))
    var cgroups: [String] = []

    @Option(help: ArgumentHelp("Watch the memory cgroup of this process (repeatable).", valueName: "PID"))
    var pid: [Int32] = []

    @Flag(help: "Also watch every cgroup below, including ones created later; each counts only its own events.")
    var recursive = false

    @Flag(help: "Pre-empt the kernel's global OOM killer: act on system-wide memory pressure (see oomctl-watch(1)).")
    var system = false

    @Option(
        help: ArgumentHelp(
            "With --system: act when available memory falls below this, a share or a size (default: 5%); "
                + "WARN,ACT (10%,5%) also warns.",
            valueName: "THRESHOLD"),
        transform: ThresholdPair.parse)
    var minAvailable: ThresholdPair?

    @Option(
        help: ArgumentHelp(
            "With --system, where swap exists: also require free swap below this (default: 10%; WARN,ACT pairs too).",
            valueName: "THRESHOLD"),
        transform: ThresholdPair.parse)
    var minSwapFree: ThresholdPair?

    @Option(
        help: ArgumentHelp(
            "With --system: the quiet period after acting (default: \(WatchConfiguration.SystemScope.defaultCooldown.compactDescription)).",
            valueName: "DURATION"),
        transform: Duration.parse)
    var cooldown: Duration?

    @Option(
        help: ArgumentHelp(
            "With --system: the longest wait between memory checks without pressure, shorter as memory "
                + "gets short (headroom at 1 GiB/s); 0 for PSI wake-ups only (default: \(WatchConfiguration.SystemScope.defaultMaxCheckInterval?.compactDescription ?? "0")).",
            valueName: "DURATION"),
        transform: Duration.parse)
    var maxCheckInterval: Duration?

    @Option(help: ArgumentHelp("With --system: pick victims only under this cgroup (repeatable).", valueName: "CGROUP"))
    var under: [String] = []

    @OptionGroup(title: "Handling") var handling: HandlingArguments

    @OptionGroup(title: "Metrics") var metrics: MetricsArguments

    @Flag(help: "Print one JSON object per line instead of readable lines.")
    var json = false

    @Flag(
        name: .shortAndLong,
        help: "Also log the details: v2 wake-ups that found no distress (with the verdict), coalesced events.")
    var verbose = false

    @Option(
        help: ArgumentHelp(
            "Where to log (default: journal under systemd, else console; --json is --log json).",
            valueName: "TARGET"))
    var log: LogMode?

    @Flag(help: "Do not lock the handler's memory (mlockall) or set its oom_score_adj.")
    var noSelfProtection = false

    @Option(
        help: ArgumentHelp(
            "Pre-fault and lock this much heap for the handler's own use during an OOM (e.g. 16M, at most 1G).",
            valueName: "SIZE"),
        transform: ReserveSize.parseAmount)
    var selfReserve: ByteCount?

    @Flag(
        help: "v2: set memory.min of watch's own cgroup to what it uses, so the kernel protects the handler.")
    var protectSelf = false

    func validate() throws {
        if system {
            guard cgroups.isEmpty && pid.isEmpty && !recursive else {
                throw ValidationError(
                    "--system watches the whole machine: give no CGROUP, --pid or --recursive (use --under)")
            }
            // The --system pipeline is woken by system memory pressure and handles no cgroup's OOM.
            let unused: [(Bool, String, String)] =
                [
                    (handling.on != nil, "--on", "it acts on system memory pressure (--pressure, --min-available)"),
                    (handling.delay != nil, "--delay", "no cgroup's kernel killer is held back"),
                    (handling.hold != nil, "--hold", "its evidence is MemAvailable, and it freezes no cgroup"),
                ]
                + handling.distress.given.map { ($0 != "", $0, "its evidence is MemAvailable, not a cgroup's verdict") }
            if let (_, name, why) = unused.first(where: \.0) {
                throw ValidationError("\(name) does nothing with --system: \(why)")
            }
            if handling.panic != nil && !under.isEmpty {
                throw ValidationError("--under picks victims; --panic kills none: drop --under")
            }
        } else {
            if cgroups.isEmpty && pid.isEmpty {
                throw ValidationError("give at least one CGROUP or --pid PID to watch (or --system)")
            }
            let systemOnly: [(Bool, String)] = [
                (minAvailable != nil, "--min-available"), (minSwapFree != nil, "--min-swap-free"),
                (cooldown != nil, "--cooldown"), (maxCheckInterval != nil, "--max-check-interval"),
                (!under.isEmpty, "--under"),
            ]
            if let (_, name) = systemOnly.first(where: \.0) { throw ValidationError("\(name) goes with --system") }
        }
        try handling.check(systemPressure: system, defaultPolicy: defaultPolicy)
        if json, let log, log != .json {
            throw ValidationError("--json is --log json; it cannot go with --log \(log.rawValue)")
        }
        if let pid = pid.first(where: { $0 <= 0 }) { throw ValidationError("--pid must be positive, not \(pid)") }
        if let selfReserve {
            if noSelfProtection {
                throw ValidationError("--self-reserve goes with self-protection; drop --no-self-protection")
            }
            guard selfReserve.bytes <= 1 << 30 else { throw ValidationError("--self-reserve is at most 1G") }
        }
    }

    /// The --system thresholds.
    func systemThresholds() -> SystemMemoryThresholds {
        let available = minAvailable ?? ThresholdPair(warn: nil, act: MemoryThreshold(.percent(5)))
        let swap = minSwapFree ?? ThresholdPair(warn: nil, act: MemoryThreshold(.percent(10)))
        return SystemMemoryThresholds(
            warnAvailable: available.warn, actAvailable: available.act, warnSwapFree: swap.warn,
            actSwapFree: swap.act)
    }

    /// --system defaults to the seed proposal's priority policy.
    private var defaultPolicy: KillChoice { system ? .policy(.priority) : .none }

    func run() throws {
        try reportingErrors {
            let system = try CgroupSystem.fromEnvironment()
            LoggingSetup.bootstrap(
                LogSelection.resolve(requested: json ? .json : log), level: verbose ? .debug : .info)
            try checkPanicEvidence()
            let configuration = try watchConfiguration(in: system)
            if configuration.metricsCgroupLimit != nil { MetricsExposition.bootstrap() }
            let service = try WatchService(system: system, configuration: configuration)
            let metricsFile = try metrics.file(for: service)
            let steps = StepReporter()
            let notices = NoticeReporter(configuration: configuration, procPath: system.procPath)
            service.onStep = { steps.report($0) }
            service.onNotice = { notices.report($0) }
            service.serviceManager = serviceManagerNotifier()
            service.controlSocket = ControlSocketOptions(version: Oomctl.version)
            if configuration.metricsCgroupLimit != nil { service.metricsProvider = { MetricsExposition.currentText() } }
            try service.start()
            try metricsFile?.writeIfChanged()
            service.run()
            // The final figures (a failure here was said by the last write that failed, or is said now).
            do throws(OutputFileError) { try metricsFile?.writeIfChanged() } catch {
                Logger(label: "oomctl.watch").warning("metrics not written: \(error.description)")
            }
            // Stopped by itself (its guardian died for good): everything is restored; exit non-zero.
            if let failure = service.failure { throw failure }
        }
    }

    /// Under a service manager (Type=notify): its notifier, with NOTIFY_SOCKET and WATCHDOG_* taken out
    /// of the environment before the guardian or a hook is started. A socket that cannot be used is
    /// said, and watch runs without it.
    private func serviceManagerNotifier() -> ServiceManagerNotifier? {
        do {
            return try ServiceManagerNotifier.fromEnvironment()
        } catch {
            Logger(label: "oomctl.watch").warning(
                "\(error.description); watch runs without telling it that it is ready (a Type=notify unit's start times out)"
            )
            return nil
        }
    }

    /// With --panic: snapshots can be written into --snapshot-dir now (else exit 73 before anything is
    /// watched), and a warning when they would not survive the reboot that follows a panic.
    private func checkPanicEvidence() throws {
        guard let panic = handling.panic, let directory = handling.snapshotDir else { return }
        do {
            if let volatile = try PanicOptions.probeSnapshotDirectory(directory) {
                Logger(label: "oomctl.watch").warning(
                    "--snapshot-dir \(directory) is on \(volatile): the snapshots of --panic \(panic.rawValue) do not survive the reboot; use persistent storage"
                )
            }
        } catch {
            Terminal.printError(
                "oomctl: error: --panic cannot keep its evidence in --snapshot-dir: \(error.description)")
            throw ExitCode(ExitStatus(error.kind).rawValue)
        }
    }

    /// On cgroup v2, --panic needs events it answers: the default ones (high, max, oom-kill) are
    /// wake-ups or the kernel's own kill, never a verdict that takes a machine down.
    private func checkPanicEvents(on hierarchy: Hierarchy) throws {
        guard handling.panic != nil, hierarchy.version == .v2 else { return }
        let kinds = handling.eventKinds(version: .v2)
        guard kinds.isDisjoint(with: PanicOptions.answeredEvents) else { return }
        throw ValidationError(
            "--panic answers oom and pressure events, and watch gets none on cgroup v2 with "
                + "--on \(kinds.map(\.rawValue).sorted().joined(separator: ",")) (high and max are wake-ups a healthy "
                + "cgroup at its limit raises all day): add --on oom or --on pressure")
    }

    /// A target that is the root cgroup, refused before anything is changed (no marker, no guardian)
    /// unless --recursive watches what is below it.
    private func refuseRoot(_ what: String) throws {
        guard !recursive else { return }
        throw ValidationError(
            "\(what), which has no limit of its own to run out of (and on v1 no kernel OOM "
                + "killer watch could hold back): watch a cgroup below it, every cgroup below it with --recursive, "
                + "or the machine's memory with --system")
    }

    /// The service's configuration: the arguments resolved on the live system.
    func watchConfiguration(in system: CgroupSystem) throws -> WatchConfiguration {
        let scope: WatchConfiguration.Scope
        if self.system {
            scope = .system(
                WatchConfiguration.SystemScope(
                    thresholds: systemThresholds(), trigger: handling.systemPressureTrigger,
                    cooldown: cooldown ?? WatchConfiguration.SystemScope.defaultCooldown,
                    maxCheckInterval: maxCheckInterval.map(\.nonZero)
                        ?? WatchConfiguration.SystemScope.defaultMaxCheckInterval,
                    under: try under.map { try system.memoryCgroupPath(for: $0) }))
        } else {
            let named = try cgroups.map { try system.memoryCgroupPath(for: $0) }
            if named.contains(where: \.isRoot) { try refuseRoot("'/' is the root cgroup") }
            let ofProcesses = try pid.map { try system.memoryCgroupPath(ofProcess: $0) }
            if let index = ofProcesses.firstIndex(where: \.isRoot) {
                try refuseRoot("PID \(pid[index]) is in the root cgroup (as kernel threads are)")
            }
            let targets = named + ofProcesses
            let hierarchy = try system.memoryHierarchy()
            try handling.checkEvents(on: hierarchy.version)
            try checkPanicEvents(on: hierarchy)
            scope = .cgroups(targets, recursive: recursive)
        }
        return WatchConfiguration(
            scope: scope,
            events: WatchConfiguration.Events(
                v1: handling.eventKinds(version: .v1), v2: handling.eventKinds(version: .v2)),
            pressure: handling.pressureTrigger(),
            handling: try handling.resolvedHandlingOptions(in: system, defaultPolicy: defaultPolicy, live: true),
            selfProtection: noSelfProtection
                ? nil : WatchConfiguration.SelfProtectionOptions(reserve: selfReserve, protectOwnCgroup: protectSelf),
            metricsCgroupLimit: metrics.cgroupLimit)
    }
}

extension Duration {
    /// Nil for a zero duration ("off").
    fileprivate var nonZero: Duration? { self == .zero ? nil : self }
}
