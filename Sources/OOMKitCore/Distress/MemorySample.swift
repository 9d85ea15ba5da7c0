import Glibc

/// What a cgroup v2 memory cgroup's files say at one instant: the input of ``MemoryDistress``.
///
/// Two successive samples of the same cgroup give rates (stall time, refaults, events); one sample
/// alone gives only what is charged and what of it cannot be reclaimed.
public struct MemorySample: Sendable, Hashable, Codable {
    /// When it was taken (monotonic clock, nanoseconds since boot).
    public var takenAtNanoseconds: UInt64
    /// memory.current.
    public var current: ByteCount
    /// memory.high (nil: not set, or unlimited).
    public var high: ByteCount?
    /// memory.max (nil: unlimited).
    public var max: ByteCount?
    /// memory.stat, raw.
    public var stat: MemoryStat
    /// memory.swap.current (nil without swap accounting).
    public var swapCurrent: ByteCount?
    /// memory.swap.max (nil: unlimited or no swap accounting).
    public var swapMax: ByteCount?
    /// The system's free swap (SwapFree of /proc/meminfo; nil when unknown).
    public var systemSwapFree: ByteCount?
    /// memory.pressure (nil without PSI).
    public var pressure: Pressure?
    /// memory.events (hierarchical).
    public var events: MemoryEvents?

    public init(
        takenAtNanoseconds: UInt64, current: ByteCount, high: ByteCount?, max: ByteCount?, stat: MemoryStat,
        swapCurrent: ByteCount? = nil, swapMax: ByteCount? = nil, systemSwapFree: ByteCount? = nil,
        pressure: Pressure? = nil, events: MemoryEvents? = nil
    ) {
        self.takenAtNanoseconds = takenAtNanoseconds
        self.current = current
        self.high = high
        self.max = max
        self.stat = stat
        self.swapCurrent = swapCurrent
        self.swapMax = swapMax
        self.systemSwapFree = systemSwapFree
        self.pressure = pressure
        self.events = events
    }

    /// Reads the sample from the cgroup's files (v2). `systemSwapFree` comes from /proc/meminfo, read
    /// by the caller (once per round of samples, not once per cgroup).
    public static func take(of memory: MemoryCgroup, systemSwapFree: ByteCount?) throws(CgroupError) -> MemorySample {
        let now = MonotonicClock.nanoseconds()
        let max = try memory.limit()
        let high = try memory.high()
        let swapMax = try memory.swapLimit()
        return MemorySample(
            takenAtNanoseconds: now, current: try memory.usage(), high: high.flatMap { $0.isUnlimited ? nil : $0 },
            max: max.isUnlimited ? nil : max, stat: try memory.stat(), swapCurrent: try memory.swapUsage(),
            swapMax: swapMax.flatMap { $0.isUnlimited ? nil : $0 }, systemSwapFree: systemSwapFree,
            pressure: try? memory.pressure(), events: memory.path.isRoot ? nil : try memory.events())
    }

    /// The limit the kernel holds the cgroup to first: memory.high when set, else memory.max.
    public var ceiling: ByteCount? {
        switch (high, max) {
        case (let high?, let max?): Swift.min(high, max)
        case (let high?, nil): high
        case (nil, let max): max
        }
    }

    /// Swap the cgroup's swap-backed pages (anon and shmem) could still go to: the cgroup's swap
    /// allowance left, capped by the system's free swap.
    public var swapRoom: ByteCount {
        let systemFree = systemSwapFree ?? .zero
        guard let swapMax else { return systemFree }
        return Swift.min(swapMax - (swapCurrent ?? .zero), systemFree)
    }

    /// Memory that reclaim cannot free: swap-backed pages (anon and shmem, on the anon LRU lists) beyond
    /// the swap room, unevictable pages, unreclaimable slab, kernel stacks, page tables, per-CPU memory,
    /// socket buffers and vmalloc.
    ///
    /// Dirty and writeback file pages are *not* counted: they become clean as the device writes them,
    /// and the kernel throttles the tasks that dirty them (balance_dirty_pages, per cgroup on v2) long
    /// before they fill the ceiling. A device too slow for that shows as reclaim stalls in PSI, which
    /// the verdict reads separately.
    public var unreclaimable: ByteCount {
        let swapBacked = value("inactive_anon") + value("active_anon")
        let unswappable = swapBacked > swapRoom.bytes ? swapBacked - swapRoom.bytes : 0
        let kernel = [
            "unevictable", "slab_unreclaimable", "kernel_stack", "pagetables", "sec_pagetables", "percpu", "sock",
            "vmalloc",
        ]
        .reduce(UInt64(0)) { $0 + value($1) }
        return ByteCount(unswappable + kernel)
    }

    /// What reclaim can free: the file LRU lists, reclaimable slab, and swap-backed pages up to the
    /// swap room.
    public var reclaimable: ByteCount {
        let swapBacked = value("inactive_anon") + value("active_anon")
        let file = value("inactive_file") + value("active_file")
        return ByteCount(file + value("slab_reclaimable") + Swift.min(swapBacked, swapRoom.bytes))
    }

    /// Dirty and writeback file pages (reclaimable only as fast as the device writes them).
    public var dirty: ByteCount { ByteCount(value("file_dirty") + value("file_writeback")) }

    /// Refaults of pages that were part of the working set when reclaim took them (memory.stat
    /// workingset_restore_anon/file, kernels from 5.9): the mark of thrashing. Plain refaults also count
    /// a streaming reader coming back to a file bigger than the cgroup, which is no distress.
    public var workingSetRestores: UInt64 { value("workingset_restore_anon") + value("workingset_restore_file") }

    private func value(_ key: String) -> UInt64 { stat[key] ?? 0 }
}

/// The monotonic clock, as the kernel counts it (CLOCK_MONOTONIC).
package enum MonotonicClock {
    package static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
