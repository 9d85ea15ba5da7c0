/// Chooses a victim: ranks the candidates below a root of a ``Snapshot`` by the configured policy, then
/// applies the filters. Pure: the same code ranks a live tree (a fresh snapshot of it) and a snapshot file.
///
/// Every policy shares the exclusions (never ranked, listed in ``Decision/excluded`` with the reason):
/// PID 1, oomctl itself (``PolicyOptions/selfPID``), `--protect` PIDs, kernel threads and processes with
/// oom_score_adj -1000; `--protect-cgroup` cgroups and `user.oomd_omit` ones, with everything below them;
/// oomctl's own cgroup and every cgroup containing it (as cgroups; as processes, those in oomctl's own
/// cgroup); a cgroup containing a protected cgroup or a PID 1/oomctl/`--protect` process; a cgroup whose
/// processes are all kernel threads or oom_score_adj -1000; the hierarchy root. Then preferred candidates
/// (`--prefer`, user.oomd_prefer) move ahead of the rest and avoided ones (`--avoid`, user.oomd_avoid) behind
/// it, keeping the policy's order within each group.
public struct PolicyEngine: Sendable {
    public let options: PolicyOptions

    public init(options: PolicyOptions) {
        self.options = options
    }

    /// Ranks the descendants of `root` in `snapshot` (for `triggering`, the triggering cgroup itself,
    /// which may be `root`).
    public func decide(in snapshot: Snapshot, under root: CgroupPath) throws(PolicyError) -> Decision {
        let filters = try options.compiledFilters()
        let tree = try PolicyTree(snapshot: snapshot, root: root, options: options)
        var excluded: [ExcludedCandidate] = []
        let ranked: [RankedCandidate]
        switch options.policy {
        case .largest:
            ranked = LargestPolicy(tree: tree).rank(kind: options.kind, excluded: &excluded)
        case .priority:
            var policy = PriorityPolicy(tree: tree, kind: options.kind)
            policy.run()
            ranked = policy.ranked
            excluded = policy.excluded
        case .triggering:
            ranked = try TriggeringPolicy(tree: tree).rank(kind: options.kind, excluded: &excluded)
        case .oomScore:
            ranked = OOMScorePolicy(tree: tree).rank(kind: options.kind, excluded: &excluded)
        }
        var wholeUnits =
            options.kind == .process ? Self.unitsAsWholes(ranked, tree: tree, excluded: &excluded) : ranked
        // priority: a victim must be able to help (what a kill frees is known once units are whole).
        let need = options.policy == .priority ? PriorityPolicy.need(in: tree) : nil
        if options.policy == .priority { wholeUnits = PriorityPolicy.resolvingFirst(wholeUnits, need: need) }
        let candidates = Self.applyTiers(wholeUnits, filters: filters, tree: tree)
        guard let victim = candidates.first else {
            let reasons = excluded.prefix(3).map { "\($0.target): \($0.reason)" }
            throw .noCandidates(under: root, excluded: excluded.count, reasons: reasons)
        }
        let summary =
            "kill \(victim.target) (uses \(victim.memory)): " + victim.reasons.joined(separator: "; ")
        return Decision(
            policy: options.policy, kind: options.kind, root: root, ranked: candidates, excluded: excluded,
            summary: summary, need: need)
    }

    /// The process kind: a process inside a memory.oom.group=1 unit stands for its unit, as in the
    /// kernel's own OOM kill (the top-most unit at or below the root that holds it): the unit is killed
    /// whole, ranked where its first process ranked, and its other processes are no candidates of their
    /// own. A unit that may not be killed whole (it holds a protected process, …) is excluded with them.
    static func unitsAsWholes(
        _ ranked: [RankedCandidate], tree: PolicyTree, excluded: inout [ExcludedCandidate]
    ) -> [RankedCandidate] {
        var seen = Set<CgroupPath>()
        var result: [RankedCandidate] = []
        for item in ranked {
            guard case .process(let pid, _, let cgroup) = item.candidate.target,
                let unit = tree.unit(containing: cgroup) ?? (tree.isUnit(tree.root) ? tree.root : nil)
            else {
                result.append(item)
                continue
            }
            guard seen.insert(unit).inserted else { continue }
            // The kernel's own group kill spares oom_score_adj -1000 tasks; a kill of the whole unit would
            // not, so a unit holding one is no victim of the process kind.
            let spared = tree.pids(below: unit).compactMap { tree.protection(of: $0) }.first
            if let reason = tree.cgroupExclusion(unit, allowingRoot: unit == tree.root)
                ?? spared.map({
                    "holds a process the kernel's group kill would spare (\($0.reason.droppingPrefix("protected: ")))"
                })
            {
                excluded.append(
                    ExcludedCandidate(
                        target: .cgroup(unit),
                        reason: "memory.oom.group=1 unit of PID \(pid), killed only as a whole, and: \(reason)"))
                continue
            }
            let count = tree.pids(below: unit).count
            result.append(
                tree.cgroupCandidate(
                    unit, priority: item.candidate.priority, score: item.candidate.score,
                    reasons: item.candidate.reasons + [
                        "PID \(pid) is in \(unit.shown), a memory.oom.group=1 unit: its \(count) process\(count == 1 ? "" : "es") are killed together"
                    ]))
        }
        return result
    }

    /// Preferred first, avoided last, the policy's order kept within each group; ranks numbered from 1.
    static func applyTiers(_ ranked: [RankedCandidate], filters: ProcessFilters, tree: PolicyTree) -> [Candidate] {
        let tiered = ranked.enumerated().map { index, item in
            let (tier, reasons) = filters.tier(pids: item.pids, cgroups: item.cgroups, tree: tree)
            var candidate = item.candidate
            candidate.reasons = reasons + candidate.reasons
            return (tier: tier, index: index, candidate: candidate)
        }
        let ordered = tiered.sorted { ($0.tier, $0.index) < ($1.tier, $1.index) }
        return ordered.enumerated().map { position, item in
            var candidate = item.candidate
            candidate.rank = position + 1
            return candidate
        }
    }
}
