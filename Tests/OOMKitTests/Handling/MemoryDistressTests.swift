import Testing

@testable import OOMKitCore

/// The distress verdict over samples shaped like those of the VM's kernels: page cache at the ceiling
/// is never distress; unreclaimable memory at the ceiling, persistent full stalls, thrashing and the
/// kernel's own OOM are.
@Suite struct MemoryDistressTests {
    static let mib: UInt64 = 1 << 20

    /// A sample `at` milliseconds, with the LRU sizes in MiB and PSI totals in milliseconds.
    static func sample(
        at milliseconds: UInt64, high: UInt64? = nil, max: UInt64? = 64, anon: UInt64 = 1, file: UInt64 = 0,
        unevictable: UInt64 = 0, slabReclaimable: UInt64 = 0, kernel: UInt64 = 0, dirty: UInt64 = 0,
        restores: UInt64 = 0, some: UInt64 = 0, full: UInt64 = 0, oom: UInt64 = 0, swapMax: UInt64? = nil,
        swapFree: UInt64? = nil
    ) -> MemorySample {
        let stat = MemoryStat(counters: [
            "anon": anon * mib, "file": file * mib, "active_anon": anon * mib / 2,
            "inactive_anon": anon * mib - anon * mib / 2, "active_file": file * mib / 4,
            "inactive_file": file * mib - file * mib / 4, "unevictable": unevictable * mib,
            "slab_reclaimable": slabReclaimable * mib, "slab_unreclaimable": kernel * mib / 2,
            "kernel_stack": kernel * mib / 2, "file_dirty": dirty * mib, "workingset_restore_file": restores,
            "workingset_refault_file": restores * 10,
        ])
        let current = (anon + file + unevictable + slabReclaimable + kernel) * mib
        return MemorySample(
            takenAtNanoseconds: milliseconds * 1_000_000, current: ByteCount(current),
            high: high.map { ByteCount($0 * mib) }, max: max.map { ByteCount($0 * mib) }, stat: stat,
            swapCurrent: swapMax == nil ? nil : .zero, swapMax: swapMax.map { ByteCount($0 * mib) },
            systemSwapFree: swapFree.map { ByteCount($0 * mib) },
            pressure: Pressure(
                some: .init(avg10: 0, avg60: 0, avg300: 0, totalMicroseconds: some * 1000),
                full: .init(avg10: 0, avg60: 0, avg300: 0, totalMicroseconds: full * 1000)),
            events: MemoryEvents(low: 0, high: 0, max: 0, oom: oom, oomKill: 0, oomGroupKill: 0))
    }

    @Test func pageCacheAtTheCeilingIsNotDistress() {
        // A reader streaming a file through a 64M cgroup: 60M of page cache, the kernel at max reclaiming,
        // tasks stalled a fifth of the time (some = full: it is the only task).
        let before = Self.sample(at: 0, anon: 1, file: 60, slabReclaimable: 1, kernel: 1, some: 0, full: 0)
        let after = Self.sample(at: 500, anon: 1, file: 61, slabReclaimable: 1, kernel: 1, some: 100, full: 100)
        let verdict = MemoryDistress.assess(previous: before, current: after)
        #expect(!verdict.inDistress, "\(verdict.summary)")
        #expect(verdict.figures.unreclaimable == ByteCount(2 * Self.mib))
        #expect(verdict.figures.reclaimable == ByteCount(62 * Self.mib))
        #expect(verdict.summary.hasPrefix("not in distress: unreclaimable 2M of ceiling 64M"), "\(verdict.summary)")
    }

    @Test func anonymousMemoryAtTheCeilingIsDistressFromOneSample() {
        // An anonymous hog held at memory.high 48M (memory.max 64M, a 16M reserve).
        let hog = Self.sample(at: 0, high: 48, anon: 46, file: 0, kernel: 1)
        let verdict = MemoryDistress.assess(previous: nil, current: hog)
        #expect(verdict.reasons == [.unreclaimableAtCeiling], "\(verdict.summary)")
        #expect(verdict.figures.ceiling == ByteCount(48 * Self.mib))
        #expect(verdict.summary.hasPrefix("in distress (unreclaimable-at-ceiling): unreclaimable 47M of ceiling 48M"))
    }

