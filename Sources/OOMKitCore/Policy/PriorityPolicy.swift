/// `priority`, the seed proposal's policy: starting at the root, at each level take the child with the
/// lowest priority (`oomctl.priority` xattr, else `--priority`, else 0; higher = more important), ties to
/// the one using more memory, then fewer processes, then path order. A child that is, or contains, a cgroup
/// running on a granted reserve ("overlimit") goes before every other at its level. Descend until a leaf
/// holding processes, a memory.oom.group=1 cgroup (a unit), or a cgroup none of whose children hold
/// processes. The ranked list is the whole order a kill would follow: every subtree is exhausted before
/// the walk moves to the next sibling.
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
        var priority: Int
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
                choice: choice, overlimit: overlimit, priority: tree.priority(path), memory: tree.usage(path),
                processes: tree.pids(below: path).count, path: path)
        case .own(let path):
            return Option(
                choice: choice,
                overlimit: options.overlimit.contains(path) ? "overlimit: running on a granted reserve" : nil,
                priority: tree.priority(path), memory: tree.localUsage(path), processes: tree.ownPIDs(path).count,
                path: path)
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
        options.sort { $0.precedes($1) }
        for index in options.indices {
            let here = reasons + [Self.levelReason(index, of: options, at: node)]
            switch options[index].choice {
            case .child(let child):
                if tree.isUnit(child) {
                    emit(
                        unit: child,
                        reasons: here + [
                            kind == .cgroup
                                ? "memory.oom.group=1: killed as a unit"
                                : "memory.oom.group=1: a unit, the walk stops here"
                        ])
                } else if !tree.children(of: child).contains(where: { tree.holdsProcesses($0) }) {
                    emit(unit: child, reasons: here)
                } else {
                    walk(child, reasons: here)
                }
            case .own(let path):
                if kind == .process {
                    emitProcesses(tree.ownPIDs(path), in: path, reasons: here)
                } else if emit(
                    unit: path,
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
    private mutating func emit(unit path: CgroupPath, reasons: [String]) -> Bool {
        switch kind {
        case .cgroup:
            if let reason = tree.cgroupExclusion(path) {
                excluded.append(ExcludedCandidate(target: .cgroup(path), reason: reason))
                return false
            }
            ranked.append(tree.cgroupCandidate(path, priority: tree.priority(path), reasons: reasons))
            return true
        case .process:
            emitProcesses(tree.pids(below: path), in: path, reasons: reasons)
            return false
        }
    }

    private mutating func emitProcesses(_ pids: [Int32], in path: CgroupPath, reasons: [String]) {
        let processes = tree.pickableProcesses(pids, excluded: &excluded)
        for (index, entry) in processes.enumerated() {
            let which =
                index == 0
                ? "the largest process in \(path.shown) (uses \(entry.footprint))"
                : "process \(index + 1) of \(processes.count) in \(path.shown) by memory (uses \(entry.footprint))"
            ranked.append(tree.processCandidate(entry, priority: tree.priority(path), reasons: reasons + [which]))
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
        if case .own(let path) = option.choice {
            reason += " [the processes directly in \(path.shown), local usage \(option.memory)]"
        }
        return reason
    }
}
