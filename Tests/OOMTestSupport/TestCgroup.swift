import Glibc
import OOMKit

/// A real memory cgroup made for one test, below the test process's own memory cgroup, with a unique
/// name. Only processes the test starts are put in it; ``destroy()`` kills them and removes every
/// cgroup it made, children first (also when the test fails: call it in a `defer`).
public final class TestCgroup: @unchecked Sendable {
    /// Why real-cgroup tests cannot run here, or nil when they can.
    public static let unavailableReason: String? = {
        guard getuid() == 0 else { return "creating memory cgroups needs root" }
        guard let system = try? CgroupSystem(), (try? system.memoryHierarchy()) != nil else {
            return "no memory cgroup hierarchy is mounted"
        }
        return nil
    }()

    /// Whether real-cgroup tests can run here.
    public static var isAvailable: Bool { unavailableReason == nil }

    public let system: CgroupSystem
    public let hierarchy: Hierarchy
    /// The test cgroup's path in the hierarchy.
    public let path: CgroupPath
    private var started: [pid_t] = []

    /// Creates `<own cgroup>/<prefix>-<pid>-<random>` with an optional memory limit.
    public init(prefix: String = "oomctl-test", limit: ByteCount? = nil) throws {
        system = try CgroupSystem()
        hierarchy = try system.memoryHierarchy()
        let own = try system.memoryCgroupPath(ofProcess: getpid())
        path = own.appending("\(prefix)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try makeDirectory(filesystemPath(path))
        if let limit { try setLimit(limit) }
    }

    deinit { destroy() }

    /// Where a cgroup lies in the file system.
    public func filesystemPath(_ cgroup: CgroupPath) -> String {
        hierarchy.mountPoint + cgroup.description
    }

    /// The test cgroup's directory.
    public var directory: String { filesystemPath(path) }

    /// Makes a child (or grandchild: "a/b", parents first) of the test cgroup and returns its path.
    @discardableResult
    public func makeChild(_ relative: String, limit: ByteCount? = nil) throws -> CgroupPath {
        var current = path
        for name in relative.split(separator: "/") {
            current = current.appending(String(name))
            if LosslessText.withCString(filesystemPath(current), { access($0, F_OK) }) != 0 {
                try makeDirectory(filesystemPath(current))
            }
        }
        if let limit { try setLimit(limit, on: current) }
        return current
    }

    /// Sets the hard limit (v1 memory.limit_in_bytes, v2 memory.max).
    public func setLimit(_ limit: ByteCount, on cgroup: CgroupPath? = nil) throws {
        let file = hierarchy.version == .v1 ? "memory.limit_in_bytes" : "memory.max"
        try write(file, limit.isUnlimited ? (hierarchy.version == .v1 ? "-1" : "max") : String(limit.bytes), on: cgroup)
    }

    /// Writes a value to a file of the test cgroup or one of its children.
    public func write(_ file: String, _ value: String, on cgroup: CgroupPath? = nil) throws {
        let target = filesystemPath(cgroup ?? path) + "/" + file
        let descriptor = LosslessText.withCString(target) { open($0, O_WRONLY | O_CLOEXEC) }
        guard descriptor >= 0 else { throw SystemCallError("open", path: target, errno: errno) }
        defer { close(descriptor) }
        let written = value.withCString { Glibc.write(descriptor, $0, strlen($0)) }
        guard written >= 0 else { throw SystemCallError("write", path: target, errno: errno) }
    }

    /// Starts a program inside the test cgroup (or a child): a shell moves itself in, then execs the
    /// program, so it never runs a single instruction outside. The path is passed in the environment,
    /// never interpolated into the command.
    public func spawn(
        _ arguments: [String], in cgroup: CgroupPath? = nil, output: String = "/dev/null"
    ) throws
        -> pid_t
    {
        let script = #"echo $$ > "$OOMCTL_TEST_CGROUP/cgroup.procs" && exec "$@""#
        guard
            let pid = ProcessRunner.spawn(
                "/bin/sh", ["-c", script, "sh"] + arguments,
                environment: ["OOMCTL_TEST_CGROUP": filesystemPath(cgroup ?? path)], standardOutput: output,
                standardError: output)
        else { throw SystemCallError("spawn", path: arguments.first ?? "", errno: errno) }
        started.append(pid)
        // Wait until the process is in the cgroup (the shell's first action).
        let procs = filesystemPath(cgroup ?? path) + "/cgroup.procs"
        for _ in 0..<500 {
            if Cgroup.parseProcessList(ProcessRunner.readText(procs)).contains(pid) { break }
            usleep(2_000)
        }
        return pid
    }

    /// Starts the oomctl memory hog in the test cgroup (or a child).
    public func spawnHog(_ size: String, extra: [String] = [], in cgroup: CgroupPath? = nil) throws -> pid_t {
        try spawn([ProcessRunner.oomctlPath, "hog", size] + extra, in: cgroup)
    }

    /// Kills what the test started, waits for it, and removes the cgroups, deepest first.
    public func destroy() {
        for pid in started {
            kill(pid, SIGKILL)
            _ = ProcessRunner.wait(for: pid)
        }
        started.removeAll()
        removeTree(directory)
    }

    private func removeTree(_ directory: String) {
        if let handle = LosslessText.withCString(directory, { opendir($0) }) {
            var children: [String] = []
            while let entry = readdir(handle) {
                guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
                let name = withUnsafeBytes(of: entry.pointee.d_name) { LosslessText.decode($0.prefix { $0 != 0 }) }
                if name != "." && name != ".." { children.append(name) }
            }
            closedir(handle)
            for child in children { removeTree(directory + "/" + child) }
        }
        // A memcg whose last task just died can be busy for a moment.
        for _ in 0..<200 {
            if LosslessText.withCString(directory, { rmdir($0) }) == 0 || errno == ENOENT { return }
            usleep(10_000)
        }
    }

    private func makeDirectory(_ path: String) throws {
        guard LosslessText.withCString(path, { mkdir($0, 0o755) }) == 0 else {
            throw SystemCallError("create cgroup", path: path, errno: errno)
        }
    }
}
