import Glibc

/// A reserve granted to a cgroup during an OOM (v1) or distress (v2): its limit before and after. The
/// limit is memory.limit_in_bytes on v1, memory.high on v2 (raised to memory.max: the kernel stops
/// throttling, and the cgroup runs on the reserve up to its hard limit).
public struct ReserveGrant: Sendable, Hashable {
    public var cgroup: CgroupPath
    /// The reserve.
    public var bytes: ByteCount
    /// The limit before the grant (what is restored): v1 memory.limit_in_bytes, v2 memory.high.
    public var originalLimit: ByteCount
    /// The limit while granted: v1 memory.limit_in_bytes + reserve, v2 memory.high = memory.max.
    public var raisedLimit: ByteCount
    /// memory.memsw.limit_in_bytes before the grant, when it was set (finite) and raised too.
    public var originalMemsw: ByteCount?
}

/// Grants reserves — v1 on OOM (raises memory.limit_in_bytes, and memory.memsw.limit_in_bytes when set, by
/// the reserve), v2 on distress (raises memory.high, set to memory.max − reserve by `oomctl reserve`, to
/// memory.max) — and takes them back, never leaving a raised limit behind:
/// - the original limit is written back once usage allows it (a lower limit fails with EBUSY while usage
///   is above it; the write is retried every 50 ms);
/// - the ``GuardianClient`` learns the original values before the limit is raised (`=PATH VALUE`) and
///   writes them back if `watch` dies;
/// - the marker attribute `trusted.oomctl.reserve_granted` (`PID LIMIT MEMSW`) lets the next start restore
///   what even a dead guardian left behind (``restoreLeftovers(_:)``).
package final class ReserveGrants {
    /// How often a restore the kernel refused with EBUSY (usage above the original limit) is tried again.
    static let retryInterval = Duration.milliseconds(50)
    /// How many tries a restore gets in the loop (1,200 × 50 ms = a minute); then the guardian keeps it.
    static let retryLimit = 1200
    private let store: ReserveStore
    private let guardian: GuardianClient?
    private let loop: EventLoop
    private var granted: [CgroupPath: (grant: ReserveGrant, memory: MemoryCgroup)] = [:]
    private var retrying: [CgroupPath: (timer: DeadlineTimer, attempts: Int, done: (ReserveGrant, String?) -> Void)] =
        [:]

    package init(store: ReserveStore, guardian: GuardianClient?, loop: EventLoop) {
        self.store = store
        self.guardian = guardian
        self.loop = loop
    }

    /// The cgroups running on a granted reserve ("overlimit" for the priority policy).
    package var grantedCgroups: Set<CgroupPath> { Set(granted.keys) }

    /// The grant in force for a cgroup.
    package func grant(for path: CgroupPath) -> ReserveGrant? { granted[path]?.grant }

    /// Grants the cgroup's reserve, if it has one. Returns the grant (the one in force when already
    /// granted; a restore still waiting for usage to drop is cancelled), or nil when there is none.
    package func grant(_ memory: MemoryCgroup) throws(CgroupError) -> ReserveGrant? {
        if let existing = granted[memory.path] {
            cancelRetry(memory.path)
            return existing.grant
        }
        guard let record = store.read(memory)?.record else { return nil }
        if memory.version == .v2 { return try grantV2(memory, reserve: record.bytes) }
        let limit = try memory.limit()
        guard !limit.isUnlimited else { return nil }
        let memsw = try memory.memswLimit().flatMap { $0.isUnlimited ? nil : $0 }
        let grant = ReserveGrant(
            cgroup: memory.path, bytes: record.bytes, originalLimit: limit, raisedLimit: limit + record.bytes,
            originalMemsw: memsw)
        // The guardian and the marker first: if we die between the steps, what they restore is harmless.
        guardian?.restoreOnExit(Self.limitPath(memory), value: String(limit.bytes))
        if let memsw { guardian?.restoreOnExit(Self.memswPath(memory), value: String(memsw.bytes)) }
        let marker = ReserveGrantMarker(pid: getpid(), originalLimit: limit, originalMemsw: memsw)
        try? memory.cgroup.setExtendedAttribute(ReserveGrantMarker.attribute, marker.encoded)
        do {
            // memsw must stay at or above the memory limit: raise it first.
            if let memsw { try memory.setMemswLimit(memsw + record.bytes) }
            try memory.setLimit(grant.raisedLimit)
        } catch {
            if let memsw { try? memory.setMemswLimit(memsw) }
            try? memory.cgroup.removeExtendedAttribute(ReserveGrantMarker.attribute)
            guardian?.forget(Self.limitPath(memory))
            guardian?.forget(Self.memswPath(memory))
            throw error
        }
        granted[memory.path] = (grant, memory)
        return grant
    }

    /// v2: memory.high up to memory.max. Nothing to grant when memory.high is not below a finite
    /// memory.max (the reserve was never applied, or someone raised memory.high).
    private func grantV2(_ memory: MemoryCgroup, reserve: ByteCount) throws(CgroupError) -> ReserveGrant? {
        let max = try memory.limit()
        guard !max.isUnlimited, let high = try memory.high(), !high.isUnlimited, high < max else { return nil }
        let grant = ReserveGrant(
            cgroup: memory.path, bytes: reserve, originalLimit: high, raisedLimit: max, originalMemsw: nil)
        guardian?.restoreOnExit(Self.limitPath(memory), value: String(high.bytes))
        let marker = ReserveGrantMarker(pid: getpid(), originalLimit: high, originalMemsw: nil)
        try? memory.cgroup.setExtendedAttribute(ReserveGrantMarker.attribute, marker.encoded)
        do {
            try memory.setHigh(max)
        } catch {
            try? memory.cgroup.removeExtendedAttribute(ReserveGrantMarker.attribute)
            guardian?.forget(Self.limitPath(memory))
            throw error
        }
        granted[memory.path] = (grant, memory)
        return grant
    }

    /// Takes a grant back: writes the original limits now, or, while usage is still above them (EBUSY),
    /// every 50 ms until it can (up to a minute, then the guardian's entry stays for when watch exits).
    /// `done` gets the grant and nil when restored, or the reason it is not.
    package func restore(_ path: CgroupPath, done: @escaping (ReserveGrant, String?) -> Void) {
        guard let entry = granted[path], retrying[path] == nil else { return }
        switch attempt(entry.grant, entry.memory) {
        case .restored: done(entry.grant, nil)
        case .failed(let reason): done(entry.grant, reason)
        case .busy:
            guard let timer = try? DeadlineTimer() else { return done(entry.grant, "cannot create a timer") }
            retrying[path] = (timer, 0, done)
            try? loop.add(timer.descriptor) { [self] _ in
                timer.acknowledge()
                retry(path)
            }
            timer.arm(after: Self.retryInterval)
        }
    }

    private func retry(_ path: CgroupPath) {
        guard var state = retrying[path], let entry = granted[path] else { return cancelRetry(path) }
        state.attempts += 1
        retrying[path] = state
        switch attempt(entry.grant, entry.memory) {
        case .restored:
            cancelRetry(path)
            state.done(entry.grant, nil)
        case .failed(let reason):
            cancelRetry(path)
            state.done(entry.grant, reason)
        case .busy:
            if state.attempts >= Self.retryLimit {
                cancelRetry(path)
                state.done(entry.grant, "usage stayed above the original limit for a minute")
            } else {
                state.timer.arm(after: Self.retryInterval)
            }
        }
    }

    private func cancelRetry(_ path: CgroupPath) {
        guard let state = retrying.removeValue(forKey: path) else { return }
        loop.remove(state.timer.descriptor)
    }

    private enum Attempt {
        case restored, busy
        case failed(String)
    }

    private func attempt(_ grant: ReserveGrant, _ memory: MemoryCgroup) -> Attempt {
        guard memory.cgroup.isAlive else {
            forget(grant.cgroup)
            return .restored
        }
        do {
            // v2: a hook that moved memory.high while granted (e.g. to throttle) made its own choice.
            let movedByOthers = memory.version == .v2 && (try? memory.high()) != grant.raisedLimit
            if !movedByOthers { try Self.setLimit(restoreTarget(grant, memory), of: memory) }
            if let memsw = grant.originalMemsw { try memory.setMemswLimit(memsw) }
        } catch {
            return error.isBusy ? .busy : .failed(error.description)
        }
        try? memory.cgroup.removeExtendedAttribute(ReserveGrantMarker.attribute)
        guardian?.forget(Self.limitPath(memory))
        guardian?.forget(Self.memswPath(memory))
        granted[grant.cgroup] = nil
        return .restored
    }

    /// The limit a grant gives back: the original one; on v2 memory.max − reserve as they are now (memory.max
    /// or the reserve may have changed while granted; memory.high follows them, as `watch` keeps it).
    package func restoreTarget(_ grant: ReserveGrant, _ memory: MemoryCgroup) -> ByteCount {
        guard memory.version == .v2, let max = try? memory.limit(), !max.isUnlimited,
            let record = store.read(memory)?.record, record.bytes < max
        else { return grant.originalLimit }
        return max - record.bytes
    }

    /// Takes every grant back (shutdown), waiting up to `patience` for usage to allow it. What is still
    /// busy stays with the guardian, which keeps trying after watch is gone. Returns those left.
    @discardableResult
    package func restoreAll(patience: Duration = .seconds(1)) -> [CgroupPath] {
        for path in retrying.keys { cancelRetry(path) }
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        while true {
            for (_, entry) in granted { _ = attempt(entry.grant, entry.memory) }
            if granted.isEmpty || clock.now >= deadline { break }
            usleep(UInt32(Self.retryInterval.totalNanoseconds / 1000))
        }
        return granted.keys.sorted()
    }

    /// Forgets a cgroup that was removed.
    package func forget(_ path: CgroupPath) {
        cancelRetry(path)
        guard let entry = granted.removeValue(forKey: path) else { return }
        guardian?.forget(Self.limitPath(entry.memory))
        guardian?.forget(Self.memswPath(entry.memory))
    }

    /// Restores the limits a dead `watch` left raised: cgroups carrying the marker with the PID of a process
    /// that no longer exists. Returns them (and the ones whose usage is still too high to restore).
    package static func restoreLeftovers(_ memories: [MemoryCgroup]) -> (restored: [CgroupPath], busy: [CgroupPath]) {
        var restored: [CgroupPath] = []
        var busy: [CgroupPath] = []
        for memory in memories {
            guard let marker = ReserveGrantMarker.read(from: memory.cgroup), MarkerFields.isLeftover(marker.pid)
            else { continue }
            do {
                try Self.setLimit(marker.originalLimit, of: memory)
                if let memsw = marker.originalMemsw { try memory.setMemswLimit(memsw) }
                try? memory.cgroup.removeExtendedAttribute(ReserveGrantMarker.attribute)
                restored.append(memory.path)
            } catch {
                busy.append(memory.path)
            }
        }
        return (restored, busy)
    }

    /// Whether a cgroup's reserve is granted now by a live `watch` (from the marker attribute), and the
    /// original limit.
    package static func grantedNow(_ memory: MemoryCgroup) -> (pid: Int32, originalLimit: ByteCount)? {
        guard let marker = ReserveGrantMarker.read(from: memory.cgroup), !MarkerFields.ownerIsGone(marker.pid)
        else { return nil }
        return (marker.pid, marker.originalLimit)
    }

    /// The file a grant raises: v1 memory.limit_in_bytes, v2 memory.high.
    static func limitPath(_ memory: MemoryCgroup) -> String {
        memory.cgroup.filesystemPath + (memory.version == .v1 ? "/memory.limit_in_bytes" : "/memory.high")
    }

    /// Writes the limit a grant raises.
    private static func setLimit(_ limit: ByteCount, of memory: MemoryCgroup) throws(CgroupError) {
        if memory.version == .v1 { try memory.setLimit(limit) } else { try memory.setHigh(limit) }
    }

    static func memswPath(_ memory: MemoryCgroup) -> String {
        memory.cgroup.filesystemPath + "/memory.memsw.limit_in_bytes"
    }
}
