import OOMTestSupport
import Testing

@testable import OOMKit

/// A diagnostics tool shows every figure it can read and notes the rest: fixture trees shaped like
/// oomd's (facebookincubator/oomd src/oomd/fixtures/cgroup) and delegated v2 trees, with control files
/// missing and a child without the memory controller (issue: `snapshot` exited 66 for a cgroup that
/// exists, and dropped children that lacked a file).
@Suite struct SnapshotMissingFilesTests {
    private func tree() -> FixtureTree {
        let tree = FixtureTree.unifiedV2()
        tree.v2Cgroup("/svc", usage: 40 << 20, max: 64 << 20, procs: [])
        // No memory.stat, no memory.pressure: a tree written by hand, or a kernel without PSI.
        tree.remove("sys/fs/cgroup/svc/memory.stat")
        tree.remove("sys/fs/cgroup/svc/memory.pressure")
        tree.v2Cgroup("/svc/a", usage: 30 << 20, max: nil, procs: [])
        // A child whose parent enables no controller for it: cgroup.procs and cgroup.events only.
        tree.file("sys/fs/cgroup/svc/nomem/cgroup.procs", "")
        tree.file("sys/fs/cgroup/svc/nomem/cgroup.events", "populated 0\nfrozen 1\n")
        tree.file("sys/fs/cgroup/svc/nomem/deeper/cgroup.procs", "")
        return tree
    }

    @Test func everyFigureThatCanBeReadAndANoteForTheRest() throws {
        let tree = tree()
        let system = try CgroupSystem(root: tree.root)
        let snapshot = try SnapshotCollector(system: system).collect(
            root: try CgroupPath("/svc"), options: SnapshotOptions(topProcesses: 0, includeSystem: false))
        #expect(snapshot.cgroups.map(\.path.description) == ["/svc", "/svc/a", "/svc/nomem", "/svc/nomem/deeper"])
        let svc = try #require(snapshot.cgroups.first)
        #expect(svc.usage == ByteCount(40 << 20) && svc.limit == ByteCount(64 << 20), "what can be read is there")
        #expect(svc.stat == nil && svc.pressure == nil)
        #expect(svc.unreadable == ["memory.stat"], "memory.pressure is optional (kernels without PSI)")
        #expect(snapshot.notes.contains { $0.contains("/svc") && $0.contains("memory.stat") })
        let nomem = snapshot.cgroups[2]
        #expect(nomem.memoryController == false && nomem.usage == .zero && nomem.limit.isUnlimited)
        #expect(nomem.frozen == true)
        #expect(snapshot.notes.contains { $0.contains("/svc/nomem") && $0.contains("no memory controller") })
    }

