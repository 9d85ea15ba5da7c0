extension Cgroup {
    /// Whether the cgroup can be frozen: cgroup v2's cgroup.freeze (kernels from 5.2; not the root).
    public var canFreeze: Bool { hierarchy.version == .v2 && hasFile("cgroup.freeze") }

    /// Freezes or thaws every task of the cgroup and its descendants (v2 cgroup.freeze). A frozen task
    /// allocates nothing; fatal signals still reach it (cgroup.kill acts on a frozen group).
    public func setFrozen(_ frozen: Bool) throws(CgroupError) {
        guard hierarchy.version == .v2 else { throw .unsupported("freezing through cgroup.freeze", version: .v1) }
        try write("cgroup.freeze", frozen ? "1" : "0")
    }

    /// Whether every task is frozen now (v2 cgroup.events `frozen 1`; freezing takes a moment).
    public func isFrozen() throws(CgroupError) -> Bool {
        try events().frozen
    }

    /// The path of the cgroup's freeze file (what a guardian writes `0` to, to thaw it).
    public var freezeFilePath: String { filesystemPath + "/cgroup.freeze" }
}
