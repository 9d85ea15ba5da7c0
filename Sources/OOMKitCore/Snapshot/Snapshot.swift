import Glibc

/// Memory diagnostics captured at one moment: the system, a cgroup tree, and the processes using the
/// most memory. Encoded as versioned JSON (docs/snapshot-schema.md); `simulate --from` replays one.
public struct Snapshot: Sendable, Codable {
    /// The version of the JSON schema this library writes. Readers refuse newer major versions.
    public static let currentSchemaVersion = 1

    /// The schema version of this snapshot.
    public var schemaVersion: Int
    /// When it was taken, RFC 3339 in UTC (`2026-11-27T01:02:03.456Z`).
    public var takenAt: String
    /// The host's name and kernel release, where readable.
    public var hostname: String?
    public var kernel: String?
    /// The memory hierarchy the cgroups were read from.
    public var hierarchy: Hierarchy
    /// The cgroup the tree starts at (hierarchy-relative).
    public var root: CgroupPath
    /// System-wide figures.
    public var system: SystemMemory
    /// The root cgroup first, then every descendant depth first, in name order.
    public var cgroups: [CgroupSample]
    /// The processes of the tree using the most memory (resident + swap), largest first.
    public var processes: [ProcessEntry]
    /// Processes in the tree, including those not listed in ``processes``.
    public var processCount: Int
    /// What could not be collected, and why (e.g. slabinfo needs root). Never fatal.
    public var notes: [String]
    /// The process that took the snapshot (oomctl itself), so that a replay never picks it.
    public var takenByPID: Int32?

    public init(
        takenAt: String, hostname: String?, kernel: String?, hierarchy: Hierarchy, root: CgroupPath,
        system: SystemMemory, cgroups: [CgroupSample], processes: [ProcessEntry], processCount: Int,
        notes: [String]
    ) {
        self.schemaVersion = Self.currentSchemaVersion
        self.takenAt = takenAt
        self.hostname = hostname
        self.kernel = kernel
        self.hierarchy = hierarchy
        self.root = root
        self.system = system
        self.cgroups = cgroups
        self.processes = processes
        self.processCount = processCount
        self.notes = notes
        self.takenByPID = getpid()
    }
}

/// The system-wide part of a snapshot. Each part is nil when it could not be read (see the notes).
public struct SystemMemory: Sendable, Codable {
    /// /proc/meminfo, every field.
    public var memInfo: MemInfo?
    /// /proc/vmstat, every counter.
    public var vmStat: VMStat?
    /// /proc/pressure/memory.
    public var pressure: Pressure?
    /// The largest slab caches, from /proc/slabinfo (root only).
    public var slab: SlabSummary?
    /// vmalloc use by caller, from /proc/vmallocinfo (root only).
    public var vmalloc: VmallocSummary?
    /// Free pages and watermarks per zone, from /proc/zoneinfo.
    public var zones: [ZoneInfo.Zone]?
    /// Free blocks per order per zone (fragmentation), from /proc/buddyinfo.
    public var fragmentation: [BuddyInfo.Zone]?

    public init() {}
}

/// The slab caches that hold the most memory.
public struct SlabSummary: Sendable, Codable {
    public var totalBytes: ByteCount
    public var cacheCount: Int
    public var top: [SlabInfo.Cache]

    public init(totalBytes: ByteCount, cacheCount: Int, top: [SlabInfo.Cache]) {
        self.totalBytes = totalBytes
        self.cacheCount = cacheCount
        self.top = top
    }
}

/// vmalloc use in total and by the callers that hold the most.
public struct VmallocSummary: Sendable, Codable {
    public var totalBytes: ByteCount
    public var allocations: Int
    public var topCallers: [VmallocInfo.Caller]

    public init(totalBytes: ByteCount, allocations: Int, topCallers: [VmallocInfo.Caller]) {
        self.totalBytes = totalBytes
        self.allocations = allocations
        self.topCallers = topCallers
    }
}

/// One cgroup's memory figures at snapshot time. Version-specific fields are nil on the other version.
public struct CgroupSample: Sendable, Codable {
    public var path: CgroupPath
    public var usage: ByteCount
    public var limit: ByteCount
    /// v2 memory.high, memory.low, memory.min.
    public var high: ByteCount?
    public var low: ByteCount?
    public var min: ByteCount?
    /// v1 memory.soft_limit_in_bytes.
    public var softLimit: ByteCount?
    /// v1 memory.max_usage_in_bytes, v2 memory.peak.
    public var peak: ByteCount?
    public var swapUsage: ByteCount?
    public var swapLimit: ByteCount?
    /// v1 memory.oom_control.
    public var oomControl: OOMControl?
    /// v2 memory.events and memory.events.local.
    public var events: MemoryEvents?
    public var localEvents: MemoryEvents?
    /// v2 memory.oom.group.
    public var oomGroup: Bool?
    /// memory.stat by kernel key.
    public var stat: [String: UInt64]?
    /// memory.pressure (v2 with PSI).
    public var pressure: Pressure?
    /// The `user.oomctl.priority` / `trusted.oomctl.priority` attribute.
    public var priority: Int?
    /// oomd / systemd-oomd preferences; nil when none is set.
    public var oomd: OomdPreferences?
    /// The processes directly in this cgroup.
    public var processIDs: [Int32]
    /// v2: false when the cgroup has no memory controller (its parent does not enable it, or it is
    /// threaded): its usage is then 0 and its limit none, because its memory is charged to the nearest
    /// ancestor that has the controller. Nil: it has it (always on v1).
    public var memoryController: Bool?
    /// v2: true for a threaded cgroup (cgroup.type `threaded`).
    public var threaded: Bool?
    /// v2: whether every task in the cgroup and below is frozen (cgroup.events `frozen`); nil on v1,
    /// for the root, and where cgroup.events could not be read.
    public var frozen: Bool?
    /// The files that exist but could not be read, or that a cgroup with the memory controller should
    /// have and lacks: their figures are left out (nil), and usage and limit read 0 and none.
    public var unreadable: [String]?

    public init(path: CgroupPath, usage: ByteCount, limit: ByteCount, processIDs: [Int32]) {
        self.path = path
        self.usage = usage
        self.limit = limit
        self.processIDs = processIDs
    }

    /// Processes killed by the kernel OOM killer in this cgroup and below (v1 oom_kill, v2 events.oom_kill).
    public var oomKills: UInt64? { events?.oomKill ?? oomControl?.oomKill }
    /// Times the cgroup hit OOM (v2 only: v1 keeps no count).
    public var ooms: UInt64? { events?.oom }
    /// Whether the cgroup is in OOM now (v1 only: v2 does not wait in OOM).
    public var isUnderOOM: Bool { oomControl?.underOOM ?? false }
}

/// One process of the snapshot's top list.
public struct ProcessEntry: Sendable, Codable {
    public var pid: Int32
    public var name: String
    public var commandLine: [String]?
    public var residentSet: ByteCount
    public var swap: ByteCount
    public var oomScore: Int?
    public var oomScoreAdj: Int?
    /// Its memory cgroup (hierarchy-relative).
    public var cgroup: CgroupPath

    public init(sample: ProcessSample, cgroup: CgroupPath) {
        pid = sample.pid
        name = sample.name
        residentSet = sample.residentSet
        swap = sample.swap
        self.cgroup = cgroup
    }

    /// Resident set plus swap: what the ranking uses.
    public var footprint: ByteCount { residentSet + swap }
}
