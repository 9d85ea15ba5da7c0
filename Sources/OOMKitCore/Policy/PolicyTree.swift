/// The snapshot indexed for the policies: cgroups by path, their children, the processes in each
/// subtree, and the per-cgroup and per-process exclusions every policy shares.
struct PolicyTree {
    let options: PolicyOptions
    let root: CgroupPath
    private(set) var samples: [CgroupPath: CgroupSample] = [:]
    private(set) var childPaths: [CgroupPath: [CgroupPath]] = [:]
    private(set) var entries: [Int32: ProcessEntry] = [:]
    /// Process IDs in each cgroup and everything below it (snapshot order).
    private(set) var subtreePIDs: [CgroupPath: [Int32]] = [:]
    /// The cgroup each process of the tree is in.
    private(set) var cgroupOfPID: [Int32: CgroupPath] = [:]

    init(snapshot: Snapshot, root: CgroupPath, options: PolicyOptions) throws(PolicyError) {
        self.options = options
        self.root = root
        // A cgroup without the memory controller (threaded, or not enabled by its parent) is part of the
        // nearest ancestor that has it, which its memory is charged to: not a candidate of its own, its
        // processes counted there.
        var folded: [CgroupPath: [Int32]] = [:]
        for sample in snapshot.cgroups where sample.path.isDescendant(of: root) {
            if sample.memoryController == false && sample.path != root {
                var owner = sample.path.parent
                while let candidate = owner, candidate != root,
                    snapshot.cgroups.first(where: { $0.path == candidate })?.memoryController == false
                {
                    owner = candidate.parent
                }
                if let owner { folded[owner, default: []] += sample.processIDs }
                continue
            }
            samples[sample.path] = sample
        }
        guard samples[root] != nil else { throw .notInSnapshot(root) }
        for (owner, pids) in folded {
            guard let own = samples[owner]?.processIDs else { continue }
            var listed = Set(own)  // a threaded domain already lists its threaded cgroups' processes
            samples[owner]?.processIDs += pids.filter { listed.insert($0).inserted }
        }
        for path in samples.keys where path != root {
            // The nearest ancestor present is the parent (a snapshot skips cgroups it could not read).
            var parent = path.parent
            while let candidate = parent, samples[candidate] == nil { parent = candidate.parent }
            if let parent { childPaths[parent, default: []].append(path) }
        }
        for key in childPaths.keys { childPaths[key]?.sort() }
        for entry in snapshot.processes { entries[entry.pid] = entry }
        for sample in samples.values {
            for pid in sample.processIDs { cgroupOfPID[pid] = sample.path }
        }
        subtreePIDs = [:]
        collect(root)
    }

    private mutating func collect(_ path: CgroupPath) {
        var pids = samples[path]?.processIDs ?? []
        for child in children(of: path) {
            collect(child)
            pids += subtreePIDs[child] ?? []
        }
        subtreePIDs[path] = pids
    }

    func sample(_ path: CgroupPath) -> CgroupSample? { samples[path] }
    func children(of path: CgroupPath) -> [CgroupPath] { childPaths[path] ?? [] }
    func ownPIDs(_ path: CgroupPath) -> [Int32] { samples[path]?.processIDs ?? [] }
    func pids(below path: CgroupPath) -> [Int32] { subtreePIDs[path] ?? [] }
    func holdsProcesses(_ path: CgroupPath) -> Bool { !pids(below: path).isEmpty }
    func usage(_ path: CgroupPath) -> ByteCount { samples[path]?.usage ?? .zero }
    func isUnit(_ path: CgroupPath) -> Bool { samples[path]?.oomGroup == true }

    /// Every cgroup at or below `path`, depth first.
    func subtree(_ path: CgroupPath) -> [CgroupPath] {
        [path] + children(of: path).flatMap { subtree($0) }
    }

    /// `path` and its ancestors present in the tree, nearest first.
    func lineage(_ path: CgroupPath) -> [CgroupPath] {
        var result: [CgroupPath] = []
        var current: CgroupPath? = path
        while let here = current, here.isDescendant(of: root) {
            if samples[here] != nil { result.append(here) }
            current = here.parent
        }
        return result
    }

