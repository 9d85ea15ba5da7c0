import Testing

@testable import OOMKit

@Suite struct ProcfsMemInfoTests {
    @Test func parsesRealSample() throws {
        let info = try MemInfo(parsing: ProcfsFixtures.text("meminfo"))
        #expect(info.total == ByteCount(24_684_092 * 1024))
        #expect(info.available == ByteCount(24_139_092 * 1024))
        #expect(info.slabUnreclaimable == ByteCount(22_668 * 1024))
        #expect(info.fields["VmallocTotal"] == ByteCount(34_359_738_367 * 1024))
        #expect(info.fields["Active(anon)"] != nil)
        #expect(info.counts["HugePages_Total"] == 0)
        #expect(info.fields["HugePages_Total"] == nil)
        #expect(info.fields["Hugepagesize"] == ByteCount(2048 * 1024))
        #expect(info.fields.count + info.counts.count == 54)
        for value in [
            info.free, info.buffers, info.cached, info.swapTotal, info.swapFree, info.shmem, info.slab,
            info.slabReclaimable, info.vmallocUsed, info.anonPages, info.mapped, info.pageTables, info.kernelStack,
            info.dirty, info.writeback,
        ] {
            #expect(value != nil)
        }
    }

    @Test func missingKeysAreNil() throws {
        let info = try MemInfo(parsing: "MemTotal: 100 kB\n")
        #expect(info.total == ByteCount(102_400))
        #expect(info.available == nil)
    }

    @Test func hugeValuesSaturateOrFail() throws {
        let info = try MemInfo(parsing: "MemTotal: 18446744073709551615 kB\nHugePages_Total: 18446744073709551615\n")
        #expect(info.total == .unlimited)
        #expect(info.counts["HugePages_Total"] == UInt64.max)
        #expect(throws: ParseError.self) { try MemInfo(parsing: "MemTotal: 184467440737095516150 kB\n") }
    }

    @Test(arguments: [
        "", "\n\n", "hello world", "MemTotal: 100 kB\nMemFr", "MemTotal: 100 k", "MemTotal: -1 kB", "MemTotal:",
        ": 5 kB", "Mem Total: 5 kB", "MemTotal: 5 kB extra",
    ])
    func rejectsGarbage(text: String) {
        #expect(throws: ParseError.self) { try MemInfo(parsing: text) }
    }
}

@Suite struct ProcfsVMStatTests {
    @Test func parsesRealSample() throws {
        let stat = try VMStat(parsing: ProcfsFixtures.text("vmstat"))
        #expect(stat.counters.count == 192)
        #expect(stat["nr_free_pages"] == 845_679)
        #expect(stat["pgfault"] == 2_970_440)
        #expect(stat.oomKill == 0)
        #expect(stat["no_such_counter"] == nil)
    }

    @Test func hugeValues() throws {
        #expect(try VMStat(parsing: "oom_kill 18446744073709551615").oomKill == UInt64.max)
        #expect(throws: ParseError.self) { try VMStat(parsing: "oom_kill 184467440737095516150") }
    }

    @Test(arguments: ["", "\n", "oom_kill", "oom_kill -1", "oom_kill 1 2", "oom_kill 1\nnr_free", "oom_kill x"])
    func rejectsGarbage(text: String) {
        #expect(throws: ParseError.self) { try VMStat(parsing: text) }
    }
}

@Suite struct ProcfsPressureTests {
    @Test func parsesRealSample() throws {
        let pressure = try ProcfsFixtures.procfs.memoryPressure()
        #expect(pressure.some.totalMicroseconds == 0)
        #expect(pressure.full?.avg10 == 0)
    }
}

@Suite struct ProcfsSlabInfoTests {
    @Test func parsesRealSample() throws {
        let info = try SlabInfo(parsing: ProcfsFixtures.text("slabinfo"))
        #expect(info.caches.count == 198)
        #expect(info.caches.first?.name == "btrfs_delayed_node")
        let inodes = try #require(info.caches.first { $0.name == "ext4_inode_cache" })
        #expect(inodes.activeObjects == 39_858)
        #expect(inodes.objects == 39_858)
        #expect(inodes.objectSize == ByteCount(1128))
        #expect(inodes.objectsPerSlab == 14)
        #expect(inodes.pagesPerSlab == 4)
        #expect(inodes.activeSlabs == 2847)
        #expect(inodes.slabs == 2847)
        #expect(inodes.bytes == ByteCount(2847 * 4 * 4096))
        #expect(info.top(3).map(\.name) == ["ext4_inode_cache", "dentry", "radix_tree_node"])
        #expect(info.totalBytes >= inodes.bytes)
    }

