import Glibc

/// A cgroup's reserve as `oomctl reserve` shows it.
public struct ReserveStatus: Sendable, Codable {
    public var cgroup: CgroupPath
    public var version: Int
    /// The size as given (`16M`, `25%`).
    public var size: String
    public var bytes: ByteCount
    /// Where it is recorded (`attribute trusted.oomctl.reserve`, `state file /run/oomctl/...`).
    public var storage: String
    /// The hard limit now (v1 memory.limit_in_bytes, raised while granted; v2 memory.max).
    public var limit: ByteCount?
    /// How it is applied: `memory.high` (v2) or `granted by watch on OOM` (v1).
    public var applied: String
    /// v2: memory.high now, and what it was before the reserve.
    public var high: ByteCount?
    public var previousHigh: ByteCount?
    /// Whether a running `watch` has granted it now, and the limit it restores (v1 memory.limit_in_bytes,
    /// v2 memory.high).
    public var granted: Bool
    public var originalLimit: ByteCount?
    /// Whether this call changed anything (false when it was already so).
    public var changed: Bool
    /// v2: memory.max − reserve, what memory.high should be (nil: the reserve is not below memory.max).
    public var expectedHigh: ByteCount? = nil
    /// v2: whether memory.high is that now; false after memory.max changed with no watch running to
    /// follow it, or after someone else set memory.high (nil: v1, no memory.max, or granted now).
    public var inStep: Bool? = nil
    /// v2 `--clear`: memory.high was not the reserve's any more, so it was left as it is.
    public var highLeft: Bool? = nil
}

/// Sets, shows and clears reserves (``ReserveStore`` records them; on v2 memory.high = memory.max − reserve
/// is set at once, on v1 `watch` grants the reserve on OOM through ``ReserveGrants``).
public struct Reserves {
    public let system: CgroupSystem
    public let store: ReserveStore

    public init(system: CgroupSystem) {
        self.system = system
        store = ReserveStore(system: system)
    }

    /// Records a reserve for the cgroup and, on v2, lowers memory.high to memory.max − reserve. Refuses a
    /// reserve at or above the limit, on a cgroup without a limit, and (v1, where a grant is extra memory)
    /// one larger than the nearest limited ancestor has free or than the machine has available. Setting
    /// the same reserve again changes nothing (`changed` false).
    public func set(_ memory: MemoryCgroup, size: ReserveSize) throws -> ReserveStatus {
        try memory.requireMemoryController()
        try requireMayChange(memory, action: "set a reserve on")
        let existing = store.read(memory)
        // While a grant is in force the v1 limit is raised: the reserve is taken from the original one.
        let currentLimit = try memory.limit()
        let limit =
            memory.version == .v1 ? ReserveGrants.grantedNow(memory)?.originalLimit ?? currentLimit : currentLimit
        guard !limit.isUnlimited else { throw ReserveError.noLimit(memory.path) }
        let bytes = size.resolve(limit: limit)
        guard bytes.bytes > 0 else {
            throw ReserveError.tooLarge(memory.path, reason: "\(size) of the limit \(limit) is less than a page")
        }
        guard bytes < limit else {
            throw ReserveError.tooLarge(
                memory.path, reason: "the reserve \(bytes) is not less than the cgroup's limit \(limit)")
        }
        var record = ReserveRecord(size: size.description, bytes: bytes)
        switch memory.version {
        case .v1:
            if existing?.record == record { return try status(memory, changed: false) }
            try checkRoom(for: bytes, memory)
            _ = try store.write(record, for: memory)
        case .v2:
            let high = try memory.high() ?? .unlimited
            record.previousHigh = existing?.record.previousHigh ?? high
            let target = limit - bytes
            record.appliedHigh = target
            // The kernel rounds memory.high down to a page: less than one is a memory.high of 0, which
            // throttles every allocation of the cgroup.
            guard target.bytes >= Self.pageSize else {
                throw ReserveError.tooLarge(
                    memory.path,
                    reason: "it leaves memory.high at \(target) (memory.max \(limit) − \(bytes)), less than a "
                        + "page, which the kernel makes 0 and which throttles every allocation; keep the reserve "
                        + "at least a page below memory.max")
            }
            if existing?.record == record && Self.inPages(high) == Self.inPages(target) {
                return try status(memory, changed: false)
            }
            _ = try store.write(record, for: memory)
            do {
                try memory.setHigh(target)
            } catch {
                if let existing {
                    _ = try? store.write(existing.record, for: memory)
                } else {
                    try? store.remove(for: memory)
                }
                throw error
            }
        }
        return try status(memory, changed: true)
    }

    /// Refuses (``DelegationError``, nothing changed) a caller who may not write the file a reserve
    /// changes: v2 memory.high, v1 memory.limit_in_bytes (what `watch` raises for a grant). An
    /// unprivileged user may change only cgroups below the delegation point of their subtree.
    private func requireMayChange(_ memory: MemoryCgroup, action: String) throws {
        let file = memory.version == .v2 ? "memory.high" : "memory.limit_in_bytes"
        try Delegation(system: system, hierarchy: memory.cgroup.hierarchy)
            .requireWritable(file, in: memory.cgroup, action: action)
    }

