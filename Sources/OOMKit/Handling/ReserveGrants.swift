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
    /// memory.memsw.limit_in_bytes while granted, when it was raised.
    public var raisedMemsw: ByteCount? = nil
}

/// Whether a value watch raised (a reserve grant's limit) may be given back now: the one decision the
/// running watch, its guardian and the next start's leftover restore all take. Only what still holds
/// what watch wrote is written back; a value someone changed meanwhile (an operator, a hook) is theirs.
package enum GrantRestore: Sendable, Equatable {
    /// The file still holds what watch wrote: write the original back.
    case writeBack
    /// It holds the original already: nothing to write.
    case alreadyBack
    /// Someone else wrote it since watch did: left as it is.
    case changedByOthers(current: ByteCount)
    /// It cannot be read (the cgroup is gone): nothing to restore.
    case gone

    /// `current`: what the file reads now (nil: unreadable); `written`: what watch wrote there (nil: not
    /// known, as in an earlier version's marker: the original goes back unconditionally); `original`:
    /// what it held before.
    package static func decide(current: ByteCount?, written: ByteCount?, original: ByteCount) -> GrantRestore {
        guard let current else { return .gone }
        if current == original { return .alreadyBack }
        guard let written, current != written else { return .writeBack }
        return .changedByOthers(current: current)
    }
}

