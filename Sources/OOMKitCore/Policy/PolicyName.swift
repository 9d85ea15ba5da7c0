/// The victim-selection policies (DESIGN.md §Policies).
public enum PolicyName: String, CaseIterable, Sendable, Codable {
    /// The descendant cgroup, or process, using the most memory.
    case largest
    /// The seed proposal's policy: descend by lowest priority, ties by memory; overlimit ranks lowest.
    case priority
    /// The cgroup that hit the OOM itself, no scan (a userspace oom_kill_allocating_task).
    case triggering
    /// The process with the highest /proc/PID/oom_score: what the kernel would pick.
    case oomScore = "oom-score"
}

/// What a decision kills: a whole cgroup (and everything below it), or one process.
public enum VictimKind: String, Sendable, Codable {
    case cgroup
    case process
}
