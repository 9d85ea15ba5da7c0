import Glibc
import OOMTestSupport
import Testing

@testable import OOMKit

/// The cgroupfs layer on fixture trees laid out like a hybrid v1 machine and a pure v2 machine.
@Suite struct CgroupSystemFixtureTests {
    @Test func hybridPicksTheV1MemoryHierarchy() throws {
        let tree = FixtureTree.hybridV1()
        let system = try CgroupSystem(root: tree.root)
        let memory = try system.memoryHierarchy()
        #expect(memory.version == .v1)
        #expect(memory.mountPoint == tree.root + "/sys/fs/cgroup/memory")
        let unified = system.hierarchies.first { $0.version == .v2 }
        #expect(unified?.controllers == ["hugetlb"])
    }

    @Test func unifiedPicksCgroup2WithMemory() throws {
        let tree = FixtureTree.unifiedV2()
        let memory = try CgroupSystem(root: tree.root).memoryHierarchy()
        #expect(memory.version == .v2)
        #expect(memory.mountPoint == tree.root + "/sys/fs/cgroup")
    }

    @Test func noMemoryControllerIsUnavailable() throws {
        let tree = FixtureTree()
        tree.file("proc/self/mountinfo", "41 31 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n")
        tree.file("sys/fs/cgroup/cgroup.controllers", "cpu pids\n")
        let system = try CgroupSystem(root: tree.root)
        #expect {
            try system.memoryHierarchy()
        } throws: { error in
            guard let error = error as? CgroupError else { return false }
            return error.kind == .unavailable
                && error.description.contains("no cgroup hierarchy with the memory controller")
                && error.description.contains("cpu,pids")
        }
    }

    @Test func resolvesRelativeAndAbsolutePaths() throws {
        let tree = FixtureTree.hybridV1()
        tree.v1Cgroup("/system.slice/app.service", usage: 1 << 20, limit: 64 << 20)
        let system = try CgroupSystem(root: tree.root)
        let mount = tree.root + "/sys/fs/cgroup/memory"
        for input in ["/system.slice/app.service", "system.slice/app.service", mount + "/system.slice/app.service"] {
            #expect(try system.memoryCgroupPath(for: input).description == "/system.slice/app.service")
        }
        #expect(try system.memoryCgroupPath(for: mount) == .root)
        #expect(try system.memoryCgroupPath(for: "/") == .root)
    }

    @Test func pathsInOtherHierarchiesOrOutsideAreRefused() throws {
        let tree = FixtureTree.hybridV1()
        let system = try CgroupSystem(root: tree.root)
        #expect {
            try system.memoryCgroupPath(for: tree.root + "/sys/fs/cgroup/unified/x")
        } throws: { error in
            let error = error as? CgroupError
            return error?.kind == .badInput && error?.description.contains("no memory controller") == true
        }
        #expect {
            try system.memoryCgroupPath(for: tree.root + "/sys/fs/cgroup/nothing-here")
        } throws: { error in
            let error = error as? CgroupError
            return error?.kind == .badInput && error?.description.contains("outside the memory hierarchy") == true
        }
        #expect(throws: CgroupError.self) {
            try system.memoryCgroupPath(for: tree.root + "/sys/fs/cgroup/memory/../cpu")
        }
        #expect(throws: CgroupError.self) { try system.memoryCgroupPath(for: "") }
    }

    @Test func missingCgroupIsNotFound() throws {
        let tree = FixtureTree.hybridV1()
        let system = try CgroupSystem(root: tree.root)
        #expect {
            try MemoryCgroup.open(try CgroupPath("/nope/deeper"), in: system)
        } throws: { error in
            let error = error as? CgroupError
            return error?.kind == .notFound
                && error?.description
                    == "no such cgroup '/nope/deeper' in the memory hierarchy mounted at \(tree.root)/sys/fs/cgroup/memory"
        }
    }

    @Test func symlinksAreNeverFollowed() throws {
        let tree = FixtureTree.hybridV1()
        tree.v1Cgroup("/real", usage: 1, limit: nil)
        tree.directory("elsewhere/memory.usage_in_bytes")
        tree.symlink("sys/fs/cgroup/memory/link", to: tree.root + "/sys/fs/cgroup/memory/real")
        tree.symlink("sys/fs/cgroup/memory/escape", to: tree.root + "/elsewhere")
        tree.symlink("sys/fs/cgroup/memory/real/memory.limit_in_bytes.lnk", to: "/etc/passwd")
        let system = try CgroupSystem(root: tree.root)
        for name in ["/link", "/escape", "/link/x"] {
            #expect {
                try MemoryCgroup.open(try CgroupPath(name), in: system)
            } throws: { error in
                let error = error as? CgroupError
                return error?.kind == .badInput && error?.description.contains("symbolic link") == true
            }
        }
        let real = try MemoryCgroup.open(try CgroupPath("/real"), in: system)
        #expect(throws: CgroupError.self) { try real.cgroup.read("memory.limit_in_bytes.lnk") }
        #expect(try real.cgroup.childNames().isEmpty)
    }

    @Test func resolvesByProcess() throws {
        let tree = FixtureTree.hybridV1()
        tree.v1Cgroup("/job", usage: 1, limit: nil, procs: [4242])
        tree.process(4242, name: "worker", residentKiB: 1000, cgroupLine: "4:memory:/job\n9:name=systemd:/x\n0::/")
        tree.process(4343, name: "kthread", residentKiB: 0, cgroupLine: "0::/")
        let system = try CgroupSystem(root: tree.root)
        #expect(try system.memoryCgroupPath(ofProcess: 4242).description == "/job")
        #expect {
            try system.memoryCgroupPath(ofProcess: 4343)
        } throws: { ($0 as? CgroupError)?.kind == .notFound }
        #expect {
            try system.memoryCgroupPath(ofProcess: 999_999)
        } throws: { ($0 as? CgroupError) == .noSuchProcess(999_999) }
    }

    @Test func resolvesByProcessOnV2() throws {
        let tree = FixtureTree.unifiedV2()
        tree.v2Cgroup("/user.slice/app:1", usage: 1, max: nil, procs: [77])
        tree.process(77, name: "app", residentKiB: 10, cgroupLine: "0::/user.slice/app:1")
        let system = try CgroupSystem(root: tree.root)
        #expect(try system.memoryCgroupPath(ofProcess: 77).description == "/user.slice/app:1")
    }

    @Test func readsV1Figures() throws {
        let tree = FixtureTree.hybridV1()
        tree.v1Cgroup("/a", usage: 5 << 20, limit: 64 << 20, procs: [10, 11], underOOM: true, oomKills: 2)
        let memory = try MemoryCgroup.open(try CgroupPath("/a"), in: try CgroupSystem(root: tree.root))
        #expect(try memory.usage() == ByteCount(5 << 20))
        #expect(try memory.limit() == ByteCount(64 << 20))
        #expect(try memory.high() == nil)
        #expect(try memory.softLimit()?.isUnlimited == true)
        #expect(try memory.processIDs() == [10, 11])
        #expect(try memory.oomControl() == OOMControl(oomKillDisable: false, underOOM: true, oomKill: 2))
        #expect(try memory.stat().anonymous == 2_097_152)
        #expect(try memory.pressure() == nil)
        #expect(try memory.swapUsage() == nil)
        #expect {
            try memory.events()
        } throws: { error in
            (error as? CgroupError)?.kind == .unavailable
                && (error as? CgroupError)?.description == "memory.events is not available on cgroup v1"
        }
    }

    @Test func readsV2Figures() throws {
        let tree = FixtureTree.unifiedV2()
        tree.v2Cgroup(
            "/box", usage: 30 << 20, max: 32 << 20, high: 28 << 20, procs: [5],
            events: MemoryEvents(high: 9, max: 4, oom: 2, oomKill: 1), oomGroup: true)
        tree.v2Cgroup("/box/inner", usage: 1 << 20, max: nil)
        let memory = try MemoryCgroup.open(try CgroupPath("/box"), in: try CgroupSystem(root: tree.root))
        #expect(try memory.usage() == ByteCount(30 << 20))
        #expect(try memory.limit() == ByteCount(32 << 20))
        #expect(try memory.high() == ByteCount(28 << 20))
        #expect(try memory.events().oomKill == 1)
        #expect(try memory.events(local: true).oom == 2)
        #expect(try memory.oomGroup() == true)
        #expect(try memory.pressure()?.some.avg10 == 1.5)
        #expect(try memory.children().map(\.path.description) == ["/box/inner"])
        #expect(throws: CgroupError.self) { try memory.oomControl() }
        #expect(throws: CgroupError.self) { try memory.setOOMKillDisabled(true) }
    }

    @Test func theV2RootHasNoLimitFilesButHasFigures() throws {
        let tree = FixtureTree.unifiedV2()
        let root = try MemoryCgroup.open(.root, in: try CgroupSystem(root: tree.root))
        #expect(try root.usage() == ByteCount(2_097_152 + 1_048_576 + 65_536), "anon + file + kernel of memory.stat")
        #expect(try root.limit().isUnlimited)
        #expect(try root.high() == nil)
    }

    @Test func garbageInACgroupFileNamesTheFile() throws {
        let tree = FixtureTree.hybridV1()
        tree.v1Cgroup("/bad", usage: 1, limit: nil)
        tree.file("sys/fs/cgroup/memory/bad/memory.usage_in_bytes", "lots\n")
        let memory = try MemoryCgroup.open(try CgroupPath("/bad"), in: try CgroupSystem(root: tree.root))
        #expect {
            try memory.usage()
        } throws: { error in
            (error as? CgroupError)?.description.contains("/bad/memory.usage_in_bytes") == true
        }
    }
}
