import Glibc

/// Who may change a cgroup, for an unprivileged caller on a delegated cgroup v2 subtree.
///
/// A subtree is delegated to a user (systemd's `Delegate=yes`, a rootless container runtime, or by hand
/// as the kernel's cgroup-v2 documentation, "Delegation", describes) by giving them the directory of its
/// top cgroup, the *delegation point*, and its `cgroup.procs`, `cgroup.threads` and
/// `cgroup.subtree_control`. Every cgroup the user then creates below it is theirs, files and all; the
/// delegation point's own interface files (memory.max, memory.high, cgroup.kill, cgroup.freeze) stay
/// with whoever delegated it. The kernel enforces this with plain file permissions, so a write that
/// would fail is known before anything is changed: ``requireWritable(_:in:action:)`` checks it with
/// `faccessat(AT_EACCESS)` and throws a ``DelegationError`` that names the owner and the caller's
/// delegation point.
public struct Delegation: Sendable {
    /// The caller's effective user ID.
    public let caller: uid_t
    /// The caller's own cgroup in the hierarchy, when it could be read from /proc/self/cgroup.
    public let ownCgroup: CgroupPath?
    /// The top of the subtree delegated to the caller: the highest ancestor of the caller's own cgroup
    /// (itself included) whose directory the caller owns, without a cgroup not owned by the caller in
    /// between. Nil when the caller's own cgroup is not theirs (no delegation) or is unknown.
    public let point: CgroupPath?

    /// Finds the caller's delegation point in `hierarchy` from the caller's own cgroup (not looked for
    /// when the caller is root, whom file permissions do not limit).
    public init(system: CgroupSystem, hierarchy: Hierarchy) {
        caller = geteuid()
        let own = try? system.memoryCgroupPath(ofProcess: getpid())
        ownCgroup = own
        var point: CgroupPath?
        var candidate = caller == 0 ? nil : own
        while let path = candidate, !path.isRoot {
            guard let cgroup = try? Cgroup.open(path, in: hierarchy), Self.owner(of: cgroup) == caller else { break }
            point = path
            candidate = path.parent
        }
        self.point = point
    }

    /// Whether the caller is root (effective uid 0): file permissions do not limit it.
    public var isPrivileged: Bool { caller == 0 }

    /// Whether `path` is the caller's delegation point or below it.
    public func isDelegated(_ path: CgroupPath) -> Bool {
        guard let point else { return false }
        return path == point || path.isDescendant(of: point)
    }

    /// Throws a ``DelegationError`` when the caller may not write `file` of `cgroup` (its directory
    /// itself, for creating a child, when `file` is nil), before anything is changed.
    public func requireWritable(_ file: String?, in cgroup: Cgroup, action: String) throws(DelegationError) {
        guard !isPrivileged else { return }
        let name = file ?? "."
        guard faccessat(cgroup.directoryDescriptor, name, W_OK, AT_EACCESS) != 0, errno == EACCES || errno == EPERM
        else { return }
        var info = stat()
        let owner = fstatat(cgroup.directoryDescriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 ? info.st_uid : nil
        throw DelegationError(
            action: action, cgroup: cgroup.path, file: file, owner: owner, caller: caller,
            delegationPoint: point, directoryIsCallers: Self.owner(of: cgroup) == caller)
    }

    /// Throws a ``DelegationError`` when `pid` belongs to another user: kill(2) lets an unprivileged
    /// caller signal only processes whose real or saved user ID is the caller's real or effective one.
    public func requireSignallable(_ pid: Int32, procfs: ProcFS, cgroup: CgroupPath?) throws(DelegationError) {
        guard !isPrivileged, !Self.hasEffectiveCapability(5, procfs: procfs),  // CAP_KILL
            let ids = Self.userIDs(of: pid, procfs: procfs)
        else { return }
        let callers: Set<uid_t> = [getuid(), caller]
        guard !callers.contains(ids.real), !callers.contains(ids.saved) else { return }
        throw DelegationError(
            action: "signal", cgroup: cgroup ?? .root, file: nil, owner: ids.real, caller: caller,
            delegationPoint: point, directoryIsCallers: false, process: pid)
    }

    /// Whether the caller may write `file` of `cgroup` (checked with the effective IDs, as the write
    /// would be). Root always may.
    public static func mayWrite(_ file: String, in cgroup: Cgroup) -> Bool {
        geteuid() == 0 || faccessat(cgroup.directoryDescriptor, file, W_OK, AT_EACCESS) == 0
    }

    /// The owner of a cgroup's directory, nil when it cannot be read.
    public static func owner(of cgroup: Cgroup) -> uid_t? {
        var info = stat()
        return fstat(cgroup.directoryDescriptor, &info) == 0 ? info.st_uid : nil
    }

    /// Whether this process has capability `bit` in its effective set (`CapEff:` of its status).
    static func hasEffectiveCapability(_ bit: Int, procfs: ProcFS) -> Bool {
        guard let text = try? FileIO.readText(path: procfs.path + "/\(getpid())/status") else { return false }
        for line in text.split(separator: "\n") where line.hasPrefix("CapEff:") {
            guard let mask = UInt64(line.dropFirst(7).trimmingASCIIWhitespace(), radix: 16) else { return false }
            return mask & (1 << UInt64(bit)) != 0
        }
        return false
    }

    /// The real and saved user IDs of a process (the `Uid:` line of /proc/PID/status).
    static func userIDs(of pid: Int32, procfs: ProcFS) -> (real: uid_t, saved: uid_t)? {
        guard let text = try? FileIO.readText(path: procfs.path + "/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("Uid:") {
            let ids = line.dropFirst(4).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { uid_t($0) }
            guard ids.count >= 3 else { return nil }
            return (ids[0], ids[2])
        }
        return nil
    }

    /// A user ID as a person reads it: `root (uid 0)`, or `uid 1234` when it has no name here.
    public static func describe(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
        return "\(String(cString: name)) (uid \(uid))"
    }
}

/// An unprivileged caller asked to change a cgroup, or signal a process, that is not theirs. Nothing
/// was changed. The message names the owner and the caller's delegation point and says what to do.
public struct DelegationError: OOMKitError, Equatable {
    /// What was refused, as a verb phrase: `set a reserve on`, `kill`, `freeze`, `create a sandbox in`.
    public var action: String
    /// The cgroup it was for.
    public var cgroup: CgroupPath
    /// The file that would have been written (nil: the directory, to create a child in it).
    public var file: String?
    /// Its owner, when known.
    public var owner: uid_t?
    /// The caller's effective user ID.
    public var caller: uid_t
    /// The caller's delegation point (``Delegation/point``), nil when nothing is delegated to them.
    public var delegationPoint: CgroupPath?
    /// Whether the cgroup's directory is the caller's (the delegation point itself: its interface files
    /// stay with whoever delegated it).
    public var directoryIsCallers: Bool
    /// The process, for a refused signal.
    public var process: Int32?