    @Test func pageSizeScalesBytes() throws {
        let info = try SlabInfo(parsing: ProcfsFixtures.text("slabinfo"), pageSize: 65536)
        #expect(info.caches.first { $0.name == "ext4_inode_cache" }?.bytes == ByteCount(2847 * 4 * 65536))
    }

    @Test func topHandlesOddCounts() throws {
        let info = try SlabInfo(parsing: ProcfsFixtures.text("slabinfo"))
        #expect(info.top(0).isEmpty)
        #expect(info.top(-5).isEmpty)
        #expect(info.top(10_000).count == info.caches.count)
    }

    @Test func headerOnlyIsEmpty() throws {
        #expect(try SlabInfo(parsing: "slabinfo - version: 2.1\n# name <active_objs>\n").caches.isEmpty)
    }

    @Test func hugeValuesSaturate() throws {
        let max = "18446744073709551615"
        let text = "slabinfo - version: 2.1\nbig 1 1 8 1 \(max) : tunables 0 0 0 : slabdata \(max) \(max) 0\n"
        let info = try SlabInfo(parsing: text)
        #expect(info.caches.first?.bytes == .unlimited)
        #expect(info.totalBytes == .unlimited)
        #expect(throws: ParseError.self) {
            try SlabInfo(parsing: text.replacing(max, with: max + "0"))
        }
    }

    @Test(arguments: [
        "", "# name", "slabinfo - version: 1.1\n", "garbage\nfoo 1 1 1 1 1 : slabdata 1 1 0",
        "slabinfo - version: 2.1\nfoo 1 1 1 1 1 : tunables 0 0 0\n",
        "slabinfo - version: 2.1\nfoo 1 1 1 1 1 : tunables 0 0 0 : slabdata 1",
        "slabinfo - version: 2.1\nfoo x 1 1 1 1 : tunables 0 0 0 : slabdata 1 1 0",
        "slabinfo - version: 2.1\nfoo 1 1",
    ])
    func rejectsGarbage(text: String) {
        #expect(throws: ParseError.self) { try SlabInfo(parsing: text) }
    }
}

@Suite struct ProcfsVmallocInfoTests {
    @Test func parsesRealSample() throws {
        let info = try VmallocInfo(parsing: ProcfsFixtures.text("vmallocinfo"))
        #expect(info.allocations == 200)
        #expect(info.totalBytes == ByteCount(18_235_392))
        #expect(info.totalPages == 3440)
        #expect(info.callers.first?.name == "htab_map_alloc")
        #expect(info.callers.first?.bytes == ByteCount(8_314_880))
        #expect(info.callers.first?.allocations == 9)
        let clone = try #require(info.callers.first { $0.name == "kernel_clone" })
        #expect(clone.allocations == 66)
        #expect(clone.bytes == ByteCount(1_351_680))
        #expect(clone.pages == 66 * 4)
        #expect(info.callers.contains { $0.name == "irq_init_percpu_irqstack" })
        #expect(info.callers.first { $0.name == "unpurged vm_area" }?.allocations == 5)
        #expect(info.callers.map(\.bytes) == info.callers.map(\.bytes).sorted(by: >))
        #expect(info.callers.reduce(0) { $0 + $1.allocations } == 200)
    }

    @Test func callersWithoutSymbols() throws {
        let text = """
            0x1-0x2 4096 ioremap
            0x3-0x4 16384 vm_map_ram
            0x5-0x6 4096 unpurged vm_area
            0x7-0x8 4096 foo+0x10/0x20 [ext4] pages=1 vmalloc
            0x9-0xa 4096
            """
        let info = try VmallocInfo(parsing: text)
        #expect(Set(info.callers.map(\.name)) == ["(unknown)", "vm_map_ram", "unpurged vm_area", "foo"])
        #expect(info.callers.first { $0.name == "(unknown)" }?.allocations == 2)
        #expect(info.callers.first?.name == "vm_map_ram")
    }

    @Test func emptyIsZero() throws {
        let info = try VmallocInfo(parsing: "")
        #expect(info.allocations == 0)
        #expect(info.totalBytes == .zero)
        #expect(info.callers.isEmpty)
    }

    @Test func hugeValuesSaturate() throws {
        let max = "18446744073709551615"
        let info = try VmallocInfo(parsing: "0x1-0x2 \(max) f+0x1/0x2 pages=\(max)\n0x1-0x2 \(max) f+0x1/0x2 pages=3\n")
        #expect(info.totalBytes == .unlimited)
        #expect(info.totalPages == UInt64.max)
        #expect(throws: ParseError.self) { try VmallocInfo(parsing: "0x1-0x2 \(max)0 f+0x1/0x2") }
    }

