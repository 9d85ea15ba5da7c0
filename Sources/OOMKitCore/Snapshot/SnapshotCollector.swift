import Glibc

/// What a snapshot collects beyond the cgroup tree.
public struct SnapshotOptions: Sendable {
    /// How many processes to list, by resident set plus swap.
    public var topProcesses: Int
    /// How many slab caches and vmalloc callers to list.
    public var topKernelConsumers: Int
    /// Whether to read the system-wide files (meminfo, vmstat, PSI, slab, vmalloc, zones).
    public var includeSystem: Bool

    public init(topProcesses: Int = 10, topKernelConsumers: Int = 10, includeSystem: Bool = true) {
        self.topProcesses = topProcesses
        self.topKernelConsumers = topKernelConsumers
        self.includeSystem = includeSystem
    }
}

/// Captures a ``Snapshot``: reads the cgroup tree below a root, the processes in it, and the system files.
///
/// Only the root must be readable; anything else that cannot be read (a cgroup removed while walking,
/// a process that exited, a root-only file) is left out and said in ``Snapshot/notes``.
public struct SnapshotCollector: Sendable {
    public let system: CgroupSystem
    public let procfs: ProcFS

    public init(system: CgroupSystem) {
        self.system = system
        self.procfs = system.procfs
    }

    /// Takes a snapshot of the tree under `root`.
    public func collect(root: CgroupPath, options: SnapshotOptions = .init()) throws(CgroupError) -> Snapshot {
        try collect(from: MemoryCgroup.open(root, in: system), options: options)
    }

    /// Takes a snapshot of the subtree of an open cgroup, walking down from its directory: a cgroup
    /// renamed since it was opened, or deeper than PATH_MAX, is read all the same (its paths are those
    /// it was opened as).
    public func collect(from top: MemoryCgroup, options: SnapshotOptions = .init()) throws(CgroupError) -> Snapshot {
        let hierarchy = try system.memoryHierarchy()
        let root = top.path
        var notes: [String] = []
        var cgroups: [CgroupSample] = []
        cgroups.append(try sample(top))
        walk(below: top, into: &cgroups, notes: &notes)
        for cgroup in cgroups {
            if let files = cgroup.unreadable {
                notes.append(
                    "cgroup \(cgroup.path): could not read \(files.joined(separator: ", ")); those figures are left out"
                )
            }
            if cgroup.memoryController == false {
                notes.append(
                    "cgroup \(cgroup.path): no memory controller (\(cgroup.threaded == true ? "threaded" : "not enabled by its parent")); "
                        + "its processes' memory is charged to the nearest ancestor that has it")
            }
        }

        let (processes, processCount) = topProcesses(in: cgroups, count: options.topProcesses)
        var systemMemory = SystemMemory()
        if options.includeSystem {
            systemMemory = readSystem(top: options.topKernelConsumers, notes: &notes)
        }
        return Snapshot(
            takenAt: Self.timestamp(), hostname: Self.hostname(), kernel: procfs.kernelRelease(),
            hierarchy: hierarchy, root: root, system: systemMemory, cgroups: cgroups, processes: processes,
            processCount: processCount, notes: notes)
    }

    /// Depth first, children in name order. A child that vanishes mid-walk is skipped silently; one that
    /// cannot be read is noted and skipped.
    private func walk(below parent: MemoryCgroup, into cgroups: inout [CgroupSample], notes: inout [String]) {
        let children: [MemoryCgroup]
        do {
            children = try parent.children()
        } catch {
            if parent.cgroup.isAlive { notes.append("cannot list children of \(parent.path): \(error)") }
            return
        }
        for child in children {
            do {
                cgroups.append(try sample(child))
            } catch {
                if Self.isListedWithoutProcesses(child) { notes.append("cannot read cgroup \(child.path): \(error)") }
                continue
            }
            walk(below: child, into: &cgroups, notes: &notes)
        }
    }

