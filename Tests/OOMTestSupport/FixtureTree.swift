import Glibc
import OOMKit

/// A directory laid out like a machine's /proc and cgroup mounts, for `CgroupSystem(root:)` and
/// `OOMCTL_ROOT`. Removed when released.
public final class FixtureTree: @unchecked Sendable {
    /// The fixture's root directory.
    public let root: String

    public init() {
        var template = Array("/tmp/oomctl-fixture-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) }
        }
        root = made ?? "/tmp/oomctl-fixture-failed"
    }

    deinit { Self.removeTree(root) }

    /// Writes a file (parents are created).
    public func file(_ relative: String, _ contents: String, mode: mode_t = 0o644) {
        let path = root + "/" + relative
        directory(String(relative.split(separator: "/").dropLast().joined(separator: "/")))
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else { return }
        let bytes = Array(contents.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }

    /// Removes a file (a control file the kernel would not provide).
    public func remove(_ relative: String) {
        unlink(root + "/" + relative)
    }

    /// Makes a directory and its parents.
    public func directory(_ relative: String) {
        var current = root
        for component in relative.split(separator: "/") {
            current += "/" + component
            mkdir(current, 0o755)
        }
    }

    /// Makes a symbolic link at `relative` pointing to `target`.
    public func symlink(_ relative: String, to target: String) {
        Glibc.symlink(target, root + "/" + relative)
    }

    // MARK: Machine layouts

    /// The real procfs samples captured on a test machine (Tests/OOMKitTests/Fixtures/proc).
    public static let capturedProcfs: String = {
        let file = #filePath
        let tests = file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/")
        return tests + "/OOMKitTests/Fixtures/proc"
    }()

    /// Copies the system-wide procfs samples (meminfo, vmstat, …) into the fixture's /proc.
    public func addCapturedSystemFiles() {
        for name in ["meminfo", "vmstat", "zoneinfo", "buddyinfo", "slabinfo", "vmallocinfo", "pressure/memory"] {
            file("proc/" + name, ProcessRunner.readText(Self.capturedProcfs + "/" + name))
        }
    }

    /// A hybrid machine like the test machines: memory on cgroup v1 at /sys/fs/cgroup/memory, a cgroup2
    /// mount at /sys/fs/cgroup/unified with only hugetlb.
    public static func hybridV1() -> FixtureTree {
        let tree = FixtureTree()
        tree.file(
            "proc/self/mountinfo",
            """
            22 1 0:21 / / rw,relatime - ext4 /dev/vda rw
            31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
            40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw

            """)
        tree.file("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n")
        tree.directory("sys/fs/cgroup/cpu")
        tree.v1Cgroup("/", usage: 2 << 30, limit: nil, procs: [1])
        return tree
    }

    /// A pure cgroup v2 machine: cgroup2 at /sys/fs/cgroup with the memory controller.
    public static func unifiedV2() -> FixtureTree {
        let tree = FixtureTree()
        tree.file(
            "proc/self/mountinfo",
            """
            22 1 0:21 / / rw,relatime - ext4 /dev/vda rw
            30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot

            """)
        tree.file("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
        tree.v2Cgroup("/", usage: 3 << 30, max: nil, procs: [1])
        return tree
    }

    /// A v2 tree of the shape of oomd's fixtures (facebookincubator/oomd src/oomd/fixtures/cgroup/
    /// *.fakeroot): directories that hold only the one or two files a test needs, no cgroup.procs
    /// anywhere, a parent with only memory.low, a directory with only a child; beside them a real
    /// no-controller child (cgroup.procs, cgroup.events and PSI's memory.pressure, no memory files).
    public static func oomdShaped() -> FixtureTree {
        let tree = unifiedV2()
        let base = "sys/fs/cgroup/"
        tree.file(base + "A/memory.current", "1073741824\n")
        tree.file(base + "C/memory.low", "2147483648\n")
        tree.file(base + "C/C1/cgroup.controllers", "cpu io memory pids\n")
        tree.file(base + "C/C1/memory.current", "536870912\n")
        tree.file(base + "C/C2/C21/memory.current", "4096\n")
        tree.file(base + "C/nomem/cgroup.procs", "")
        tree.file(base + "C/nomem/cgroup.events", "populated 0\nfrozen 0\n")
        tree.file(base + "C/nomem/memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
        return tree
    }

    /// The files of a v1 memory cgroup at a hierarchy path.
    public func v1Cgroup(
        _ path: String, usage: UInt64, limit: UInt64?, procs: [Int32] = [], underOOM: Bool = false,
        oomKills: UInt64 = 0, stat: String = "cache 1048576\nrss 2097152\ntotal_cache 1048576\ntotal_rss 2097152\n"
    ) {
        let directory = "sys/fs/cgroup/memory" + (path == "/" ? "" : path)
        let unlimited = "9223372036854771712\n"
        file(directory + "/memory.usage_in_bytes", "\(usage)\n")
        file(directory + "/memory.limit_in_bytes", limit.map { "\($0)\n" } ?? unlimited)
        file(directory + "/memory.soft_limit_in_bytes", unlimited)
        file(directory + "/memory.max_usage_in_bytes", "\(usage + 4096)\n")
        file(directory + "/memory.stat", stat)
        file(
            directory + "/memory.oom_control",
            "oom_kill_disable 0\nunder_oom \(underOOM ? 1 : 0)\noom_kill \(oomKills)\n")
        file(directory + "/cgroup.procs", procs.map { "\($0)\n" }.joined())
    }

    /// The files of a v2 memory cgroup at a hierarchy path.
    public func v2Cgroup(
        _ path: String, usage: UInt64, max: UInt64?, high: UInt64? = nil, procs: [Int32] = [],
        events: MemoryEvents = MemoryEvents(), oomGroup: Bool = false
    ) {
        let directory = "sys/fs/cgroup" + (path == "/" ? "" : path)
        file(directory + "/cgroup.procs", procs.map { "\($0)\n" }.joined())
        file(directory + "/memory.stat", "anon 2097152\nfile 1048576\nkernel 65536\n")
        file(
            directory + "/memory.pressure",
            "some avg10=1.50 avg60=0.20 avg300=0.00 total=12345\nfull avg10=0.50 avg60=0.10 avg300=0.00 total=2345\n")
        if path != "/" {
            file(directory + "/memory.current", "\(usage)\n")
            file(directory + "/memory.max", max.map { "\($0)\n" } ?? "max\n")
            file(directory + "/memory.high", high.map { "\($0)\n" } ?? "max\n")
            file(directory + "/memory.low", "0\n")
            file(directory + "/memory.min", "0\n")
            file(directory + "/memory.peak", "\(usage + 8192)\n")
            file(directory + "/memory.swap.current", "0\n")
            file(directory + "/memory.swap.max", "max\n")
            file(directory + "/memory.oom.group", oomGroup ? "1\n" : "0\n")
            let eventsText =
                "low \(events.low)\nhigh \(events.high)\nmax \(events.max)\noom \(events.oom)\n"
                + "oom_kill \(events.oomKill)\noom_group_kill \(events.oomGroupKill)\n"
            file(directory + "/memory.events", eventsText)
            file(directory + "/memory.events.local", eventsText)
        }
    }

    /// A process's status and cgroup files.
    public func process(_ pid: Int32, name: String, residentKiB: UInt64, cgroupLine: String, oomScore: Int = 100) {
        file(
            "proc/\(pid)/status",
            "Name:\t\(name)\nState:\tS (sleeping)\nPid:\t\(pid)\nPPid:\t1\nUid:\t0\t0\t0\t0\n"
                + "VmRSS:\t\(residentKiB) kB\nVmSwap:\t0 kB\nThreads:\t1\n")
        file("proc/\(pid)/cgroup", cgroupLine + "\n")
        file("proc/\(pid)/cmdline", name + "\0--flag\0")
        file("proc/\(pid)/oom_score", "\(oomScore)\n")
        file("proc/\(pid)/oom_score_adj", "0\n")
    }

    static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR, let handle = opendir(path) {
            var names: [String] = []
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(handle)
            for name in names { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}
