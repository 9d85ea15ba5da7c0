import Testing

@testable import OOMKit

@Suite struct LargestPolicyTests {
    @Test func v1CgroupKindRanksCgroupsHoldingProcessesByUsage() throws {
        let decision = try decide(.v1())
        #expect(decision.policy == .largest && decision.kind == .cgroup)
        // /batch holds a process itself and has children: a cgroup kill frees its whole 900M.
        #expect(decision.order == ["/batch", "/batch/a", "/web/front", "/batch/b", "/web/api", "/system"])
        #expect(decision.victim?.memory == ByteCount(900 << 20))
        #expect(decision.victimReasons.contains("uses 900M, the most of the 6 candidates"))
        #expect(decision.victimReasons.contains("has 2 child cgroup(s) with processes, which a cgroup kill ends too"))
        #expect(decision.reasons(of: "/batch/a").contains("rank 2 of 6 candidates by memory"))
        #expect(decision.summary.hasPrefix("kill cgroup /batch (uses 900M): uses 900M, the most"))
        // The root's own processes are never reached as a cgroup.
        #expect(decision.excludedReason("/")?.contains("root of the search is never killed as a whole") == true)
    }

    @Test func memoryTiesGoToFewerProcessesThenPath() throws {
        var tree = PolicyTestTree.v1()
        // /batch/b and /web/api both use 300M with one process each: path order.
        var decision = try decide(tree)
        #expect(decision.reasons(of: "/batch/b").contains("tied on memory and process count with /web/api"))
        #expect(decision.reasons(of: "/batch/b").contains("by path order"))
        // A second process in /batch/b: /web/api now goes first, having fewer.
        tree.process(103, "java-helper", in: "/batch/b", rss: 5)
        decision = try decide(tree)
        let order = decision.order
        #expect(try #require(order.firstIndex(of: "/web/api")) < #require(order.firstIndex(of: "/batch/b")))
        #expect(decision.reasons(of: "/web/api").contains("ranks ahead with fewer processes (1 vs 2)"))
    }

    @Test func v2CgroupKindTreatsOomGroupAsOneUnit() throws {
        let decision = try decide(.v2(), under: "/workload")
        #expect(decision.order == ["/workload/jobs", "/workload/db/main", "/workload/cache", "/workload/db/backup"])
        #expect(decision.victimReasons.contains("memory.oom.group=1: killed as a unit"))
        #expect(decision.victimReasons.contains("uses 700M, the most of the 4 candidates"))
        #expect(!decision.order.contains("/workload/jobs/w1"))
    }

    @Test func processKindPicksTheLargestFootprintWithPIDTieBreak() throws {
        let decision = try decide(.v1()) { $0.kind = .process }
        #expect(decision.victim?.target == .process(pid: 101, name: "python3", cgroup: cgroupPath("/batch/a")))
        #expect(decision.victim?.memory == ByteCount(480 << 20))
        #expect(decision.victimReasons.contains("uses 480M, the most of the"))
        // java (102) and node (202) both use 290M: the lower PID first.
        #expect(decision.order.prefix(4) == ["pid 101", "pid 200", "pid 102", "pid 202"])
        #expect(
            decision.reasons(of: "pid 102").contains("tied on memory with PID 202 (node), ranks ahead by lower PID"))
        #expect(decision.summary.hasPrefix("kill process 101 (python3) in /batch/a (uses 480M)"))
    }

    @Test func processesWithoutDetailsAreNotRankedButCount() throws {
        var tree = PolicyTestTree.v2()
        tree.cgroup("/workload/idle", usage: 20)
        tree.bareProcess(700, in: "/workload/idle")
        let cgroups = try decide(tree, under: "/workload")
        #expect(cgroups.order.contains("/workload/idle"))
        let processes = try decide(tree, under: "/workload") { $0.kind = .process }
        #expect(!processes.order.contains("pid 700"))
        #expect(processes.victim?.target.short == "pid 400")
    }
}
