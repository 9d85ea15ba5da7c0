/// `priority`, the seed proposal's policy: starting at the root, at each level take the child with the
/// lowest priority (`oomctl.priority` xattr, else `--priority`; higher = more important), ties to the one
/// using more memory, then fewer processes, then path order. A child that is, or contains, a cgroup
/// running on a granted reserve ("overlimit") goes before every other at its level. Descend until a leaf
/// holding processes, a memory.oom.group=1 cgroup (a unit), or a cgroup none of whose children hold
/// processes. The ranked list is the whole order a kill would follow: every subtree is exhausted before
/// the walk moves to the next sibling.
///
/// A cgroup with no priority set counts, at its level, as the highest priority set among its siblings
/// (0 when none of them has one): forgetting to mark a cgroup never ranks it before a sibling marked as
/// more expendable; against the most important marked sibling it is ranked by memory.
///
/// A victim must be able to help: when the search root has a limit, candidates whose kill frees less than
/// the OOM needs (``ResolutionNeed``) are skipped: moved, in walk order, behind the ones that can, with
/// `canResolve` false and a reason saying so. So the lowest tier with a candidate that can resolve the OOM
/// goes first, its largest first. When no candidate can, the walk order stands.
///
/// v1 lets processes live in a cgroup that has children. Those processes compete at their cgroup's level
/// as one more candidate ("the processes directly in /x") with the cgroup's own priority and its local
/// usage (its usage minus its children's). Process kind: they are picked one by one like any other unit's.
/// Cgroup kind: a cgroup kill cannot spare the children, so the whole cgroup is the candidate there, and
/// the siblings after it at that level are not listed (they end with it). The search root is never
/// killed as a whole: its own processes are candidates for the process kind only.
struct PriorityPolicy {
    let tree: PolicyTree
    let kind: VictimKind
    private(set) var ranked: [RankedCandidate] = []
    private(set) var excluded: [ExcludedCandidate] = []

    init(tree: PolicyTree, kind: VictimKind) {
        self.tree = tree
        self.kind = kind
    }

    private enum Choice {
        case child(CgroupPath)
        /// The processes directly in a cgroup that also has children with processes.
        case own(CgroupPath)
    }

    private struct Option {
        var choice: Choice
        var overlimit: String?
        /// The priority that ranks it: its own, or the level's default when it has none.
        var priority: Int
        /// Its own priority (xattr or `--priority`), nil when unset.
        var explicit: Int?
        var memory: ByteCount
        var processes: Int
        var path: CgroupPath

        var label: String {
            switch choice {
            case .child(let path): path.shown
            case .own(let path): "the processes directly in \(path.shown)"
            }
        }

        /// Whether this one goes before `other` at the same level.
        func precedes(_ other: Option) -> Bool {
            if (overlimit != nil) != (other.overlimit != nil) { return overlimit != nil }
            if priority != other.priority { return priority < other.priority }
            if memory != other.memory { return memory > other.memory }
            if processes != other.processes { return processes < other.processes }
            if path != other.path { return path < other.path }
            if case .own = choice { return true }
            return false
        }
    }

    mutating func run() {
        walk(tree.root, reasons: [])
    }

    private func option(_ choice: Choice) -> Option {
        let options = tree.options
        switch choice {
        case .child(let path):
            var overlimit: String?
            if options.overlimit.contains(path) {
                overlimit = "overlimit: running on a granted reserve"
            } else if let inside = tree.subtree(path).first(where: { options.overlimit.contains($0) }) {
                overlimit = "overlimit: contains \(inside.shown), running on a granted reserve"
            }
            return Option(
                choice: choice, overlimit: overlimit, priority: 0, explicit: tree.priority(path),
                memory: tree.usage(path), processes: tree.pids(below: path).count, path: path)
        case .own(let path):
            return Option(
                choice: choice,
                overlimit: options.overlimit.contains(path) ? "overlimit: running on a granted reserve" : nil,
                priority: 0, explicit: tree.priority(path), memory: tree.localUsage(path),
                processes: tree.ownPIDs(path).count, path: path)
        }
    }