    /// oomd's shape (``FixtureTree/oomdShaped()``). Before: /C (no memory.current) was called "no memory
    /// controller" with its memory.low dropped, and every cgroup without cgroup.procs was taken for
    /// removed: the snapshot of /C failed, and /C/C1 was missing from the snapshot of the root, unnoted.
    @Test func anOomdShapedTreeShowsEveryCgroupAndEveryFigureItHas() throws {
        let tree = FixtureTree.oomdShaped()
        let system = try CgroupSystem(root: tree.root)
        let collector = SnapshotCollector(system: system)
        let options = SnapshotOptions(topProcesses: 0, includeSystem: false)
        let c = try collector.collect(root: try CgroupPath("/C"), options: options)
        #expect(
            c.cgroups.map(\.path.description) == ["/C", "/C/C1", "/C/C2", "/C/C2/C21", "/C/nomem"],
            "every directory that is a cgroup of the tree, files or not")
        let top = try #require(c.cgroups.first)
        #expect(top.memoryController == nil, "memory.low is a memory file: /C has the controller")
        #expect(top.low == ByteCount(2 << 30))
        #expect(top.unreadable?.contains("memory.current") == true && top.unreadable?.contains("cgroup.procs") == true)
        #expect(c.cgroups[1].usage == ByteCount(512 << 20) && c.cgroups[1].memoryController == nil)
        #expect(c.cgroups[4].memoryController == false, "memory.pressure alone is PSI's, not the controller's")
        #expect(c.cgroups[4].unreadable == nil)
        #expect(c.notes.contains { $0.contains("cgroup /C:") && $0.contains("memory.current") })
        #expect(!c.notes.contains { $0.contains("/C:") && $0.contains("no memory controller") })
        let whole = try collector.collect(root: .root, options: options)
        #expect(Set(whole.cgroups.map(\.path.description)).isSuperset(of: ["/A", "/C", "/C/C1", "/C/C2/C21"]))
    }

    @Test func aCgroupWithoutTheMemoryControllerIsNoCandidateOfItsOwn() throws {
        var tree = PolicyTestTree(version: .v2, root: "/svc")
        tree.cgroup("/svc/a", usage: 30)
        tree.cgroup("/svc/b", usage: 20)
        tree.cgroup("/svc/b/nomem", usage: 0)
        tree.update("/svc/b/nomem") { $0.memoryController = false }
        tree.process(10, "worker", in: "/svc/a", rss: 29)
        tree.process(20, "hidden", in: "/svc/b/nomem", rss: 19)
        let decision = try PolicyEngine(options: PolicyOptions()).decide(in: tree.snapshot, under: cgroupPath("/svc"))
        let targets = decision.ranked.map(\.target)
        #expect(targets == [.cgroup(cgroupPath("/svc/a")), .cgroup(cgroupPath("/svc/b"))], "\(targets)")
    }

    @Test func cgroupEventsParse() throws {
        #expect(try CgroupEvents(parsing: "populated 1\nfrozen 0\n") == CgroupEvents(populated: true, frozen: false))
        #expect(try CgroupEvents(parsing: "populated 0\n") == CgroupEvents(populated: false, frozen: false))
        #expect(throws: ParseError.self) { try CgroupEvents(parsing: "frozen 1\n") }
        #expect(throws: ParseError.self) { try CgroupEvents(parsing: "populated yes\n") }
    }
}

/// With --process, a process in a memory.oom.group=1 unit stands for its unit (issue: watch killed 2
/// of a unit's 4 processes; `kill --process --dry-run` ranked them one by one).
@Suite struct ProcessKindUnitTests {
    @Test(arguments: [PolicyName.largest, .oomScore, .priority])
    func aUnitIsKilledWhole(policy: PolicyName) throws {
        var tree = PolicyTestTree(version: .v2, root: "/work")
        tree.cgroup("/work/unit", usage: 40, oomGroup: true)
        tree.cgroup("/work/unit/x", usage: 20)
        tree.cgroup("/work/single", usage: 10)
        tree.process(11, "x1", in: "/work/unit/x", rss: 12, score: 900)
        tree.process(12, "u1", in: "/work/unit", rss: 8, score: 800)
        tree.process(21, "s1", in: "/work/single", rss: 9, score: 100)
        var options = PolicyOptions()
        options.policy = policy
        options.kind = .process
        let decision = try PolicyEngine(options: options).decide(in: tree.snapshot, under: cgroupPath("/work"))
        let targets = decision.ranked.map(\.target)
        #expect(targets.first == .cgroup(cgroupPath("/work/unit")), "\(policy): \(targets)")
        #expect(
            !targets.contains {
                if case .process(_, _, let cgroup) = $0 {
                    cgroup.isDescendant(of: cgroupPath("/work/unit"))
                } else {
                    false
                }
            },
            "no member of the unit is a candidate of its own: \(targets)")
        #expect(decision.ranked.first?.reasons.contains { $0.contains("memory.oom.group=1 unit") } == true)
    }

    @Test func aSearchRootThatIsAUnitIsKilledWhole() throws {
        var tree = PolicyTestTree(version: .v2, root: "/unit")
        tree.update("/unit") { $0.oomGroup = true }
        tree.cgroup("/unit/a", usage: 10)
        tree.process(31, "a1", in: "/unit/a", rss: 9)
        var options = PolicyOptions()
        options.kind = .process
        let decision = try PolicyEngine(options: options).decide(in: tree.snapshot, under: cgroupPath("/unit"))
        #expect(decision.ranked.map(\.target) == [.cgroup(cgroupPath("/unit"))])
    }
}
