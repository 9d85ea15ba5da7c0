import ArgumentParser
import Glibc
import OOMKit

/// The options of the handling pipeline, shared by `watch` and the sandbox runs of `simulate`: which
/// events, the hooks, the action, the deadline, the snapshots.
struct HandlingArguments: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Events to handle: oom, oom-kill, high, max, pressure (default: oom on v1; oom-kill,high,max on v2).",
            valueName: "EVENTS"))
    var on: String?

    @Option(help: ArgumentHelp("A PSI trigger for --on pressure, e.g. \"some 150ms 1s\".", valueName: "TRIGGER"))
    var pressure = "some 150ms 1s"

    @Option(help: ArgumentHelp("A command to run on each event (repeatable; run in order).", valueName: "CMD"))
    var hook: [String] = []

    @Option(help: ArgumentHelp("A command to run after a kill (repeatable).", valueName: "CMD"))
    var postKill: [String] = []

    @Option(help: ArgumentHelp("How long a hook may run before its process group is killed.", valueName: "DURATION"))
    var hookTimeout = "10s"

    @Option(
        help: ArgumentHelp(
            "Kill the victim a policy picks when hooks did not resolve the OOM: "
                + "\(PolicyName.allCases.map(\.rawValue).joined(separator: ", ")), or none "
                + "(default: none; priority with watch --system).",
            valueName: "POLICY"),
        completion: .list(PolicyName.allCases.map(\.rawValue) + ["none"]))
    var kill: String?

    @OptionGroup var filters: VictimFilterArguments

    @Option(
        help: ArgumentHelp(
            "v1: hand the OOM back to the kernel killer if unresolved after this long.", valueName: "DURATION"))
    var delay = "1s"

    @Option(
        help: ArgumentHelp("Write a snapshot of each event into DIR (mode 0600 files).", valueName: "DIR"),
        completion: .directory)
    var snapshotDir: String?

    @Option(
        help: ArgumentHelp(
            "The least time between two handlings of one cgroup; events between are coalesced.", valueName: "DURATION"))
    var minInterval = "250ms"

    @Flag(help: "Run hooks and decide, but never kill and never disable the kernel killer.")
    var dryRun = false

    /// Whether --on asks for PSI pressure events.
    var wantsPressure: Bool { on?.contains("pressure") == true }

    /// Checks everything that does not need the live system; `pressureAlways` also checks --pressure
    /// when --on does not ask for it (watch --system always uses it).
    func check(pressureAlways: Bool = false, defaultPolicy: String = "none") throws {
        _ = try eventKinds(version: .v1)
        _ = try handlingOptions(defaultPolicy: defaultPolicy)
        if pressureAlways {
            do { _ = try PressureTrigger(parsing: pressure) } catch { throw ValidationError(error.description) }
        }
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
    func eventKinds(version: CgroupVersion) throws -> Set<OOMEvent.Kind> {
        guard let on else { return version == .v1 ? [.oom] : [.oomKill, .high, .max] }
        var kinds: Set<OOMEvent.Kind> = []
        for name in on.split(separator: ",") {
            guard let kind = OOMEvent.Kind(rawValue: String(name)), kind != .removed else {
                throw ValidationError("unknown event '\(name)' in --on; use oom, oom-kill, high, max or pressure")
            }
            kinds.insert(kind)
        }
        return kinds
    }

    /// The PSI trigger for --on pressure (nil when not asked for).
    func pressureTrigger() throws -> PressureTrigger? {
        guard wantsPressure else { return nil }
        do { return try PressureTrigger(parsing: pressure) } catch { throw ValidationError(error.description) }
    }

    /// The pipeline's options. Cgroup arguments of the filters are checked for form only; see
    /// ``resolvingCgroups(_:in:defaultPolicy:)`` for the live system.
    func handlingOptions(defaultPolicy: String = "none") throws -> HandlingOptions {
        var options = HandlingOptions()
        options.hooks = hook
        options.postKillHooks = postKill
        options.dryRun = dryRun
        options.snapshotDirectory = snapshotDir
        do {
            options.hookTimeout = try Duration(parsing: hookTimeout)
            options.delay = try Duration(parsing: delay)
            options.minimumInterval = try Duration(parsing: minInterval)
            if wantsPressure { _ = try PressureTrigger(parsing: pressure) }
        } catch {
            throw ValidationError(error.description)
        }
        let policyName = kill ?? defaultPolicy
        if policyName != "none" {
            guard let policy = PolicyName(rawValue: policyName) else {
                throw ValidationError(
                    "unknown policy '\(policyName)' for --kill; use \(PolicyName.allCases.map(\.rawValue).joined(separator: ", ")) or none"
                )
            }
            var policyOptions = try filters.options(resolve: { try CgroupPath($0) })
            policyOptions.policy = policy
            options.action = .kill(policyOptions)
        } else if filters.isCustomized {
            throw ValidationError("--process and the victim filters go with --kill POLICY")
        }
        return options
    }

    /// The pipeline's options with the filters' cgroup arguments resolved on the live system.
    func resolvedHandlingOptions(in system: CgroupSystem, defaultPolicy: String = "none") throws -> HandlingOptions {
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
