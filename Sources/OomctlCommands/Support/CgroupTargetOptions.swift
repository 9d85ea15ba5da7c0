import ArgumentParser
import OOMKit

/// How every command names one memory cgroup: a path, or `--pid PID` for that process's cgroup.
struct CgroupTargetOptions: ParsableArguments {
    @Argument(
        help: ArgumentHelp(
            "A memory cgroup: its path in the hierarchy (/system.slice/foo.service, as /proc/PID/cgroup shows it) "
                + "or under the hierarchy's mount point (/sys/fs/cgroup/memory/...). Default: the hierarchy root.",
            valueName: "CGROUP"),
        completion: .custom(CgroupCompletion.candidates))
    var cgroup: String?

    @Option(help: ArgumentHelp("Use the memory cgroup of process PID instead.", valueName: "PID"))
    var pid: Int32?

    func validate() throws {
        if let pid, pid <= 0 {
            throw ValidationError("--pid must be a positive process ID, not \(pid)")
        }
    }

    /// Refuses a CGROUP beside --pid. Not part of ``validate()``, which runs before the command's own:
    /// a command whose next argument is optional (`reserve --pid PID SIZE`) first takes back the word
    /// that ArgumentParser gave to CGROUP, then calls this.
    func requireOneTarget() throws {
        if cgroup != nil && pid != nil {
            throw ValidationError("give either a CGROUP or --pid, not both")
        }
    }

    /// The cgroup named, resolved in the memory hierarchy (the root when none is named).
    func resolve(in system: CgroupSystem) throws(CgroupError) -> CgroupPath {
        if let pid { return try system.memoryCgroupPath(ofProcess: pid) }
        if let cgroup { return try system.memoryCgroupPath(for: cgroup) }
        _ = try system.memoryHierarchy()
        return .root
    }
}

/// Shell completion of cgroup paths: the cgroups of the memory hierarchy that start with what was typed.
enum CgroupCompletion {
    static func candidates(_ arguments: [String], _ index: Int, _ prefix: String) -> [String] {
        guard let system = try? CgroupSystem.fromEnvironment(), let hierarchy = try? system.memoryHierarchy()
        else { return [] }
        // Complete one level at a time: list the children of the directory part of what was typed.
        let directory =
            prefix.hasSuffix("/") ? prefix : String(prefix[..<(prefix.lastIndex(of: "/") ?? prefix.startIndex)])
        guard let path = try? CgroupPath(directory.isEmpty ? "/" : directory),
            let cgroup = try? Cgroup.open(path, in: hierarchy), let names = try? cgroup.childNames()
        else { return [] }
        let base = path.isRoot ? "/" : path.description + "/"
        return names.map { base + $0 }.filter { $0.hasPrefix(prefix) }
    }
}
