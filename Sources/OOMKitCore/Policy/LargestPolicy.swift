/// `largest`: the cgroup, or process, whose kill frees the most memory.
///
/// Cgroup kind: the candidates are the descendant cgroups that hold processes directly, plus the
/// top-most memory.oom.group=1 cgroups holding processes (killed as units; nothing below a unit is a
/// candidate of its own). Each is ranked by its usage, which is what killing it frees; ties go to the one
/// with fewer processes, then to path order. On v2 that is the leaves holding processes and the units. On
/// v1 a cgroup with processes of its own *and* child cgroups is a candidate too, and ranks with its whole
/// usage, since a cgroup kill ends its children with it (the reasons say so). The search root is never a
/// candidate: its own processes are reached with the process kind.
///
/// Process kind: every process at or below the root, by resident set plus swap; ties by lower PID.
struct LargestPolicy {
    let tree: PolicyTree

    func rank(kind: VictimKind, excluded: inout [ExcludedCandidate]) -> [RankedCandidate] {
        switch kind {
        case .cgroup: rankCgroups(excluded: &excluded)
        case .process: rankProcesses(excluded: &excluded)
        }
    }

    private func rankCgroups(excluded: inout [ExcludedCandidate]) -> [RankedCandidate] {
        var found: [CgroupPath] = []
        func visit(_ path: CgroupPath) {
            for child in tree.children(of: path) where tree.holdsProcesses(child) {
                if let reason = tree.prunedReason(child) {
                    excluded.append(ExcludedCandidate(target: .cgroup(child), reason: reason))
                    continue
                }
                if tree.isUnit(child) {
                    found.append(child)
                    continue
                }
                if !tree.ownPIDs(child).isEmpty { found.append(child) }
                visit(child)
            }
        }
        visit(tree.root)
        if !tree.ownPIDs(tree.root).isEmpty {
            excluded.append(
                ExcludedCandidate(
                    target: .cgroup(tree.root),
                    reason: "holds processes itself, but the root of the search is never killed as a whole "
                        + "(use the process kind to pick one of them)"))
        }
        var candidates: [CgroupPath] = []
        for path in found {
            if let reason = tree.cgroupExclusion(path) {
                excluded.append(ExcludedCandidate(target: .cgroup(path), reason: reason))
            } else {
                candidates.append(path)
            }
        }
        func key(_ path: CgroupPath) -> (ByteCount, Int) { (tree.usage(path), tree.pids(below: path).count) }
        candidates.sort { lhs, rhs in
            let (left, right) = (key(lhs), key(rhs))
            if left.0 != right.0 { return left.0 > right.0 }
            if left.1 != right.1 { return left.1 < right.1 }
            return lhs < rhs
        }
        return candidates.enumerated().map { index, path in
            var reasons = [Self.memoryReason(tree.usage(path), index: index, count: candidates.count, of: "candidate")]
            if index + 1 < candidates.count, tree.usage(candidates[index + 1]) == tree.usage(path) {
                let next = candidates[index + 1]
                let (mine, theirs) = (tree.pids(below: path).count, tree.pids(below: next).count)
                reasons.append(
                    mine != theirs
                        ? "tied on memory with \(next.shown), ranks ahead with fewer processes (\(mine) vs \(theirs))"
                        : "tied on memory and process count with \(next.shown), ranks ahead by path order")
            }
            if tree.isUnit(path) {
                reasons.append("memory.oom.group=1: killed as a unit")
            } else {
                let busyChildren = tree.children(of: path).filter { tree.holdsProcesses($0) }.count
                if busyChildren > 0 {
                    reasons.append(
                        "holds processes itself and has \(busyChildren) child cgroup(s) with processes, "
                            + "which a cgroup kill ends too (v1)")
                }
            }
            return tree.cgroupCandidate(path, priority: tree.priority(path), reasons: reasons)
        }
    }

    private func rankProcesses(excluded: inout [ExcludedCandidate]) -> [RankedCandidate] {
        let processes = tree.pickableProcesses(tree.pids(below: tree.root), excluded: &excluded)
        return processes.enumerated().map { index, entry in
            var reasons = [Self.memoryReason(entry.footprint, index: index, count: processes.count, of: "process")]
            if index + 1 < processes.count, processes[index + 1].footprint == entry.footprint {
                reasons.append("tied on memory with \(processes[index + 1].label), ranks ahead by lower PID")
            }
            return tree.processCandidate(entry, reasons: reasons)
        }
    }

    /// "uses 512M, the most of the 3 candidates" / "uses 12M, rank 2 of 3 candidates by memory".
    static func memoryReason(_ memory: ByteCount, index: Int, count: Int, of noun: String) -> String {
        let plural = noun.hasSuffix("s") ? noun + "es" : noun + "s"
        if count == 1 { return "uses \(memory); no other \(noun) to compare with" }
        if index == 0 { return "uses \(memory), the most of the \(count) \(plural)" }
        return "uses \(memory), rank \(index + 1) of \(count) \(plural) by memory"
    }
}