    /// Reads one cgroup's figures: every one it can. Only the process list must be readable (a cgroup
    /// removed meanwhile throws); a figure that cannot be read is left out and named in
    /// ``CgroupSample/unreadable``. A v2 cgroup without the memory controller (not enabled by its parent,
    /// or threaded) has no memory figures of its own: ``CgroupSample/memoryController`` is false, its
    /// usage 0 and its limit none, and its processes' memory is charged to the nearest ancestor with it.
    public func sample(_ memory: MemoryCgroup) throws(CgroupError) -> CgroupSample {
        var unreadable: [String] = []
        let processIDs: [Int32]
        do {
            processIDs = try memory.cgroup.processIDs(procPath: procfs.path)
        } catch .system(let error) where error.code == .noSuchFileOrDirectory && Self.isListedWithoutProcesses(memory) {
            // A directory that still has other files or children (a fixture or copied tree without
            // cgroup.procs): shown, its process list noted as missing.
            unreadable.append("cgroup.procs")
            processIDs = []
        }
        func attempt<Value>(_ file: String, _ read: () throws(CgroupError) -> Value) -> Value? {
            do {
                return try read()
            } catch {
                unreadable.append(file)
                return nil
            }
        }
        let hasController = memory.hasMemoryController
        let v1 = memory.version == .v1
        var sample = CgroupSample(
            path: memory.path,
            usage: hasController
                ? attempt(v1 ? "memory.usage_in_bytes" : "memory.current") { () throws(CgroupError) in
                    try memory.usage()
                } ?? .zero : .zero,
            limit: hasController
                ? attempt(v1 ? "memory.limit_in_bytes" : "memory.max") { () throws(CgroupError) in
                    try memory.limit()
                } ?? .unlimited : .unlimited,
            processIDs: processIDs)
        if memory.version == .v2 && !memory.path.isRoot && memory.cgroup.hasFile("cgroup.events") {
            let events = attempt("cgroup.events") { () throws(CgroupError) in try memory.cgroup.events() }
            sample.frozen = events?.frozen
        }
        guard hasController else {
            sample.memoryController = false
            sample.threaded = memory.cgroup.isThreaded ? true : nil
            return sample
        }
        switch memory.version {
        case .v1:
            sample.softLimit =
                attempt("memory.soft_limit_in_bytes") { () throws(CgroupError) in try memory.softLimit() }
                ?? nil
            sample.oomControl = attempt("memory.oom_control") { () throws(CgroupError) in try memory.oomControl() }
        case .v2:
            sample.high = attempt("memory.high") { () throws(CgroupError) in try memory.high() } ?? nil
            sample.low = attempt("memory.low") { () throws(CgroupError) in try memory.low() } ?? nil
            sample.min = attempt("memory.min") { () throws(CgroupError) in try memory.min() } ?? nil
            // The v2 root has no memory.events; kernels before 5.2 have no memory.events.local.
            if memory.cgroup.hasFile("memory.events") {
                sample.events = attempt("memory.events") { () throws(CgroupError) in try memory.events() }
            } else if !memory.path.isRoot {
                unreadable.append("memory.events")
            }
            if memory.cgroup.hasFile("memory.events.local") {
                sample.localEvents = attempt("memory.events.local") { () throws(CgroupError) in
                    try memory.events(local: true)
                }
            }
            sample.oomGroup = attempt("memory.oom.group") { () throws(CgroupError) in try memory.oomGroup() } ?? nil
        }
        sample.peak =
            attempt(v1 ? "memory.max_usage_in_bytes" : "memory.peak") { () throws(CgroupError) in
                try memory.peak()
            } ?? nil
        let usage = sample.usage
        let limit = sample.limit
        sample.swapUsage =
            attempt(v1 ? "memory.memsw.usage_in_bytes" : "memory.swap.current") {
                () throws(CgroupError) in try memory.swapUsage(usage: usage)
            } ?? nil
        sample.swapLimit =
            attempt(v1 ? "memory.memsw.limit_in_bytes" : "memory.swap.max") { () throws(CgroupError) in
                try memory.swapLimit(limit: limit)
            } ?? nil
        sample.stat = attempt("memory.stat") { () throws(CgroupError) in try memory.stat().counters }
        sample.pressure = attempt("memory.pressure") { () throws(CgroupError) in try memory.pressure() } ?? nil
        let attributes = memory.oomAttributes()
        sample.priority = attributes.priority
        sample.oomd = attributes.oomd.isEmpty ? nil : attributes.oomd
        sample.unreadable = unreadable.isEmpty ? nil : unreadable
        return sample
    }

