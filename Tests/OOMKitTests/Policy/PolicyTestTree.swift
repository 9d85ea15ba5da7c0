import Testing

@testable import OOMKit

/// A path built from components, for tests (no validation needed for these literal names).
func cgroupPath(_ text: String) -> CgroupPath {
    text.split(separator: "/").reduce(CgroupPath.root) { $0.appending(String($1)) }
}

/// Builds a ``Snapshot`` in code: cgroups first, then processes (each joins its cgroup's process list).
struct PolicyTestTree {
    var version: CgroupVersion
    var root: CgroupPath
    var cgroups: [CgroupPath: CgroupSample] = [:]
    var processes: [ProcessEntry] = []

    init(version: CgroupVersion, root: String = "/") {
        self.version = version
        self.root = cgroupPath(root)
        cgroups[self.root] = CgroupSample(path: self.root, usage: .zero, limit: .unlimited, processIDs: [])
    }

    /// Adds (or replaces) a cgroup; usage in MiB.
    mutating func cgroup(
        _ path: String, usage: UInt64, priority: Int? = nil, oomd: OomdPreferences? = nil, oomGroup: Bool? = nil
    ) {
        let path = cgroupPath(path)
        var sample = CgroupSample(path: path, usage: ByteCount(usage << 20), limit: .unlimited, processIDs: [])
        sample.priority = priority
        sample.oomd = oomd
        sample.oomGroup = oomGroup ?? (version == .v2 ? false : nil)
        cgroups[path] = sample
    }

    /// Adds a process to a cgroup; resident set and swap in MiB; the command line defaults to the name.
    mutating func process(
        _ pid: Int32, _ name: String, in path: String, rss: UInt64, swap: UInt64 = 0, commandLine: [String]? = nil,
        score: Int? = nil, adj: Int? = 0
    ) {
        let path = cgroupPath(path)
        var entry = ProcessEntry(
            sample: ProcessSample(pid: pid, name: name, residentSet: ByteCount(rss << 20), swap: ByteCount(swap << 20)),
            cgroup: path)
        entry.commandLine = commandLine ?? [name]
        entry.oomScore = score
        entry.oomScoreAdj = adj
        processes.append(entry)
        cgroups[path]?.processIDs.append(pid)
    }

    /// A process the snapshot lists only by PID (no details), as beyond the collector's top N.
    mutating func bareProcess(_ pid: Int32, in path: String) {
        cgroups[cgroupPath(path)]?.processIDs.append(pid)
    }

    mutating func update(_ path: String, _ change: (inout CgroupSample) -> Void) {
        if var sample = cgroups[cgroupPath(path)] {
            change(&sample)
            cgroups[cgroupPath(path)] = sample
        }
    }

    var snapshot: Snapshot {
        Snapshot(
            takenAt: "2026-01-01T00:00:00.000Z", hostname: "test", kernel: "6.1.0",
            hierarchy: Hierarchy(
                version: version, mountPoint: version == .v1 ? "/sys/fs/cgroup/memory" : "/sys/fs/cgroup",
                controllers: ["memory"]),
            root: root, system: SystemMemory(), cgroups: cgroups.values.sorted { $0.path < $1.path },
            processes: processes.sorted { $0.footprint > $1.footprint }, processCount: processes.count, notes: [])
    }