    private mutating func walk(_ node: CgroupPath, reasons: [String]) {
        var options: [Option] = []
        for child in tree.children(of: node) where tree.holdsProcesses(child) {
            if let reason = tree.prunedReason(child) {
                excluded.append(ExcludedCandidate(target: .cgroup(child), reason: reason))
            } else {
                options.append(option(.child(child)))
            }
        }
        if !tree.ownPIDs(node).isEmpty {
            if kind == .cgroup && node == tree.root {
                excluded.append(
                    ExcludedCandidate(
                        target: .cgroup(node),
                        reason: "holds processes itself, but the root of the search is never killed as a whole "
                            + "(use the process kind to pick one of them)"))
            } else {
                options.append(option(.own(node)))
            }
        }
        // Unset priorities count as the highest one set at this level (0 when none is).
        let levelDefault = options.compactMap(\.explicit).max() ?? 0
        for index in options.indices { options[index].priority = options[index].explicit ?? levelDefault }
        options.sort { $0.precedes($1) }
        for index in options.indices {
            let priority = options[index].priority
            let here = reasons + [Self.levelReason(index, of: options, at: node)]
            switch options[index].choice {
            case .child(let child):
                if tree.isUnit(child) {
                    emit(
                        unit: child, priority: priority,
                        reasons: here + [
                            kind == .cgroup
                                ? "memory.oom.group=1: killed as a unit"
                                : "memory.oom.group=1: a unit, the walk stops here"
                        ])
                } else if !tree.children(of: child).contains(where: { tree.holdsProcesses($0) }) {
                    emit(unit: child, priority: priority, reasons: here)
                } else {
                    walk(child, reasons: here)
                }
            case .own(let path):
                if kind == .process {
                    emitProcesses(tree.ownPIDs(path), in: path, priority: priority, reasons: here)
                } else if emit(
                    unit: path, priority: priority,
                    reasons: here + [
                        "v1: a cgroup kill cannot spare its child cgroups, so the whole of \(path.shown) goes"
                    ])
                {
                    return  // the rest of this level ends with it
                }
            }
        }
    }

    /// Emits a cgroup kill, or its processes; returns whether a cgroup was emitted.
    @discardableResult
    private mutating func emit(unit path: CgroupPath, priority: Int, reasons: [String]) -> Bool {
        switch kind {
        case .cgroup:
            if let reason = tree.cgroupExclusion(path) {
                excluded.append(ExcludedCandidate(target: .cgroup(path), reason: reason))
                return false
            }
            ranked.append(tree.cgroupCandidate(path, priority: priority, reasons: reasons))
            return true
        case .process:
            emitProcesses(tree.pids(below: path), in: path, priority: priority, reasons: reasons)
            return false
        }
    }

    private mutating func emitProcesses(_ pids: [Int32], in path: CgroupPath, priority: Int, reasons: [String]) {
        let processes = tree.pickableProcesses(pids, excluded: &excluded)
        for (index, entry) in processes.enumerated() {
            let which =
                index == 0
                ? "the largest process in \(path.shown) (uses \(entry.footprint))"
                : "process \(index + 1) of \(processes.count) in \(path.shown) by memory (uses \(entry.footprint))"
            ranked.append(tree.processCandidate(entry, priority: priority, reasons: reasons + [which]))
        }
    }