    /// A cgroup whose cgroup.procs is missing but that is still there: other files, or child cgroups. A
    /// removed cgroup's open directory has neither (the kernel took its files with it).
    private static func isListedWithoutProcesses(_ memory: MemoryCgroup) -> Bool {
        !memory.cgroup.fileNames().isEmpty || !((try? memory.cgroup.childNames()) ?? []).isEmpty
    }

    /// The `count` processes of the tree with the largest footprint, with their details, and the number
    /// of processes in the tree. Processes that exit meanwhile are skipped.
    private func topProcesses(in cgroups: [CgroupSample], count: Int) -> ([ProcessEntry], Int) {
        var samples: [(sample: ProcessSample, cgroup: CgroupPath)] = []
        // A threaded domain lists the processes of its threaded cgroups too: each process counts once.
        var seen = Set<Int32>()
        for cgroup in cgroups {
            for pid in cgroup.processIDs where seen.insert(pid).inserted {
                guard let sample = try? procfs.process(pid).sample() else { continue }
                samples.append((sample, cgroup.path))
            }
        }
        let processCount = samples.count
        let ranked = samples.filter { $0.sample.footprint.bytes > 0 }
            .sorted { ($0.sample.footprint, $1.sample.pid) > ($1.sample.footprint, $0.sample.pid) }
            .prefix(max(count, 0))
        let entries = ranked.map { item in
            let files = procfs.process(item.sample.pid)
            var entry = ProcessEntry(sample: item.sample, cgroup: item.cgroup)
            entry.commandLine = try? files.commandLine()
            entry.oomScore = try? files.oomScore()
            entry.oomScoreAdj = try? files.oomScoreAdj()
            return entry
        }
        return (entries, processCount)
    }

    private func readSystem(top: Int, notes: inout [String]) -> SystemMemory {
        var memory = SystemMemory()
        func attempt<Value>(_ what: String, _ read: () throws(ProcfsError) -> Value) -> Value? {
            do {
                return try read()
            } catch {
                notes.append("\(what): \(error.description)")
                return nil
            }
        }
        memory.memInfo = attempt("meminfo") { () throws(ProcfsError) in try procfs.memInfo() }
        memory.vmStat = attempt("vmstat") { () throws(ProcfsError) in try procfs.vmStat() }
        memory.pressure = attempt("pressure") { () throws(ProcfsError) in try procfs.memoryPressure() }
        if let slab = attempt("slabinfo", { () throws(ProcfsError) in try procfs.slabInfo() }) {
            memory.slab = SlabSummary(totalBytes: slab.totalBytes, cacheCount: slab.caches.count, top: slab.top(top))
        }
        if let vmalloc = attempt("vmallocinfo", { () throws(ProcfsError) in try procfs.vmallocInfo() }) {
            memory.vmalloc = VmallocSummary(
                totalBytes: vmalloc.totalBytes, allocations: vmalloc.allocations,
                topCallers: Array(vmalloc.callers.prefix(top)))
        }
        memory.zones = attempt("zoneinfo") { () throws(ProcfsError) in try procfs.zoneInfo() }?.zones
        memory.fragmentation = attempt("buddyinfo") { () throws(ProcfsError) in try procfs.buddyInfo() }?.zones
        return memory
    }

    /// The current time as RFC 3339 UTC with milliseconds.
    package static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }

    static func hostname() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