/// Grants reserves — v1 on OOM (raises memory.limit_in_bytes, and memory.memsw.limit_in_bytes when set, by
/// the reserve), v2 on distress (raises memory.high, set to memory.max − reserve by `oomctl reserve`, to
/// memory.max) — and takes them back, never leaving a raised limit behind:
/// - the original limit is written back once usage allows it (a lower limit fails with EBUSY while usage
///   is above it; the write is retried every 50 ms), unless someone changed the limit meanwhile
///   (``GrantRestore``: only what still holds what watch wrote is ours to give back);
/// - the ``GuardianClient`` learns the values to give back before the limit is raised (`=PATH VALUE
///   RAISED`; on v2 told again when memory.max changes) and writes them back if `watch` dies;
/// - the marker attribute `trusted.oomctl.reserve_granted` (`PID LIMIT MEMSW RAISED RAISED_MEMSW`) lets the
///   next start restore what even a dead guardian left behind (``takeOverLeftovers(_:done:)``).
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
        // Whole pages: the kernel keeps a limit in pages, so the raised value reads back as written and
        // the restore can tell it from a value someone else wrote.
        let raise = ByteCount(record.bytes.bytes / Self.pageSize * Self.pageSize)
        let grant = ReserveGrant(
            cgroup: memory.path, bytes: record.bytes, originalLimit: limit, raisedLimit: limit + raise,
            originalMemsw: memsw, raisedMemsw: memsw.map { $0 + raise })
        // The guardian and the marker first: if we die between the steps, what they restore is harmless.
        tellGuardian(grant, memory)
        try? memory.cgroup.setExtendedAttribute(
            ReserveGrantMarker.attribute, ReserveGrantMarker(grant: grant).encoded)
        do {
            // memsw must stay at or above the memory limit: raise it first.
            if let raised = grant.raisedMemsw { try memory.setMemswLimit(raised) }
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

    static let pageSize = UInt64(max(4096, sysconf(Int32(_SC_PAGESIZE))))

    /// v2: memory.high up to memory.max. Nothing to grant when memory.high is not below a finite
    /// memory.max (the reserve was never applied, or someone raised memory.high).
    private func grantV2(_ memory: MemoryCgroup, reserve: ByteCount) throws(CgroupError) -> ReserveGrant? {
        let max = try memory.limit()
        guard !max.isUnlimited, let high = try memory.high(), !high.isUnlimited, high < max else { return nil }
        let grant = ReserveGrant(
            cgroup: memory.path, bytes: reserve, originalLimit: high, raisedLimit: max, originalMemsw: nil)
        tellGuardian(grant, memory)
        try? memory.cgroup.setExtendedAttribute(
            ReserveGrantMarker.attribute, ReserveGrantMarker(grant: grant).encoded)
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

    /// The guardian's entries for a grant: what the restore would write back now (``restoreTarget(_:_:)``),
    /// where the file still holds the raised value.
    private func tellGuardian(_ grant: ReserveGrant, _ memory: MemoryCgroup) {
        guardian?.restoreOnExit(
            Self.limitPath(memory), value: String(restoreTarget(grant, memory).bytes),
            expected: String(grant.raisedLimit.bytes), of: memory.cgroup)
        if let memsw = grant.originalMemsw, let raised = grant.raisedMemsw {
            guardian?.restoreOnExit(
                Self.memswPath(memory), value: String(memsw.bytes), expected: String(raised.bytes), of: memory.cgroup)
        }
    }

    /// v2: memory.max changed while a grant is in force. The guardian's entry follows, so that a watch
    /// that dies now has memory.high given back at memory.max − reserve as they are, as the running watch
    /// would, not at the memory.high of the grant's start. Returns that value; nil without a v2 grant.
    @discardableResult
    package func limitChanged(_ path: CgroupPath) -> ByteCount? {
        guard let (grant, memory) = granted[path], memory.version == .v2 else { return nil }
        tellGuardian(grant, memory)
        return restoreTarget(grant, memory)
    }

    /// Takes a grant back: writes the original limits now, or, while usage is still above them (EBUSY),
    /// every 50 ms until it can (up to a minute, then the guardian's entry stays for when watch exits).
    /// `done` gets the grant and nil when restored, or the reason it is not (or what was left as someone
    /// else set it).
    package func restore(_ path: CgroupPath, done: @escaping (ReserveGrant, String?) -> Void) {
        guard let entry = granted[path], retrying[path] == nil else { return }
        switch attempt(entry.grant, entry.memory) {
        case .restored(let note): done(entry.grant, note)
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
        case .restored(let note):
            cancelRetry(path)
            state.done(entry.grant, note)
        case .failed(let reason):
            cancelRetry(path)
            state.done(entry.grant, reason)
        case .busy:
            if state.attempts >= Self.retryLimit {
                cancelRetry(path)
                state.done(
                    entry.grant,
                    "usage stayed above the original limit \(entry.grant.originalLimit) for a minute: the limit stays "
                        + "raised (tried again when watch stops, and by its guardian)")
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
        /// Given back (with what was left as someone else set it, if anything).
        case restored(String?)
        case busy
        case failed(String)
    }

    private func attempt(_ grant: ReserveGrant, _ memory: MemoryCgroup) -> Attempt {
        guard memory.cgroup.isAlive else {
            forget(grant.cgroup)
            return .restored(nil)
        }
        var left: [String] = []
        do {
            // v2: memory.max − reserve as they are now; a hook that moved memory.high (e.g. to throttle)
            // made its own choice, and so did an operator who set a limit while granted.
            let limitFile = memory.version == .v1 ? "memory.limit_in_bytes" : "memory.high"
            switch GrantRestore.decide(
                current: try? Self.currentLimit(of: memory), written: grant.raisedLimit,
                original: restoreTarget(grant, memory))
            {
            case .writeBack: try Self.setLimit(restoreTarget(grant, memory), of: memory)
            case .changedByOthers(let current): left.append("\(limitFile) was set to \(current) meanwhile")
            case .alreadyBack, .gone: break
            }
            if let memsw = grant.originalMemsw {
                switch GrantRestore.decide(
                    current: try? memory.memswLimit(), written: grant.raisedMemsw, original: memsw)
                {
                case .writeBack: try memory.setMemswLimit(memsw)
                case .changedByOthers(let current):
                    left.append("memory.memsw.limit_in_bytes was set to \(current) meanwhile")
                case .alreadyBack, .gone: break
                }
            }
        } catch {
            return error.isBusy ? .busy : .failed(error.description)
        }
        try? memory.cgroup.removeExtendedAttribute(ReserveGrantMarker.attribute)
        guardian?.forget(Self.limitPath(memory))
        guardian?.forget(Self.memswPath(memory))
        granted[grant.cgroup] = nil
        return .restored(left.isEmpty ? nil : left.joined(separator: "; ") + " (not by watch): left as set")
    }

    /// The limit a grant gives back: the original one; on v2 memory.max − reserve as they are now (memory.max
    /// or the reserve may have changed while granted; memory.high follows them, as `watch` keeps it).
    package func restoreTarget(_ grant: ReserveGrant, _ memory: MemoryCgroup) -> ByteCount {
        Self.restoreTarget(original: grant.originalLimit, memory, store: store)
    }

    /// The one decision of what a grant gives back, for the running watch and for the next start's
    /// restore of a dead watch's grant alike.
    package static func restoreTarget(original: ByteCount, _ memory: MemoryCgroup, store: ReserveStore) -> ByteCount {
        guard memory.version == .v2, let max = try? memory.limit(), !max.isUnlimited,
            let record = store.read(memory)?.record, record.bytes < max
        else { return original }
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

    /// What became of a limit a dead `watch` left raised.
    package enum LeftoverOutcome: Sendable, Equatable {
        /// The original limit is back.
        case restored
        /// Usage is still above the original limit: tried again (``takeOverLeftovers(_:done:)``: every
        /// 50 ms for a minute, then at stop and by the guardian).
        case busy
        /// Someone set the limit since: theirs, left as it is (the marker goes).
        case changedByOthers(String)
        /// Not restored, and not tried again from here (why).
        case failed(String)
    }

    /// Restores the limits a dead `watch` left raised (cgroups carrying the marker with the PID of a process
    /// that no longer exists), where they still hold what that watch wrote; one try each.
    package static func restoreLeftovers(
        _ memories: [MemoryCgroup], store: ReserveStore
    ) -> [(CgroupPath, LeftoverOutcome)] {
        memories.compactMap { memory in
            guard let marker = ReserveGrantMarker.read(from: memory.cgroup), marker.owner.isLeftover
            else { return nil }
            return (memory.path, restoreLeftover(memory, marker, store: store))
        }
    }

    private static func restoreLeftover(
        _ memory: MemoryCgroup, _ marker: ReserveGrantMarker, store: ReserveStore
    ) -> LeftoverOutcome {
        var left: [String] = []
        // v2: what the running watch would give back (memory.max − reserve as they are now), not the
        // memory.high of the grant's start.
        let target = restoreTarget(original: marker.originalLimit, memory, store: store)
        do {
            switch GrantRestore.decide(
                current: try? currentLimit(of: memory), written: marker.raisedLimit, original: target)
            {
            case .writeBack: try setLimit(target, of: memory)
            case .changedByOthers(let current): left.append("the limit was set to \(current) since")
            case .alreadyBack, .gone: break
            }
            if let memsw = marker.originalMemsw {
                switch GrantRestore.decide(
                    current: try? memory.memswLimit(), written: marker.raisedMemsw, original: memsw)
                {
                case .writeBack: try memory.setMemswLimit(memsw)
                case .changedByOthers(let current):
                    left.append("memory.memsw.limit_in_bytes was set to \(current) since")
                case .alreadyBack, .gone: break
                }
            }
        } catch {
            return error.isBusy ? .busy : .failed(error.description)
        }
        try? memory.cgroup.removeExtendedAttribute(ReserveGrantMarker.attribute)
        return left.isEmpty ? .restored : .changedByOthers(left.joined(separator: "; "))
    }

    /// Start-up: restores what a dead `watch` left raised (``restoreLeftovers(_:store:)``) and takes over what
    /// usage does not allow yet as this watch's own grant — the guardian told, the marker naming this
    /// process — retried every 50 ms for up to a minute like any restore. `done` gets every outcome: at
    /// once, and for a busy one again when its retries end (restored, or failed with the reason).
    package func takeOverLeftovers(
        _ memories: [MemoryCgroup], done: @escaping (CgroupPath, LeftoverOutcome) -> Void
    ) {
        for (path, outcome) in Self.restoreLeftovers(memories, store: store) {
            done(path, outcome)
            guard outcome == .busy, let memory = memories.first(where: { $0.path == path }),
                let marker = ReserveGrantMarker.read(from: memory.cgroup), granted[path] == nil
            else { continue }
            let grant = ReserveGrant(
                cgroup: path, bytes: (marker.raisedLimit ?? marker.originalLimit) - marker.originalLimit,
                originalLimit: marker.originalLimit,
                raisedLimit: marker.raisedLimit ?? ((try? Self.currentLimit(of: memory)) ?? marker.originalLimit),
                originalMemsw: marker.originalMemsw,
                raisedMemsw: marker.originalMemsw == nil ? nil : (marker.raisedMemsw ?? (try? memory.memswLimit())))
            tellGuardian(grant, memory)
            try? memory.cgroup.setExtendedAttribute(
                ReserveGrantMarker.attribute, ReserveGrantMarker(grant: grant).encoded)
            granted[path] = (grant, memory)
            restore(path) { _, problem in
                done(path, problem.map { .failed($0) } ?? .restored)
            }
        }
    }

    /// Whether a cgroup's reserve is granted now by a live `watch` (from the marker attribute), and the
    /// original limit.
    package static func grantedNow(_ memory: MemoryCgroup) -> (pid: Int32, originalLimit: ByteCount)? {
        guard let marker = ReserveGrantMarker.read(from: memory.cgroup), !marker.owner.isGone
        else { return nil }
        return (marker.pid, marker.originalLimit)
    }

    /// The file a grant raises: v1 memory.limit_in_bytes, v2 memory.high.
    static func limitPath(_ memory: MemoryCgroup) -> String {
        memory.cgroup.filesystemPath + (memory.version == .v1 ? "/memory.limit_in_bytes" : "/memory.high")
    }

    /// The limit a grant raises, as it is now (v2: memory.high, `max` when none is set).
    private static func currentLimit(of memory: MemoryCgroup) throws(CgroupError) -> ByteCount {
        memory.version == .v1 ? try memory.limit() : (try memory.high() ?? .unlimited)
    }

    /// Writes the limit a grant raises.
    private static func setLimit(_ limit: ByteCount, of memory: MemoryCgroup) throws(CgroupError) {
        if memory.version == .v1 { try memory.setLimit(limit) } else { try memory.setHigh(limit) }
    }

    static func memswPath(_ memory: MemoryCgroup) -> String {
        memory.cgroup.filesystemPath + "/memory.memsw.limit_in_bytes"
    }
}
