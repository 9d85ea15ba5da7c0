import Glibc

/// Why a decision on the live system could not be made.
public enum LiveDecisionError: OOMKitError {
    /// The subtree could not be read.
    case cgroup(CgroupError)
    /// The policy found no victim (or its options are wrong).
    case policy(PolicyError)

    public var kind: FailureKind {
        switch self {
        case .cgroup(let error): error.kind
        case .policy(let error): error.kind
        }
    }

    public var description: String {
        switch self {
        case .cgroup(let error): error.description
        case .policy(let error): error.description
        }
    }
}

extension PolicyEngine {
    /// Decides on the live system, as the handler, `oomctl kill --under` and a sandbox run all do: a fresh
    /// snapshot of the subtree below `root` (every process, with its details), oomctl's own cgroup
    /// protected (unless the options name one), and `root` as the triggering cgroup unless the options
    /// name another. With `fallBackToTriggering`, when the policy finds nothing below `root` to choose from,
    /// the triggering cgroup itself is chosen (a leaf that hit its own limit).
    public static func decideLive(
        under root: CgroupPath, in system: CgroupSystem, options: PolicyOptions, fallBackToTriggering: Bool = false
    ) throws(LiveDecisionError) -> Decision {
        let top: MemoryCgroup
        do { top = try MemoryCgroup.open(root, in: system) } catch { throw .cgroup(error) }
        return try decideLive(under: top, in: system, options: options, fallBackToTriggering: fallBackToTriggering)
    }

    /// ``decideLive(under:in:options:fallBackToTriggering:)`` below an open cgroup, read through its
    /// directory (the handler's: a rename since does not matter).
    public static func decideLive(
        under top: MemoryCgroup, in system: CgroupSystem, options: PolicyOptions, fallBackToTriggering: Bool = false
    ) throws(LiveDecisionError) -> Decision {
        let root = top.path
        var options = options
        if options.selfCgroup == nil { options.selfCgroup = try? system.memoryCgroupPath(ofProcess: getpid()) }
        let snapshot: Snapshot
        do {
            snapshot = try SnapshotCollector(system: system)
                .collect(from: top, options: SnapshotOptions(topProcesses: Int.max, includeSystem: false))
        } catch {
            throw .cgroup(error)
        }
        do {
            return try decide(in: snapshot, under: root, options: options, fallBackToTriggering: fallBackToTriggering)
        } catch {
            throw .policy(error)
        }
    }

    /// Decides on a snapshot (live or replayed from a file): `root` is the triggering cgroup unless the
    /// options name another; with `fallBackToTriggering`, the triggering cgroup is chosen when the policy
    /// finds nothing below `root`.
    public static func decide(
        in snapshot: Snapshot, under root: CgroupPath, options: PolicyOptions, fallBackToTriggering: Bool = false
    ) throws(PolicyError) -> Decision {
        var options = options
        if options.triggering == nil { options.triggering = root }
        do {
            return try PolicyEngine(options: options).decide(in: snapshot, under: root)
        } catch .noCandidates where fallBackToTriggering && options.policy != .triggering {
            options.policy = .triggering
            return try PolicyEngine(options: options).decide(in: snapshot, under: root)
        }
    }
}
