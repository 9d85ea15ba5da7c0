/// One line of /proc/PID/cgroup: the process's cgroup in one hierarchy.
public struct CgroupMembership: Sendable, Hashable, Codable {
    /// The hierarchy ID: 0 for the cgroup v2 unified hierarchy.
    public var hierarchyID: Int
    /// The controllers bound to the hierarchy (`memory`, `cpu`, `name=systemd` kept as is); empty for v2.
    public var controllers: [String]
    /// The cgroup path relative to the hierarchy's root, e.g. `/system.slice/foo.service`.
    public var path: String

    public init(hierarchyID: Int, controllers: [String], path: String) {
        self.hierarchyID = hierarchyID
        self.controllers = controllers
        self.path = path
    }

    /// Whether this is the cgroup v2 unified hierarchy (`0::/path`).
    public var isUnified: Bool { hierarchyID == 0 && controllers.isEmpty }

    /// Parses the text of /proc/PID/cgroup: `ID:controller,controller:path` lines. The path may hold
    /// `:`, so each line is split at its first two colons only.
    public static func parse(_ text: String) throws(ParseError) -> [CgroupMembership] {
        var memberships: [CgroupMembership] = []
        for line in ProcfsText.lines(text) {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, let id = ProcfsText.decimal(parts[0]), id <= UInt64(Int32.max),
                parts[2].hasPrefix("/")
            else {
                throw ParseError("/proc/PID/cgroup", input: line, reason: "expected 'ID:controllers:/path'")
            }
            let controllers = parts[1].split(separator: ",").map(String.init)
            memberships.append(CgroupMembership(hierarchyID: Int(id), controllers: controllers, path: String(parts[2])))
        }
        return memberships
    }
}