    /// A v1 machine: processes in non-leaf cgroups (/batch and the root), kernel thread and init in the root.
    ///
    ///     /          2000M  pid 1 systemd, 2 kthreadd (kernel thread)
    ///     /batch      900M  prio 0   pid 100 batch-runner 90M           (local usage 100M)
    ///     /batch/a    500M  prio 0   pid 101 python3 480M (train.py), oom_score 600
    ///     /batch/b    300M  prio 5   pid 102 java 290M (job.jar), oom_score 700
    ///     /web        700M  prio 10
    ///     /web/front  400M  prio 0   pid 200 nginx 300M, 201 nginx 80M (oom_score 150 each)
    ///     /web/api    300M  prio 0   pid 202 node 290M, oom_score 700
    ///     /system     200M  prio 100 pid 300 sshd 10M, 301 journald 50M (oom_score_adj -1000)
    static func v1() -> PolicyTestTree {
        var tree = PolicyTestTree(version: .v1)
        tree.update("/") { $0.usage = ByteCount(2000 << 20) }
        tree.cgroup("/batch", usage: 900, priority: 0)
        tree.cgroup("/batch/a", usage: 500, priority: 0)
        tree.cgroup("/batch/b", usage: 300, priority: 5)
        tree.cgroup("/web", usage: 700, priority: 10)
        tree.cgroup("/web/front", usage: 400, priority: 0)
        tree.cgroup("/web/api", usage: 300, priority: 0)
        tree.cgroup("/system", usage: 200, priority: 100)
        tree.process(1, "systemd", in: "/", rss: 12, commandLine: ["/sbin/init"], score: 0)
        tree.process(2, "kthreadd", in: "/", rss: 0, commandLine: [], score: 0)
        tree.process(100, "batch-runner", in: "/batch", rss: 90, score: 100)
        tree.process(
            101, "python3", in: "/batch/a", rss: 400, swap: 80, commandLine: ["python3", "train.py"], score: 600)
        tree.process(102, "java", in: "/batch/b", rss: 290, commandLine: ["java", "-jar", "job.jar"], score: 700)
        tree.process(200, "nginx", in: "/web/front", rss: 300, score: 150)
        tree.process(201, "nginx", in: "/web/front", rss: 80, score: 150)
        tree.process(202, "node", in: "/web/api", rss: 290, commandLine: ["node", "server.js"], score: 700)
        tree.process(300, "sshd", in: "/system", rss: 10, score: 1)
        tree.process(301, "systemd-journal", in: "/system", rss: 50, score: 0, adj: -1000)
        return tree
    }

    /// A v2 machine: processes only in leaves, /workload/jobs a memory.oom.group unit. Searched under /workload.
    ///
    ///     /workload              1500M
    ///     /workload/cache         200M  prio 0   pid 600 redis 190M, oom_score 300
    ///     /workload/db            600M  prio 50
    ///     /workload/db/backup      50M           pid 401 pg_dump 40M, oom_score 20
    ///     /workload/db/main       550M           pid 400 postgres 500M, oom_score 500
    ///     /workload/jobs          700M  prio 0   memory.oom.group=1
    ///     /workload/jobs/w1       400M           pid 500 worker 380M (--queue critical), oom_score 400
    ///     /workload/jobs/w2       300M           pid 501 worker 280M (--queue bulk), oom_score 800
    static func v2() -> PolicyTestTree {
        var tree = PolicyTestTree(version: .v2)
        tree.cgroup("/workload", usage: 1500)
        tree.cgroup("/workload/cache", usage: 200, priority: 0)
        tree.cgroup("/workload/db", usage: 600, priority: 50)
        tree.cgroup("/workload/db/backup", usage: 50)
        tree.cgroup("/workload/db/main", usage: 550)
        tree.cgroup("/workload/jobs", usage: 700, priority: 0, oomGroup: true)
        tree.cgroup("/workload/jobs/w1", usage: 400)
        tree.cgroup("/workload/jobs/w2", usage: 300)
        tree.process(
            600, "redis", in: "/workload/cache", rss: 190, commandLine: ["redis-server", "*:6379"], score: 300)
        tree.process(400, "postgres", in: "/workload/db/main", rss: 500, score: 500)
        tree.process(401, "pg_dump", in: "/workload/db/backup", rss: 40, score: 20)
        tree.process(
            500, "worker", in: "/workload/jobs/w1", rss: 380, commandLine: ["worker", "--queue", "critical"], score: 400
        )
        tree.process(
            501, "worker", in: "/workload/jobs/w2", rss: 280, commandLine: ["worker", "--queue", "bulk"], score: 800)
        return tree
    }
}

/// Runs the engine with the options tweaked by `configure`; selfPID is set to one no tree uses.
func decide(
    _ tree: PolicyTestTree, under root: String = "/", _ configure: (inout PolicyOptions) -> Void = { _ in }
) throws -> Decision {
    var options = PolicyOptions()
    options.selfPID = 999_999
    configure(&options)
    return try PolicyEngine(options: options).decide(in: tree.snapshot, under: cgroupPath(root))
}

extension Candidate.Target {
    /// `/a/b` for a cgroup, `pid 12` for a process: what tests compare.
    var short: String {
        switch self {
        case .cgroup(let path): path.description
        case .process(let pid, _, _): "pid \(pid)"
        }
    }
}

extension Decision {
    var order: [String] { ranked.map(\.target.short) }
    var victimReasons: String { victim?.reasons.joined(separator: " | ") ?? "" }
    func excludedReason(_ short: String) -> String? {
        excluded.first { $0.target.short == short }?.reason
    }
    func reasons(of short: String) -> String {
        ranked.first { $0.target.short == short }?.reasons.joined(separator: " | ") ?? ""
    }
}