    /// Why option `index` comes where it does among its siblings at `node`.
    private static func levelReason(_ index: Int, of options: [Option], at node: CgroupPath) -> String {
        let option = options[index]
        let place = node.shown
        var reason: String
        if let overlimit = option.overlimit {
            reason = "\(overlimit), ranks first at \(place) (priority \(option.priority))"
        } else if options.count == 1 {
            reason = "priority \(option.priority), the only candidate at \(place)"
        } else if index == 0 {
            reason = "priority \(option.priority), the lowest among \(options.count) candidates at \(place)"
        } else if options[index - 1].overlimit != nil {
            reason =
                "priority \(option.priority), the lowest at \(place) after the overlimit ones "
                + "(rank \(index + 1) of \(options.count))"
        } else {
            reason = "priority \(option.priority), rank \(index + 1) of \(options.count) at \(place)"
        }
        if index + 1 < options.count {
            let next = options[index + 1]
            if (next.overlimit != nil) == (option.overlimit != nil) && next.priority == option.priority {
                if next.memory != option.memory {
                    reason +=
                        "; tied on priority with \(next.label), uses more memory (\(option.memory) vs \(next.memory))"
                } else if next.processes != option.processes {
                    reason +=
                        "; tied on priority and memory with \(next.label), fewer processes "
                        + "(\(option.processes) vs \(next.processes))"
                } else {
                    reason += "; tied on priority and memory with \(next.label), first by path order"
                }
            }
        }
        if option.explicit == nil {
            reason += "; no priority set: counts as \(option.priority), the highest set at \(place)"
        }
        if case .own(let path) = option.choice {
            reason += " [the processes directly in \(path.shown), local usage \(option.memory)]"
        }
        return reason
    }

    // MARK: Candidates that can resolve the OOM

    /// The need of an OOM of the search root, from its usage and limit (or ``PolicyOptions/resolutionLimit``).
    static func need(in tree: PolicyTree) -> ResolutionNeed? {
        guard let root = tree.sample(tree.root) else { return nil }
        return ResolutionNeed(usage: root.usage, limit: tree.options.resolutionLimit ?? root.limit)
    }

    /// The candidates that can resolve the OOM first (in walk order: the lowest tier that can, its largest
    /// first), then those too small to, each marked and with a reason. Unchanged when every candidate can,
    /// and (but marked) when none can.
    static func resolvingFirst(_ ranked: [RankedCandidate], need: ResolutionNeed?) -> [RankedCandidate] {
        guard let need else { return ranked }
        var marked = ranked
        for index in marked.indices {
            marked[index].candidate.canResolve = need.isMet(by: marked[index].candidate.memory)
        }
        let able = marked.filter { $0.candidate.canResolve == true }
        let small = marked.filter { $0.candidate.canResolve != true }
        guard !small.isEmpty else { return marked }
        guard var first = able.first else {
            return marked.map { item in
                var item = item
                item.candidate.reasons.append(
                    "no candidate frees what the OOM needs (\(need.description)): ranked by priority alone")
                return item
            }
        }
        // The tiers walked before the victim that were too small to help.
        let firstIndex = marked.firstIndex { $0.candidate.canResolve == true } ?? 0
        let skipped = marked[..<firstIndex]
        var note = "frees \(first.candidate.memory), enough to resolve the OOM (\(need.description))"
        if !skipped.isEmpty {
            var tiers: [(priority: Int?, count: Int, largest: ByteCount)] = []
            for item in skipped {
                if let last = tiers.indices.last, tiers[last].priority == item.candidate.priority {
                    tiers[last].count += 1
                    tiers[last].largest = max(tiers[last].largest, item.candidate.memory)
                } else {
                    tiers.append((item.candidate.priority, 1, item.candidate.memory))
                }
            }
            let shown = tiers.map { tier in
                "priority \(tier.priority.map(String.init) ?? "-"): \(tier.count) candidate\(tier.count == 1 ? "" : "s")"
                    + " of at most \(tier.largest)"
            }
            note += "; skipped as too small to help: " + shown.joined(separator: ", ")
        }
        first.candidate.reasons.append(note)
        let rest = small.map { item in
            var item = item
            item.candidate.reasons.append(
                "too small to resolve the OOM: frees \(item.candidate.memory) of the \(need.needed) needed "
                    + "(\(need.description)); ranked after the \(able.count) candidate\(able.count == 1 ? "" : "s") that can"
            )
            return item
        }
        return [first] + able.dropFirst() + rest
    }
}