    @Test(arguments: ["garbage", "0x1-0x2", "0x1-0x2 -5 f+0x1/0x2", "0x1 4096 f+0x1/0x2", "4096 0x1-0x2 f"])
    func rejectsGarbage(text: String) {
        #expect(throws: ParseError.self) { try VmallocInfo(parsing: text) }
    }
}

@Suite struct ProcfsZoneInfoTests {
    @Test func parsesRealSample() throws {
        let info = try ZoneInfo(parsing: ProcfsFixtures.text("zoneinfo"))
        #expect(info.zones.map(\.name) == ["DMA", "DMA32", "Normal", "Movable", "Device"])
        #expect(info.zones.allSatisfy { $0.node == 0 })
        let dma32 = info.zones[1]
        // The per-cpu pagesets print "high:  6975"; the watermark is "high 16741".
        #expect(
            dma32
                == ZoneInfo.Zone(
                    node: 0, name: "DMA32", freePages: 772_917, minPages: 11_161, lowPages: 13_951, highPages: 16_741,
                    spannedPages: 1_044_480, presentPages: 782_336, managedPages: 772_917))
        #expect(info.zones[2].freePages == 68_922)
        #expect(info.zones[2].managedPages == 393_216)
        #expect(info.zones[3].minPages == 32)
    }

    @Test func rejectsZoneWithMissingKeys() throws {
        let text = "Node 0, zone DMA\n  pages free 1\n  min 1\n  low 2\n  high 3\n  spanned 4\n  present 4\n"
        #expect(throws: ParseError.self) { try ZoneInfo(parsing: text) }
        #expect(throws: ParseError.self) { try ZoneInfo(parsing: text + "  pagesets\n  managed 4\n") }
        #expect(try ZoneInfo(parsing: text + "  managed 4\n").zones.count == 1)
    }

    @Test func hugeValues() throws {
        let max = "18446744073709551615"
        let text = "Node 7, zone X\n pages free \(max)\n min 1\n low 2\n high 3\n spanned 4\n present 4\n managed 4\n"
        #expect(try ZoneInfo(parsing: text).zones.first?.freePages == UInt64.max)
        #expect(try ZoneInfo(parsing: text).zones.first?.node == 7)
        #expect(throws: ParseError.self) { try ZoneInfo(parsing: text.replacing(max, with: max + "0")) }
    }

    @Test(arguments: [
        "", "garbage", "Node x, zone DMA\n", "Node 0 zone DMA\n", "Node 0, zone\n",
        "Node 0, zone DMA\n pages free abc\n", "Node 0, zone DMA\n min 1 2\n",
        "Node 99999999999, zone DMA\n",
    ])
    func rejectsGarbage(text: String) {
        #expect(throws: ParseError.self) { try ZoneInfo(parsing: text) }
    }
}

@Suite struct ProcfsBuddyInfoTests {
    @Test func parsesRealSample() throws {
        let info = try BuddyInfo(parsing: ProcfsFixtures.text("buddyinfo"))
        #expect(info.zones.map(\.name) == ["DMA", "DMA32", "Normal"])
        #expect(info.zones[2].freeBlocksByOrder == [2, 2, 107, 206, 133, 56, 41, 131, 72, 13, 18])
        #expect(info.zones[0].freeBlocksByOrder.count == 11)
        #expect(info.zones[0].freePages == 256 + 512 + 3 * 1024)
    }

    @Test func hugeValuesSaturate() throws {
        let max = "18446744073709551615"
        let info = try BuddyInfo(parsing: "Node 0, zone Normal \(max) \(max)\n")
        #expect(info.zones[0].freePages == UInt64.max)
        let manyOrders = "Node 0, zone N " + Array(repeating: "1", count: 70).joined(separator: " ")
        #expect(try BuddyInfo(parsing: manyOrders).zones[0].freePages == UInt64.max)
        #expect(throws: ParseError.self) { try BuddyInfo(parsing: "Node 0, zone Normal \(max)0\n") }
    }

    @Test(arguments: ["", "\n", "garbage", "Node 0, zone Normal", "Node 0, zone Normal 1 x 3", "Node 0 zone N 1"])
    func rejectsGarbage(text: String) {
        #expect(throws: ParseError.self) { try BuddyInfo(parsing: text) }
    }
}