    /// Describes a refusal; see the properties.
    public init(
        action: String, cgroup: CgroupPath, file: String?, owner: uid_t?, caller: uid_t,
        delegationPoint: CgroupPath?, directoryIsCallers: Bool, process: Int32? = nil
    ) {
        self.action = action
        self.cgroup = cgroup
        self.file = file
        self.owner = owner
        self.caller = caller
        self.delegationPoint = delegationPoint
        self.directoryIsCallers = directoryIsCallers
        self.process = process
    }

    public var kind: FailureKind { .permissionDenied }

    public var description: String {
        let you = "you (\(Delegation.describe(caller)))"
        let owned = owner.map { Delegation.describe($0) } ?? "another user"
        let target = cgroup.description.visibleControlCharacters
        let subtree: String
        if let point = delegationPoint {
            let below = point.description.visibleControlCharacters
            subtree = "your delegated subtree is \(below): use a cgroup below it (one you created), or run as root"
        } else {
            subtree =
                "no cgroup subtree is delegated to you (your own cgroup is not yours): run as root, or have "
                + "one delegated (systemd: Delegate=yes; the kernel's cgroup-v2.rst, \"Delegation\")"
        }
        if let process {
            return "cannot \(action) process \(process) in \(target): it belongs to \(owned), not to \(you); "
                + "\(subtree)"
        }
        let what = file.map { "its \($0)" } ?? "its directory"
        if directoryIsCallers {
            return "cannot \(action) \(target): \(what) belongs to \(owned), not to \(you): \(target) is the "
                + "delegation point of your subtree, whose own limits stay with whoever delegated it; use a "
                + "cgroup below it (mkdir one, then move your processes there)"
        }
        let outside = delegationPoint == nil ? "" : ", so it is outside the subtree delegated to you"
        return "cannot \(action) \(target): \(what) belongs to \(owned), not to \(you)\(outside); \(subtree)"
    }
}

extension Delegation {
    /// Throws a ``DelegationError`` when a kill of every process in `memory` and below would be refused
    /// for lack of permission, before anything is signalled: on v2 the caller must be able to write
    /// cgroup.kill (the kernel then kills every process in the subtree, whoever owns it); where there is
    /// none (v1, or a kernel before 5.14) every process must be the caller's to signal.
    public func requireMayKill(_ memory: MemoryCgroup, procfs: ProcFS) throws {
        guard !isPrivileged else { return }
        if memory.version == .v2 && memory.cgroup.hasFile("cgroup.kill") {
            return try requireWritable("cgroup.kill", in: memory.cgroup, action: "kill")
        }
        for member in [memory] + (try memory.descendants()) {
            for pid in try member.cgroup.processIDs() {
                try requireSignallable(pid, procfs: procfs, cgroup: member.path)
            }
        }
    }
}
