/// `triggering`: the cgroup that hit the OOM itself, no scan (the proposal's userspace
/// oom_kill_allocating_task). Cgroup kind: that cgroup, which may be the search root. Process kind: its
/// processes (at or below it) by memory, largest first.
struct TriggeringPolicy {
    let tree: PolicyTree

    func rank(kind: VictimKind, excluded: inout [ExcludedCandidate]) throws(PolicyError) -> [RankedCandidate] {
        let target = tree.options.triggering ?? tree.root
        guard target.isDescendant(of: tree.root) else { throw .notUnderRoot(target, root: tree.root) }
        guard tree.sample(target) != nil else { throw .notInSnapshot(target) }
        let why =
            tree.options.triggering == nil
            ? "triggering: no triggering cgroup given, so the search root \(target.shown) itself"
            : "triggering: \(target.shown) hit the OOM itself; nothing else is scanned"
        switch kind {
        case .cgroup:
            if let reason = tree.cgroupExclusion(target, allowingRoot: true) {
                excluded.append(ExcludedCandidate(target: .cgroup(target), reason: reason))
                return []
            }
            return [tree.cgroupCandidate(target, priority: tree.priority(target), reasons: [why])]
        case .process:
            let processes = tree.pickableProcesses(tree.pids(below: target), excluded: &excluded)
            return processes.enumerated().map { index, entry in
                let memory = LargestPolicy.memoryReason(
                    entry.footprint, index: index, count: processes.count, of: "process")
                return tree.processCandidate(entry, reasons: [why, memory + " in it"])
            }
        }
    }
}
