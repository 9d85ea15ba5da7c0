/// A candidate as a policy ranks it, with what the filters need: the processes and cgroups a kill ends.
struct RankedCandidate {
    var candidate: Candidate
    var pids: [Int32]
    var cgroups: [CgroupPath]
}

extension PolicyTree {
    /// The cgroup as a candidate: everything below it ends with it.
    func cgroupCandidate(
        _ path: CgroupPath, priority: Int? = nil, score: Int? = nil, reasons: [String]
    )
        -> RankedCandidate
    {
        RankedCandidate(
            candidate: Candidate(
                target: .cgroup(path), memory: usage(path), priority: priority, score: score, reasons: reasons),
            pids: pids(below: path), cgroups: subtree(path))
    }

    /// The process as a candidate.
    func processCandidate(_ entry: ProcessEntry, priority: Int? = nil, reasons: [String]) -> RankedCandidate {
        let cgroup = cgroup(of: entry)
        return RankedCandidate(
            candidate: Candidate(
                target: .process(pid: entry.pid, name: entry.name, cgroup: cgroup), memory: entry.footprint,
                priority: priority, score: entry.oomScore, reasons: reasons),
            pids: [entry.pid], cgroups: [cgroup])
    }

    /// The cgroup a process is in: where the tree lists it, else what its entry says.
    func cgroup(of entry: ProcessEntry) -> CgroupPath {
        cgroupOfPID[entry.pid] ?? entry.cgroup
    }

    /// The processes among `pids` that may be picked, largest footprint first (then lowest PID); the
    /// others go to `excluded`. Processes the snapshot has no details for cannot be ranked and are skipped.
    func pickableProcesses(_ pids: [Int32], excluded: inout [ExcludedCandidate]) -> [ProcessEntry] {
        var pickable: [ProcessEntry] = []
        for pid in pids {
            guard let entry = entries[pid] else { continue }
            let cgroup = cgroup(of: entry)
            if let reason = processExclusion(pid, in: cgroup) {
                excluded.append(
                    ExcludedCandidate(target: .process(pid: pid, name: entry.name, cgroup: cgroup), reason: reason))
            } else {
                pickable.append(entry)
            }
        }
        return pickable.sorted { ($0.footprint, $1.pid) > ($1.footprint, $0.pid) }
    }
}

extension ProcessEntry {
    /// "PID 12 (name)", for reasons.
    var label: String { "PID \(pid) (\(name.visibleControlCharacters))" }
}
