/// Why a freeze hold cannot be had.
public enum FreezeHoldError: OOMKitError {
    /// cgroup v1 has no cgroup.freeze: freezing means moving the cgroup's processes into a freezer
    /// cgroup, which oomctl does not do to processes it did not start.
    case cgroupV1(CgroupPath)

    public var kind: FailureKind { .unavailable }

    public var description: String {
        switch self {
        case .cgroupV1(let path):
            "\(path.description.visibleControlCharacters) is on cgroup v1, where holding it frozen would mean moving "
                + "its processes into a freezer cgroup: the freeze hold needs cgroup v2"
        }
    }
}

/// `--hold freeze`: cgroups frozen while their handling's snapshot and hooks run (cgroup v2
/// cgroup.freeze), so nothing in them allocates and the kernel has no reason to kill meanwhile. Thawed
/// before a kill, when the handling ends, at shutdown — and by the ``GuardianClient`` if `watch` dies
/// (it learns `=…/cgroup.freeze 0` before the freeze is written).
package final class FreezeHolds {
    private let guardian: GuardianClient?
    private var frozen: [CgroupPath: Cgroup] = [:]

    package init(guardian: GuardianClient?) {
        self.guardian = guardian
    }

    /// The cgroups frozen now.
    package var held: Set<CgroupPath> { Set(frozen.keys) }

    /// Freezes the cgroup; nothing when it is frozen by this already. Returns false, and holds nothing,
    /// when someone else froze it (`docker pause`): thawing it later would undo their choice.
    @discardableResult
    package func freeze(_ cgroup: Cgroup) throws(CgroupError) -> Bool {
        guard frozen[cgroup.path] == nil else { return true }
        if (try? cgroup.read("cgroup.freeze"))?.trimmingASCIIWhitespace() == "1" { return false }
        guardian?.restoreOnExit(cgroup.freezeFilePath, value: "0", expected: "1", of: cgroup)
        do {
            try cgroup.setFrozen(true)
        } catch {
            guardian?.forget(cgroup.freezeFilePath)
            throw error
        }
        frozen[cgroup.path] = cgroup
        return true
    }

    /// Thaws the cgroup if this froze it. Returns why it could not, or nil (thawed, or not held).
    @discardableResult
    package func thaw(_ path: CgroupPath) -> String? {
        guard let cgroup = frozen.removeValue(forKey: path) else { return nil }
        guard cgroup.isAlive else {
            guardian?.forget(cgroup.freezeFilePath)
            return nil
        }
        do {
            try cgroup.setFrozen(false)
        } catch {
            // Still held: thawAll (at stop) tries again, and the guardian keeps its entry for when watch dies.
            frozen[path] = cgroup
            return error.description
        }
        guardian?.forget(cgroup.freezeFilePath)
        return nil
    }

    /// Thaws everything (shutdown).
    package func thawAll() {
        for path in Array(frozen.keys) { thaw(path) }
    }
}
