import Glibc

/// What the user asked of victim selection: the policy, what to kill, and the filters.
public struct PolicyOptions: Sendable {
    /// The policy that ranks the candidates.
    public var policy: PolicyName = .largest
    /// Kill a whole cgroup, or one process.
    public var kind: VictimKind = .cgroup
    /// Regular expressions (earlyoom `--prefer` / `--avoid`): searched for in the process name and in the
    /// command line joined with spaces. Preferred candidates rank before all others, avoided ones after
    /// all others; a candidate matching both is neither. A cgroup matches if any process in it (or below) does.
    public var prefer: [String] = []
    public var avoid: [String] = []
    /// `--priority CGROUP=N`: the priority of a cgroup that has no `oomctl.priority` xattr.
    public var priorityOverrides: [CgroupPath: Int] = [:]
    /// `--protect PID`: never killed. PID 1, ``selfPID``, kernel threads and `oom_score_adj` -1000 always are.
    public var protectedPIDs: Set<Int32> = []
    /// `--protect-cgroup`: never a victim, nor anything below it.
    public var protectedCgroups: [CgroupPath] = []
    /// oomctl's own process.
    public var selfPID: Int32 = getpid()
    /// oomctl's own cgroup: never killed as a cgroup, nor any cgroup containing it; its processes are never
    /// picked by the process kind either (they are oomctl's helpers).
    public var selfCgroup: CgroupPath? = nil
    /// Cgroups running on a granted reserve ("overlimit"): `priority` ranks them (and the cgroups containing
    /// them) first at their level.
    public var overlimit: Set<CgroupPath> = []
    /// `priority`: the limit an OOM of the search root must get under, when not the one in the snapshot
    /// (the original limit while a granted reserve has raised it); see ``ResolutionNeed``.
    public var resolutionLimit: ByteCount? = nil
    /// The cgroup that hit OOM, for `triggering` (the search root when nil).
    public var triggering: CgroupPath? = nil

    public init() {}

    /// Checks that every `prefer` and `avoid` pattern is a valid regular expression.
    public func validate() throws(PolicyError) {
        _ = try compiledFilters()
    }

    /// The compiled prefer and avoid patterns.
    func compiledFilters() throws(PolicyError) -> ProcessFilters {
        func compile(_ patterns: [String]) throws(PolicyError) -> [ProcessFilters.Pattern] {
            var compiled: [ProcessFilters.Pattern] = []
            for pattern in patterns {
                do {
                    compiled.append(ProcessFilters.Pattern(source: pattern, regex: try Regex(pattern)))
                } catch {
                    throw .invalidRegex(pattern, reason: "\(error)")
                }
            }
            return compiled
        }
        return ProcessFilters(prefer: try compile(prefer), avoid: try compile(avoid))
    }
}
