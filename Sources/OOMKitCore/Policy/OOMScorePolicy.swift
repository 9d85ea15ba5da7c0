/// `oom-score`: what the kernel would pick. Process kind: the processes at or below the root by
/// /proc/PID/oom_score, highest first; ties to the larger footprint, then the lower PID; processes whose
/// score the snapshot lacks rank after the others. Cgroup kind: the cgroups of those processes in the same
/// order (a process inside a memory.oom.group=1 cgroup stands for that unit), each cgroup once.
struct OOMScorePolicy {
    let tree: PolicyTree

    func rank(kind: VictimKind, excluded: inout [ExcludedCandidate]) -> [RankedCandidate] {
        let processes = tree.pickableProcesses(tree.pids(below: tree.root), excluded: &excluded).sorted {
            let (left, right) = ($0.oomScore ?? Int.min, $1.oomScore ?? Int.min)
            if left != right { return left > right }
            if $0.footprint != $1.footprint { return $0.footprint > $1.footprint }
            return $0.pid < $1.pid
        }
        switch kind {
        case .process:
            return processes.enumerated().map { index, entry in
                tree.processCandidate(entry, reasons: Self.reasons(index, of: processes))
            }
        case .cgroup:
            var seen = Set<CgroupPath>()
            var ranked: [RankedCandidate] = []
            var rootNoted = false
            for (index, entry) in processes.enumerated() {
                let own = tree.cgroup(of: entry)
                let path = tree.unit(containing: own) ?? own
                guard seen.insert(path).inserted else { continue }
                if path == tree.root {
                    if !rootNoted {
                        rootNoted = true
                        excluded.append(
                            ExcludedCandidate(
                                target: .cgroup(path),
                                reason: "holds processes itself (\(entry.label) first), but the root of the search "
                                    + "is never killed as a whole (use the process kind to pick one of them)"))
                    }
                    continue
                }
                if let reason = tree.cgroupExclusion(path) {
                    excluded.append(ExcludedCandidate(target: .cgroup(path), reason: reason))
                    continue
                }
                var reasons = ["holds " + Self.reasons(index, of: processes).joined(separator: "; ")]
                if path != own {
                    reasons.append("memory.oom.group=1: \(entry.label) is in \(own.shown), part of this unit")
                }
                ranked.append(
                    tree.cgroupCandidate(path, priority: tree.priority(path), score: entry.oomScore, reasons: reasons))
            }
            return ranked
        }
    }

    private static func reasons(_ index: Int, of processes: [ProcessEntry]) -> [String] {
        let entry = processes[index]
        guard let score = entry.oomScore else {
            return ["\(entry.label): no oom_score in the snapshot, ranked after those with one, by memory"]
        }
        var reason: String
        if processes.count == 1 {
            reason = "\(entry.label): oom_score \(score), the only process"
        } else if index == 0 {
            reason = "\(entry.label): oom_score \(score), the highest of \(processes.count) processes"
        } else {
            reason = "\(entry.label): oom_score \(score), rank \(index + 1) of \(processes.count)"
        }
        if index + 1 < processes.count, processes[index + 1].oomScore == score {
            let next = processes[index + 1]
            reason +=
                next.footprint != entry.footprint
                ? "; tied with \(next.label), uses more memory (\(entry.footprint) vs \(next.footprint))"
                : "; tied with \(next.label) on memory too, lower PID first"
        }
        return [reason]
    }
}