    @Test func anonymousMemoryWithSwapRoomIsReclaimable() {
        let swapping = Self.sample(at: 0, anon: 62, kernel: 1, swapMax: 256, swapFree: 1024)
        #expect(!MemoryDistress.assess(previous: nil, current: swapping).inDistress)
        // The same with the cgroup's swap allowance used up (swap.max 0): distress.
        let noSwap = Self.sample(at: 0, anon: 62, kernel: 1, swapMax: 0, swapFree: 1024)
        #expect(MemoryDistress.assess(previous: nil, current: noSwap).reasons == [.unreclaimableAtCeiling])
        // Swap room is also capped by the system's free swap.
        let systemFull = Self.sample(at: 0, anon: 62, kernel: 1, swapMax: 256, swapFree: 0)
        #expect(MemoryDistress.assess(previous: nil, current: systemFull).inDistress)
    }

    @Test func unevictableAndKernelMemoryCount() {
        let locked = Self.sample(at: 0, anon: 2, file: 1, unevictable: 40, kernel: 20)
        #expect(MemoryDistress.assess(previous: nil, current: locked).reasons == [.unreclaimableAtCeiling])
    }

    @Test func dirtyPageCacheIsNotCountedUnreclaimable() {
        let writer = Self.sample(at: 0, anon: 2, file: 60, kernel: 1, dirty: 40)
        let verdict = MemoryDistress.assess(previous: nil, current: writer)
        #expect(!verdict.inDistress)
        #expect(verdict.figures.dirty == ByteCount(40 * Self.mib))
        #expect(verdict.summary.contains("(40M dirty or under writeback)"), "\(verdict.summary)")
    }

    @Test func persistentFullStallsAreDistress() {
        let before = Self.sample(at: 0, anon: 20, file: 40, some: 1000, full: 800)
        let after = Self.sample(at: 1000, anon: 20, file: 40, some: 1700, full: 1300)  // full 500ms in 1s
        let verdict = MemoryDistress.assess(previous: before, current: after)
        #expect(verdict.reasons == [.reclaimStalls], "\(verdict.summary)")
        #expect(verdict.summary.contains("full stall 500ms in 1.0s"), "\(verdict.summary)")
        // Just below the threshold (40%): not.
        let milder = Self.sample(at: 1000, anon: 20, file: 40, some: 1700, full: 1190)
        #expect(!MemoryDistress.assess(previous: before, current: milder).inDistress)
    }

    @Test func thrashingNeedsRefaultsAndStalls() {
        // 4,096 working-set restores per second of 4K pages = 16M/s, a quarter of the 64M ceiling.
        let before = Self.sample(at: 0, anon: 20, file: 40, restores: 0, some: 0)
        let stalling = Self.sample(at: 1000, anon: 20, file: 40, restores: 4096, some: 150)
        #expect(MemoryDistress.assess(previous: before, current: stalling).reasons == [.thrashing])
        let quiet = Self.sample(at: 1000, anon: 20, file: 40, restores: 4096, some: 50)
        #expect(!MemoryDistress.assess(previous: before, current: quiet).inDistress, "refaults without stalls")
        let few = Self.sample(at: 1000, anon: 20, file: 40, restores: 100, some: 900)
        #expect(!MemoryDistress.assess(previous: before, current: few).inDistress, "stalls without refaults")
    }

    @Test func theKernelsOwnOOMIsDistress() {
        let before = Self.sample(at: 0, anon: 20, file: 40, oom: 3)
        let after = Self.sample(at: 500, anon: 20, file: 40, oom: 4)
        #expect(MemoryDistress.assess(previous: before, current: after).reasons == [.kernelOOM])
    }

    @Test func aRecreatedCgroupsCountersStartAgain() {
        // Counters below the previous sample's: a new cgroup of the same name; its own counts are the delta.
        let before = Self.sample(at: 0, anon: 20, file: 40, some: 9000, full: 9000)
        let after = Self.sample(at: 1000, anon: 20, file: 40, some: 100, full: 100)
        let verdict = MemoryDistress.assess(previous: before, current: after)
        #expect(!verdict.inDistress)
        #expect(verdict.figures.fullStallMicroseconds == 100_000)
    }

    @Test func noCeilingMeansOnlyRatesCount() {
        let unlimited = Self.sample(at: 0, max: nil, anon: 4000)
        let verdict = MemoryDistress.assess(previous: nil, current: unlimited)
        #expect(!verdict.inDistress)
        #expect(verdict.summary.contains("of ceiling none"))
    }

    @Test func theThresholdsAreTheCallers() {
        let sample = Self.sample(at: 0, anon: 50, kernel: 1)  // 51M of 64M: 80%
        #expect(!MemoryDistress.assess(previous: nil, current: sample).inDistress)
        let strict = DistressThresholds(unreclaimableShare: 0.75)
        #expect(MemoryDistress.assess(previous: nil, current: sample, thresholds: strict).inDistress)
    }
}