    /// The priority set for a cgroup: its xattr, else `--priority`; nil when neither is (the `priority`
    /// policy then gives it the highest priority set among its siblings, ``PriorityPolicy``).
    func priority(_ path: CgroupPath) -> Int? {
        samples[path]?.priority ?? options.priorityOverrides[path]
    }

    /// The usage of a cgroup's own processes: its usage minus its children's.
    func localUsage(_ path: CgroupPath) -> ByteCount {
        children(of: path).reduce(usage(path)) { $0 - usage($1) }
    }

    /// The top-most memory.oom.group cgroup strictly below the root that contains `path`, if any.
    func unit(containing path: CgroupPath) -> CgroupPath? {
        lineage(path).last { $0 != root && isUnit($0) }
    }

    // MARK: Exclusions

    /// Why a process must never be picked, and whether that also forbids killing any cgroup holding it
    /// (hard: PID 1, oomctl, the protected PIDs) or only a cgroup whose processes are all protected (soft).
    func protection(of pid: Int32) -> (reason: String, hard: Bool)? {
        if pid == 1 { return ("protected: PID 1 (init)", true) }
        if pid == options.selfPID { return ("protected: oomctl itself (PID \(pid))", true) }
        if options.protectedPIDs.contains(pid) { return ("protected: PID \(pid) is on the protected list", true) }
        guard let entry = entries[pid] else { return nil }
        if entry.commandLine?.isEmpty == true && entry.residentSet == .zero {
            return ("protected: kernel thread (PID \(pid), \(entry.name.visibleControlCharacters))", false)
        }
        if entry.oomScoreAdj == -1000 { return ("protected: oom_score_adj -1000 (PID \(pid))", false) }
        return nil
    }

    /// Why nothing at or below `path` may be picked: a protected cgroup, or user.oomd_omit.
    func prunedReason(_ path: CgroupPath) -> String? {
        if let protected = options.protectedCgroups.first(where: { path.isDescendant(of: $0) }) {
            return protected == path
                ? "protected: \(protected.shown) is a protected cgroup"
                : "protected: below the protected cgroup \(protected.shown)"
        }
        if let omitted = lineage(path).first(where: { samples[$0]?.oomd?.omit == true }) {
            return omitted == path ? "oomd_omit: user.oomd_omit is set" : "oomd_omit: below \(omitted.shown)"
        }
        return nil
    }

    /// Why the cgroup `path` must not be killed as a whole (with everything below it), or nil.
    /// The search root itself is allowed only for `triggering`.
    func cgroupExclusion(_ path: CgroupPath, allowingRoot: Bool = false) -> String? {
        if path.isRoot { return "the root cgroup of the hierarchy is never a victim" }
        if path == root && !allowingRoot { return "the root of the search is never killed as a whole" }
        if let reason = prunedReason(path) { return reason }
        if let selfCgroup = options.selfCgroup, selfCgroup.isDescendant(of: path) {
            return selfCgroup == path
                ? "contains oomctl itself (its own cgroup)" : "contains oomctl itself (in \(selfCgroup.shown))"
        }
        let below = subtree(path).dropFirst()
        if let protected = below.first(where: { path in options.protectedCgroups.contains(path) }) {
            return "contains the protected cgroup \(protected.shown)"
        }
        if let omitted = below.first(where: { samples[$0]?.oomd?.omit == true }) {
            return "contains \(omitted.shown), which has user.oomd_omit"
        }
        let pids = pids(below: path)
        var softReasons: [String] = []
        for pid in pids {
            guard let (reason, hard) = protection(of: pid) else { continue }
            if hard { return "contains a protected process: \(reason.droppingPrefix("protected: "))" }
            softReasons.append(reason.droppingPrefix("protected: "))
        }
        if !pids.isEmpty && softReasons.count == pids.count {
            return "every process in it is protected (" + softReasons.prefix(3).joined(separator: ", ") + ")"
        }
        return nil
    }

    /// Why the process must not be picked, or nil.
    func processExclusion(_ pid: Int32, in cgroup: CgroupPath) -> String? {
        if let (reason, _) = protection(of: pid) { return reason }
        if let reason = prunedReason(cgroup) { return reason }
        if cgroup == options.selfCgroup { return "in oomctl's own cgroup" }
        return nil
    }
}

extension String {
    func droppingPrefix(_ prefix: String) -> String {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self
    }
}
