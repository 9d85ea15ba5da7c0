import Glibc

/// The cgroup hierarchies of this machine (or of a fixture tree), and how to find a memory cgroup in them.
///
/// Discovery reads `<root>/proc/self/mountinfo`; hybrid systems (memory on v1 beside a cgroup2 mount
/// without it) are normal. `root` is `/` on a real system; tests and `OOMCTL_ROOT` point it at a
/// fixture tree laid out like one, with mount points and /proc below it.
public struct CgroupSystem: Sendable {
    /// The environment variable that points the layer at another root (fixture trees).
    public static let rootEnvironmentVariable = "OOMCTL_ROOT"

    /// The prefix under which /proc and the mount points are found; "" for the real system.
    public let rootPrefix: String
    /// Every mounted cgroup hierarchy, in mountinfo order (bind-mount duplicates removed).
    public let hierarchies: [Hierarchy]

    /// Where procfs is below the same root.
    public var procPath: String { rootPrefix + "/proc" }

    /// procfs below the same root.
    public var procfs: ProcFS { ProcFS(path: procPath) }

    /// Discovers the hierarchies below `root` ("/" for the real system).
    public init(root: String = "/") throws(CgroupError) {
        let prefix = root == "/" ? "" : String(root.reversed().drop(while: { $0 == "/" }).reversed())
        let text: String
        do {
            text = try FileIO.readText(path: prefix + "/proc/self/mountinfo")
        } catch {
            throw .system(error)
        }
        self.init(rootPrefix: prefix, mounts: CgroupMount.parse(mountInfo: text))
    }

    /// Discovers the hierarchies of the root named by `OOMCTL_ROOT`, or of the real system.
    public static func fromEnvironment() throws(CgroupError) -> CgroupSystem {
        if let root = getenv(rootEnvironmentVariable).map({ String(cString: $0) }), !root.isEmpty {
            return try CgroupSystem(root: root)
        }
        return try CgroupSystem()
    }

    /// Builds the hierarchy list from parsed mounts; v2 controllers are read from the mount's
    /// cgroup.controllers.
    public init(rootPrefix: String, mounts: [CgroupMount]) {
        self.rootPrefix = rootPrefix
        var seen: Set<String> = []
        var hierarchies: [Hierarchy] = []
        for mount in mounts {
            let controllers: [String]
            switch mount.version {
            case .v1:
                controllers = mount.v1Controllers
            case .v2:
                let text = (try? FileIO.readText(path: rootPrefix + mount.mountPoint + "/cgroup.controllers")) ?? ""
                controllers = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
            }
            // The same hierarchy bind-mounted twice: keep the first mount.
            let identity = "\(mount.version)|\(controllers.sorted().joined(separator: ","))"
            guard mount.version == .v1 ? seen.insert(identity).inserted : true else { continue }
            hierarchies.append(
                Hierarchy(
                    version: mount.version, mountPoint: rootPrefix + mount.mountPoint, mountRoot: mount.root,
                    controllers: controllers))
        }
        self.hierarchies = hierarchies
    }

    /// The hierarchy that carries the memory controller: the v1 `memory` hierarchy, else a cgroup2
    /// mount whose root lists `memory` in cgroup.controllers.
    public func memoryHierarchy() throws(CgroupError) -> Hierarchy {
        if let v1 = hierarchies.first(where: { $0.version == .v1 && $0.hasMemoryController }) { return v1 }
        if let v2 = hierarchies.first(where: { $0.version == .v2 && $0.hasMemoryController }) { return v2 }
        throw .noMemoryHierarchy(mounted: hierarchies)
    }

    /// Turns what a user typed into a path in the memory hierarchy: a hierarchy-relative path
    /// (`/system.slice/foo.service`, leading slash optional) or an absolute path inside the mount
    /// (`/sys/fs/cgroup/memory/system.slice`). Does not check that the cgroup exists.
    public func memoryCgroupPath(for input: String) throws(CgroupError) -> CgroupPath {
        let memory = try memoryHierarchy()
        guard !input.isEmpty else { throw .invalidPath(input, reason: "the path is empty") }
        if let relative = Self.relativePath(input, under: memory.mountPoint) {
            return try CgroupPath(relative)
        }
        // Inside another hierarchy's mount (e.g. /sys/fs/cgroup/cpu/x): say which one it is.
        if let other = hierarchies.filter({ $0 != memory && Self.relativePath(input, under: $0.mountPoint) != nil })
            .max(by: { $0.mountPoint.count < $1.mountPoint.count })
        {
            throw .wrongHierarchy(input, actual: other, memory: memory)
        }
        // Under the directory the cgroup file systems are mounted in, but in no hierarchy.
        let cgroupDirectory = memory.version == .v1 ? Self.parentDirectory(memory.mountPoint) : memory.mountPoint
        if let base = cgroupDirectory, Self.relativePath(input, under: base) != nil {
            throw .outsideHierarchy(input, memory: memory)
        }
        return try CgroupPath(input)
    }

    /// The memory cgroup of a process, from /proc/PID/cgroup.
    public func memoryCgroupPath(ofProcess pid: Int32) throws(CgroupError) -> CgroupPath {
        let memory = try memoryHierarchy()
        guard pid > 0 else { throw .noSuchProcess(pid) }
        let memberships: [CgroupMembership]
        do {
            memberships = try procfs.process(pid).cgroups()
        } catch {
            switch error {
            case .parse(let parseError): throw .parse(parseError)
            case .system(let systemError) where systemError.kind != .notFound: throw .system(systemError)
            default: throw .noSuchProcess(pid)
            }
        }
        let line: CgroupMembership?
        switch memory.version {
        case .v1: line = memberships.first { $0.hierarchyID != 0 && $0.controllers.contains("memory") }
        case .v2: line = memberships.first { $0.hierarchyID == 0 }
        }
        guard let line else { throw .processNotInHierarchy(pid, hierarchy: memory) }
        // With a bind-mounted sub-tree, /proc shows paths that include the mount's root.
        let path = Self.relativePath(line.path, under: memory.mountRoot) ?? line.path
        return try CgroupPath(path)
    }

    /// `path` relative to `directory` (with a leading "/"), or nil when it does not lie under it.
    static func relativePath(_ path: String, under directory: String) -> String? {
        if directory == "/" || directory.isEmpty { return path.hasPrefix("/") ? path : nil }
        let base = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        if path == base { return "/" }
        if path.hasPrefix(base + "/") { return String(path.dropFirst(base.count)) }
        return nil
    }

    static func parentDirectory(_ path: String) -> String? {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return nil }
        return String(path[..<slash])
    }
}
