import Glibc

/// Disables the v1 kernel OOM killer on the cgroups `watch` handles, and makes sure it comes back:
/// on restore, through the ``GuardianClient`` if `watch` dies, and at the next start-up from a marker
/// attribute if even the guardian was gone.
package final class KernelKillerControl {
    private let guardian: GuardianClient?
    private var disabled: [CgroupPath: MemoryCgroup] = [:]

    package init(guardian: GuardianClient?) {
        self.guardian = guardian
    }

    /// The cgroups whose killer is currently disabled by this process.
    package var disabledCgroups: [CgroupPath] { disabled.keys.sorted() }

    /// How many (without sorting them).
    package var disabledCount: Int { disabled.count }

    /// Disables the kernel killer on a v1 cgroup (no-op on v2, where the kernel never waits).
    package func disable(_ memory: MemoryCgroup) throws(CgroupError) {
        guard memory.version == .v1 else { return }
        // The guardian learns of it first: if we die between the two steps it restores a killer that
        // was still enabled, which is harmless.
        // Claimed first: a guardian told of a cgroup another watch owns would re-enable that one's killer.
        if let other = Self.claim(memory) { throw .armedByAnotherWatch(memory.path, owner: other) }
        // The guardian learns of it before the write: if we die between the two steps it restores a
        // killer that was still enabled, which is harmless.
        guardian?.protect(Self.controlPath(memory), of: memory.cgroup)
        do {
            try memory.setOOMKillDisabled(true)
        } catch {
            // Refused (the v1 root takes no oom_kill_disable): nothing to restore, so nothing may say there is.
            try? memory.cgroup.removeExtendedAttribute(KillerDisabledMarker.attribute)
            guardian?.forget(Self.controlPath(memory))
            throw error
        }
        disabled[memory.path] = memory
    }

    /// Sets this process's marker, exclusively (XATTR_CREATE): of two watches starting at once on one
    /// cgroup, one owns it and the other is refused (the check at start-up alone leaves a window). A
    /// marker of this process stays (a re-arm); a leftover is replaced, if it still reads the same just
    /// before. Two watches replacing one leftover at once could each find it the same, and the later
    /// removal take the other's new marker: the read, the removal and the setting are done holding an
    /// flock on the cgroup's directory (``lockBriefly(_:)``), one watch at a time. Returns who else owns
    /// it — another watch, or a marker this version cannot read (a newer one's), never removed — or nil,
    /// also where no marker can be set (no trusted.* attributes without CAP_SYS_ADMIN: then, as ever,
    /// only the guardian restores).
    private static func claim(_ memory: MemoryCgroup) -> String? {
        let directory = memory.cgroup.directoryDescriptor
        let locked = lockBriefly(directory)
        defer { if locked { flock(directory, LOCK_UN) } }
        let mine = KillerDisabledMarker()
        for _ in 0..<3 {
            do {
                try memory.cgroup.setExtendedAttribute(KillerDisabledMarker.attribute, mine.encoded, exclusively: true)
                return nil
            } catch {
                guard case .system(let failure) = error, failure.code == .fileExists else { return nil }
            }
            guard let bytes = memory.cgroup.extendedAttribute(KillerDisabledMarker.attribute) else { continue }
            guard let marker = KillerDisabledMarker(bytes: bytes) else {
                return "marked by a watch this version cannot read: \(KillerDisabledMarker.attribute) is "
                    + "'\(String(decoding: bytes.prefix(64), as: UTF8.self).visibleControlCharacters)'"
            }
            if marker.owner == mine.owner { return nil }
            guard marker.owner.isLeftover else { return marker.owner.phrase }
            guard memory.cgroup.extendedAttribute(KillerDisabledMarker.attribute) == bytes else { continue }
            try? memory.cgroup.removeExtendedAttribute(KillerDisabledMarker.attribute)
        }
        return "claimed by another watch at the same moment (the marker changed three times)"
    }

    /// An exclusive flock on a cgroup's directory, tried three times 1 ms apart and never waited for
    /// longer: another watch holds it for microseconds, and anyone who may open the directory could hold
    /// it for ever (arming a child under `--recursive` runs in the loop). Without it, the claim goes on
    /// as it did before there was one.
    package static func lockBriefly(_ directory: Int32) -> Bool {
        for attempt in 0..<3 {
            if flock(directory, LOCK_EX | LOCK_NB) == 0 { return true }
            guard errno == EWOULDBLOCK || errno == EINTR, attempt < 2 else { return false }
            usleep(1_000)
        }
        return false
    }

    /// Re-enables the kernel killer on a cgroup this process disabled.
    package func restore(_ path: CgroupPath) {
        guard let memory = disabled.removeValue(forKey: path) else { return }
        try? memory.setOOMKillDisabled(false)
        try? memory.cgroup.removeExtendedAttribute(KillerDisabledMarker.attribute)
        guardian?.forget(Self.controlPath(memory))
    }

    /// Re-enables it everywhere (shutdown), and on every descendant that inherited the flag: the kernel
    /// copies a parent's oom_kill_disable into a child at mkdir, so arming a cgroup arms the children made
    /// after it, watched or not, and watch owns that subtree.
    package func restoreAll() {
        let armed = Array(disabled.values)
        for path in disabledCgroups { restore(path) }
        for memory in armed where memory.cgroup.isAlive { Self.clearInherited(below: memory) }
    }

    /// Clears oom_kill_disable on the descendants of `memory` that have it, except a subtree that another
    /// live watch armed (its marker; `formerOwner`, a watch that is gone but may not be reaped yet, does not
    /// count). Returns the cgroups cleared.
    @discardableResult
    package static func clearInherited(below memory: MemoryCgroup, formerOwner: Int32? = nil) -> [CgroupPath] {
        guard let children = try? memory.children() else { return [] }
        return children.flatMap { clearInherited(at: $0, formerOwner: formerOwner) }
    }

    /// Clears oom_kill_disable on `memory` and its descendants where set, unless another live watch armed
    /// it (its marker). Returns the cgroups cleared.
    @discardableResult
    package static func clearInherited(at memory: MemoryCgroup, formerOwner: Int32? = nil) -> [CgroupPath] {
        if let marker = KillerDisabledMarker.read(from: memory.cgroup), marker.pid != formerOwner,
            !marker.owner.isLeftover
        {
            return []
        }
        var cleared: [CgroupPath] = []
        if (try? memory.oomControl().oomKillDisable) == true, (try? memory.setOOMKillDisabled(false)) != nil {
            cleared.append(memory.path)
        }
        // After the cgroup itself: a child made meanwhile inherits the cleared flag, or is found below.
        return cleared + clearInherited(below: memory, formerOwner: formerOwner)
    }

    /// Forgets a cgroup that was removed.
    package func forget(_ path: CgroupPath) {
        guard let memory = disabled.removeValue(forKey: path) else { return }
        guardian?.forget(Self.controlPath(memory))
    }

    /// Re-enables the killer on cgroups a crashed `watch` left disabled: those carrying the marker with
    /// the PID of a process that no longer exists, and their children that inherited its flag. Returns
    /// those whose killer was in fact still disabled; a stale marker on a killer that is back (a guardian
    /// that restored it but could not remove the marker) is removed without a word.
    package static func restoreLeftovers(_ memories: [MemoryCgroup]) -> [CgroupPath] {
        var restored: [CgroupPath] = []
        for memory in memories where memory.version == .v1 {
            guard let marker = KillerDisabledMarker.read(from: memory.cgroup), marker.owner.isLeftover
            else { continue }
            let wasDisabled = (try? memory.oomControl().oomKillDisable) != false
            try? memory.setOOMKillDisabled(false)
            // And the children that inherited the dead watch's flag (after the cgroup itself, as always).
            restored += clearInherited(below: memory, formerOwner: marker.pid)
            try? memory.cgroup.removeExtendedAttribute(KillerDisabledMarker.attribute)
            if wasDisabled { restored.append(memory.path) }
        }
        return restored
    }

    /// Another `watch` that disabled the killer on `memory` (its marker) and still runs — or may: one of
    /// a PID namespace not visible from here counts — or nil.
    package static func otherWatch(armed memory: MemoryCgroup) -> MarkerOwner? {
        guard memory.version == .v1, let marker = KillerDisabledMarker.read(from: memory.cgroup),
            !marker.owner.isLeftover
        else { return nil }
        return marker.owner
    }

    static func controlPath(_ memory: MemoryCgroup) -> String {
        memory.cgroup.filesystemPath + "/memory.oom_control"
    }
}