    /// v1: a grant raises the limit by the reserve, so the memory must exist above it.
    private func checkRoom(for bytes: ByteCount, _ memory: MemoryCgroup) throws {
        var ancestor = memory.path.parent
        while let path = ancestor {
            let parent = try MemoryCgroup.open(path, in: system)
            let limit = try parent.limit()
            if !limit.isUnlimited {
                let free = limit - (try parent.usage())
                guard bytes <= free else {
                    throw ReserveError.tooLarge(
                        memory.path,
                        reason: "the reserve \(bytes) is more than \(path.description.visibleControlCharacters) can "
                            + "give (limit \(limit), \(free) free)")
                }
                break
            }
            ancestor = path.parent
        }
        if let available = try? system.procfs.memInfo().available, bytes > available {
            throw ReserveError.tooLarge(
                memory.path, reason: "the reserve \(bytes) is more than the machine has available (\(available))")
        }
    }

    /// The page size, below which memory.high is 0.
    static let pageSize = UInt64(max(sysconf(Int32(_SC_PAGESIZE)), 4096))

    /// A value as the kernel keeps memory.high: in whole pages (what it reads back).
    static func inPages(_ value: ByteCount) -> ByteCount { ByteCount(value.bytes / pageSize * pageSize) }

    /// v2: puts memory.high back at memory.max − reserve when memory.max changed since the reserve was
    /// set (or someone else moved memory.high). Returns the old and new memory.high when it wrote one;
    /// nil when nothing needed doing (no reserve, v1, no finite memory.max). Throws
    /// ``ReserveError/tooLarge(_:reason:)`` when memory.max fell to or below the reserve: memory.high is
    /// then left as it is (above memory.max, so without effect), and the operator must be told.
    public func reconcile(_ memory: MemoryCgroup) throws -> (old: ByteCount, new: ByteCount)? {
        guard memory.version == .v2, let record = store.read(memory)?.record else { return nil }
        let limit = try memory.limit()
        guard !limit.isUnlimited else { return nil }
        guard record.bytes < limit, (limit - record.bytes).bytes >= Self.pageSize else {
            throw ReserveError.tooLarge(
                memory.path,
                reason: "memory.max \(limit) is no longer above the reserve \(record.bytes), so memory.high "
                    + "cannot follow it and stays \((try? memory.high()).flatMap { $0 }?.description ?? "?"); "
                    + "lower the reserve (oomctl reserve CGROUP SIZE) or raise memory.max")
        }
        let target = limit - record.bytes
        let high = try memory.high() ?? .unlimited
        guard Self.inPages(high) != Self.inPages(target) else { return nil }
        try memory.setHigh(target)
        return (high, target)
    }

    /// Removes the reserve and undoes what it set (v2: memory.high back to its previous value, but only
    /// while memory.high is still what the reserve made it: one someone set since is theirs, and stays;
    /// ``ReserveStatus/highLeft`` then says so). Nil when the cgroup had none.
    public func clear(_ memory: MemoryCgroup) throws -> ReserveStatus? {
        try memory.requireMemoryController()
        guard let existing = store.read(memory) else { return nil }
        try requireMayChange(memory, action: "clear the reserve of")
        var shown = try status(memory, changed: true)
        if memory.version == .v2, let previous = existing.record.previousHigh {
            // Ours: what the reserve makes it now, or what `reserve` wrote (memory.max moved since).
            let written = existing.record.appliedHigh.map(Self.inPages) == shown.high.map(Self.inPages)
            if shown.inStep != false || (existing.record.appliedHigh != nil && written) {
                try memory.setHigh(previous)
                shown.high = previous
            } else {
                shown.highLeft = true
            }
        }
        // A grant a dead watch left marked must not bring the cleared reserve back at the next start.
        if memory.version == .v2, ReserveGrants.grantedNow(memory) == nil {
            try? memory.cgroup.removeExtendedAttribute(ReserveGrantMarker.attribute)
        }
        try store.remove(for: memory)
        return shown
    }

    /// The cgroup's reserve, or nil when it has none.
    public func status(_ memory: MemoryCgroup) throws -> ReserveStatus? {
        try memory.requireMemoryController()
        guard store.read(memory) != nil else { return nil }
        return try status(memory, changed: false)
    }

    private func status(_ memory: MemoryCgroup, changed: Bool) throws -> ReserveStatus {
        guard let (record, storage) = store.read(memory) else {
            throw ReserveError.cannotRecord(memory.path, reason: "the record disappeared while reading it")
        }
        let granted = ReserveGrants.grantedNow(memory)
        let limit = try? memory.limit()
        let high = memory.version == .v2 ? (try? memory.high()) ?? nil : nil
        var shown = ReserveStatus(
            cgroup: memory.path, version: memory.version.rawValue, size: record.size, bytes: record.bytes,
            storage: storage.description, limit: limit,
            applied: memory.version == .v2 ? "memory.high" : "granted by watch on OOM",
            high: high, previousHigh: record.previousHigh,
            granted: granted != nil, originalLimit: granted?.originalLimit, changed: changed)
        if memory.version == .v2, let limit, !limit.isUnlimited, granted == nil {
            // memory.high is what the reserve makes it unless memory.max moved with no watch to follow
            // it, or someone set memory.high since.
            let expected = record.bytes < limit ? limit - record.bytes : nil
            shown.expectedHigh = expected
            shown.inStep = expected.map { expected in high.map(Self.inPages) == Self.inPages(expected) } ?? false
        }
        return shown
    }

    /// Every reserve at or below `root`, depth first.
    public func list(under root: CgroupPath) throws -> [ReserveStatus] {
        var result: [ReserveStatus] = []
        func visit(_ memory: MemoryCgroup) throws {
            guard memory.hasMemoryController else { return }  // no reserve there, nor below
            if let shown = try status(memory) { result.append(shown) }
            for child in try memory.children() { try visit(child) }
        }
        try visit(MemoryCgroup.open(root, in: system))
        return result
    }
}
