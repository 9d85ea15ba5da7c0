/// cgroup v1: which cgroup an OOM notification is about.
///
/// When a memcg hits its limit, the kernel signals the OOM eventfd of that memcg *and of every memcg below
/// it*, and marks them all under_oom. Under `watch --recursive` one OOM so reaches every watched cgroup of
/// the subtree, and a child that never came near a limit of its own looks, by its own files, like one in
/// OOM. The OOM belongs to its **owner**, the cgroup whose own limit was hit; it is handled once, there,
/// and the policy chooses among the owner's descendants. The owner of a notification of cgroup C is:
///
/// 1. the nearest of C and its ancestors that is under_oom and at its own limit: usage (or, with swap
///    accounting, memory+swap usage) within ``slack(for:)`` of its own finite limit;
/// 2. else, when C has a finite limit of its own: C, but as one that is not at its limit (its OOM may be
///    over, or its limit raised meanwhile): its handling never falls back to killing C itself;
/// 3. else none: C has no limit of its own and no ancestor is in OOM at its limit, so there is nothing
///    of C's own to resolve.
///
/// Nested OOMs stay apart: a child at its own limit is its own owner even while its parent is in OOM.
package enum OOMOwner: Equatable {
    /// The notified cgroup itself; `atLimit` false for rule 2.
    case itself(atLimit: Bool)
    /// An ancestor's OOM (rule 1).
    case ancestor(CgroupPath)
    /// Rule 3.
    case none

    /// One cgroup of the notified one's lineage, as read at the notification.
    package struct Level: Sendable {
        package var path: CgroupPath
        package var usage: ByteCount
        package var limit: ByteCount
        /// v1 memory.memsw.*: nil without swap accounting.
        package var memswUsage: ByteCount?
        package var memswLimit: ByteCount?
        package var underOOM: Bool

        package init(
            path: CgroupPath, usage: ByteCount, limit: ByteCount, memswUsage: ByteCount? = nil,
            memswLimit: ByteCount? = nil, underOOM: Bool
        ) {
            self.path = path
            self.usage = usage
            self.limit = limit
            self.memswUsage = memswUsage
            self.memswLimit = memswLimit
            self.underOOM = underOOM
        }

        /// Whether it has a finite limit of its own (memory, or memory+swap).
        package var hasLimit: Bool { !limit.isUnlimited || memswLimit.map { !$0.isUnlimited } == true }

        /// Usage (or memory+swap usage) within ``OOMOwner/slack(for:)`` of its own finite limit.
        package var isAtLimit: Bool {
            func near(_ usage: ByteCount, _ limit: ByteCount) -> Bool {
                !limit.isUnlimited && usage + OOMOwner.slack(for: limit) >= limit
            }
            if near(usage, limit) { return true }
            if let memswUsage, let memswLimit { return near(memswUsage, memswLimit) }
            return false
        }
    }

    /// How close to its limit a cgroup in OOM is taken to be: a charge fails within a few pages of the
    /// limit, and what the cgroup's other tasks free meanwhile moves it a little; 2 MiB, at most 1/8 of
    /// the limit (a cgroup with a limit of its own far from it is not the one in OOM).
    package static func slack(for limit: ByteCount) -> ByteCount {
        ByteCount(min(2 << 20, limit.bytes / 8))
    }

    /// The owner of a notification of `lineage[0]`, given it and its ancestors, nearest first.
    package static func find(_ lineage: [Level]) -> OOMOwner {
        guard let notified = lineage.first else { return .none }
        if let owner = lineage.first(where: { $0.underOOM && $0.isAtLimit }) {
            return owner.path == notified.path ? .itself(atLimit: true) : .ancestor(owner.path)
        }
        return notified.hasLimit ? .itself(atLimit: false) : .none
    }

    /// Reads the lineage of `memory` (it, then each ancestor up to, not including, the hierarchy root,
    /// which has no limit). An ancestor that cannot be read ends the lineage there.
    package static func lineage(of memory: MemoryCgroup, in system: CgroupSystem) -> [Level] {
        var levels: [Level] = []
        var current: MemoryCgroup? = memory
        while let here = current, !here.path.isRoot {
            guard let level = try? Self.level(here) else { break }
            levels.append(level)
            current = here.path.parent.flatMap { try? MemoryCgroup.open($0, in: system) }
        }
        return levels
    }

    private static func level(_ memory: MemoryCgroup) throws(CgroupError) -> Level {
        let usage = try memory.usage()
        let memswLimit = try? memory.memswLimit()
        let swap = (try? memory.swapUsage(usage: usage)) ?? nil
        return Level(
            path: memory.path, usage: usage, limit: try memory.limit(), memswUsage: swap.map { usage + $0 },
            memswLimit: memswLimit ?? nil, underOOM: try memory.oomControl().underOOM)
    }
}
