import Testing

@testable import OOMKit

@Suite struct PriorityPolicyTests {
    @Test func v1CgroupKindWalksLowestPriorityAndKillsOwnProcessesWithTheirCgroup() throws {
        let decision = try decide(.v1()) { $0.policy = .priority }
        // / : /batch (0, 900M) < /web (10) < /system (100). /batch: a (0, 500M) < own processes (0, 100M) < b (5);
        // its own processes come before /batch/b, and killing them kills /batch whole, so b is not listed.
        #expect(decision.order == ["/batch/a", "/batch", "/web/front", "/web/api", "/system"])
        #expect(decision.victim?.priority == 0)
        #expect(decision.victimReasons.contains("priority 0, the lowest among 3 candidates at /"))
        #expect(decision.victimReasons.contains("priority 0, the lowest among 3 candidates at /batch"))
        #expect(
            decision.victimReasons.contains(
                "tied on priority with the processes directly in /batch, uses more memory (500M vs 100M)"))
        let batch = decision.reasons(of: "/batch")
        #expect(batch.contains("rank 2 of 3 at /batch"))
        #expect(batch.contains("the processes directly in /batch, local usage 100M"))
        #expect(batch.contains("v1: a cgroup kill cannot spare its child cgroups, so the whole of /batch goes"))
        #expect(decision.reasons(of: "/web/front").contains("priority 10, rank 2 of 3 at /"))
        #expect(decision.excludedReason("/")?.contains("never killed as a whole") == true)
    }

    @Test func v1ProcessKindListsOwnProcessesAsTheirOwnCandidate() throws {
        let decision = try decide(.v1()) {
            $0.policy = .priority; $0.kind = .process
        }
        // /batch: a's python3, /batch's own batch-runner, then b's java; then the root's own (all protected),
        // then /web by priority, then /system (journald protected).
        #expect(decision.order == ["pid 101", "pid 100", "pid 102", "pid 200", "pid 201", "pid 202", "pid 300"])
        #expect(decision.victimReasons.contains("the largest process in /batch/a (uses 480M)"))
        #expect(decision.reasons(of: "pid 100").contains("the processes directly in /batch"))
        #expect(decision.reasons(of: "pid 201").contains("process 2 of 2 in /web/front by memory"))
        #expect(decision.excludedReason("pid 301") == "protected: oom_score_adj -1000 (PID 301)")
        #expect(decision.excludedReason("pid 1") == "protected: PID 1 (init)")
    }

    @Test func v2PriorityTiesGoToMemoryAndUnitsStopTheDescent() throws {
        let decision = try decide(.v2(), under: "/workload") { $0.policy = .priority }
        #expect(decision.order == ["/workload/jobs", "/workload/cache", "/workload/db/main", "/workload/db/backup"])
        #expect(
            decision.victimReasons.contains(
                "tied on priority with /workload/cache, uses more memory (700M vs 200M)"))
        #expect(decision.victimReasons.contains("memory.oom.group=1: killed as a unit"))
        #expect(decision.reasons(of: "/workload/db/main").contains("priority 50, rank 3 of 3 at /workload"))
        let processes = try decide(.v2(), under: "/workload") {
            $0.policy = .priority; $0.kind = .process
        }
        #expect(processes.order.first == "/workload/jobs", "the unit stands for its processes, killed whole")
        #expect(!processes.order.contains("pid 500") && !processes.order.contains("pid 501"))
        #expect(processes.victimReasons.contains("the largest process in /workload/jobs (uses 380M)"))
        #expect(processes.victimReasons.contains("memory.oom.group=1: a unit, the walk stops here"))
    }

    @Test func fullTiesGoToFewerProcessesThenPath() throws {
        var tree = PolicyTestTree.v2()
        tree.cgroup("/workload/jobs", usage: 200, priority: 0, oomGroup: true)
        var decision = try decide(tree, under: "/workload") { $0.policy = .priority }
        // cache (1 process) and jobs (2 processes) both priority 0, 200M.
        #expect(decision.order.prefix(2) == ["/workload/cache", "/workload/jobs"])
        #expect(
            decision.victimReasons.contains("tied on priority and memory with /workload/jobs, fewer processes (1 vs 2)")
        )
        tree.process(601, "redis-sentinel", in: "/workload/cache", rss: 1)
        decision = try decide(tree, under: "/workload") { $0.policy = .priority }
        #expect(decision.order.prefix(2) == ["/workload/cache", "/workload/jobs"])
        #expect(decision.victimReasons.contains("first by path order"))
    }

    @Test func overlimitRanksFirstAtEveryLevelOnTheWayDown() throws {
        let decision = try decide(.v2(), under: "/workload") {
            $0.policy = .priority
            $0.overlimit = [cgroupPath("/workload/db/backup")]
        }
        #expect(decision.order == ["/workload/db/backup", "/workload/db/main", "/workload/jobs", "/workload/cache"])
        #expect(
            decision.victimReasons.contains(
                "overlimit: contains /workload/db/backup, running on a granted reserve, ranks first at /workload"))
        #expect(decision.victimReasons.contains("overlimit: running on a granted reserve, ranks first at /workload/db"))
        #expect(decision.reasons(of: "/workload/jobs").contains("the lowest at /workload after the overlimit ones"))
    }

    @Test func xattrPriorityWinsOverOverridesWhichWinOverTheDefault() throws {
        var tree = PolicyTestTree.v2()
        tree.update("/workload/jobs") { $0.priority = nil }
        let decision = try decide(tree, under: "/workload") {
            $0.policy = .priority
            $0.priorityOverrides = [cgroupPath("/workload/jobs"): 90, cgroupPath("/workload/db"): 0]
        }
        // jobs has no xattr: --priority makes it 90; db keeps its xattr 50 despite the override.
        #expect(decision.order == ["/workload/cache", "/workload/db/main", "/workload/db/backup", "/workload/jobs"])
        #expect(decision.reasons(of: "/workload/jobs").contains("priority 90"))
        #expect(decision.reasons(of: "/workload/db/main").contains("priority 50, rank 2 of 3 at /workload"))
        #expect(decision.victimReasons.contains("priority 0, the lowest among 3 candidates at /workload"))
    }
}
