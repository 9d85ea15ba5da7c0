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

/// The priority policy against an OOM of the search root: a victim must free what the OOM needs, and a
/// cgroup without a priority is not the first victim.
@Suite struct PriorityResolutionTests {
    /// TEST-55-OOMD scaled down: /p (limit 96M, at it) with bloat (priority 1, 63M), chill (priority 10,
    /// 24M) and `idle` children of 180K each, `marked` of them priority 0, the rest with none.
    static func family(idle: Int, marked: Int, limit: UInt64 = 96) -> PolicyTestTree {
        var tree = PolicyTestTree(version: .v1)
        tree.cgroup("/p", usage: limit)
        tree.update("/p") { $0.limit = ByteCount(limit << 20) }
        tree.cgroup("/p/bloat", usage: 63, priority: 1)
        tree.cgroup("/p/chill", usage: 24, priority: 10)
        tree.process(10, "hog", in: "/p/bloat", rss: 62)
        tree.process(11, "hog", in: "/p/chill", rss: 23)
        for index in 0..<idle {
            let path = "/p/idle\(index)"
            tree.cgroup(path, usage: 0, priority: index < marked ? 0 : nil)
            tree.update(path) { $0.usage = ByteCount(180 << 10) }
            tree.process(Int32(100 + index), "sleep", in: path, rss: 0)
        }
        return tree
    }

    @Test func theNeedIsTheHeadroomAtTheLimitAndTheOverdraftOnAReserve() throws {
        let need = try #require(ResolutionNeed(usage: ByteCount(96 << 20), limit: ByteCount(96 << 20)))
        #expect(need.headroom == ByteCount(3 << 20) && need.needed == ByteCount(3 << 20))
        let small = try #require(ResolutionNeed(usage: ByteCount(8 << 20), limit: ByteCount(16 << 20)))
        #expect(small.headroom == ResolutionNeed.minimumHeadroom && small.needed == .zero, "far below the limit")
        let reserve = try #require(ResolutionNeed(usage: ByteCount(112 << 20), limit: ByteCount(96 << 20)))
        #expect(reserve.needed == ByteCount(19 << 20), "16M over the limit plus the 3M headroom")
        #expect(ResolutionNeed(usage: ByteCount(1 << 30), limit: .unlimited) == nil)
    }

    @Test func tiersTooSmallToHelpAreSkippedAndShownSo() throws {
        let decision = try decide(Self.family(idle: 40, marked: 40), under: "/p") { $0.policy = .priority }
        #expect(decision.need?.needed == ByteCount(3 << 20))
        #expect(decision.order.prefix(2) == ["/p/bloat", "/p/chill"], "\(decision.order)")
        #expect(decision.ranked.count == 42)
        #expect(decision.ranked.prefix(2).allSatisfy { $0.canResolve == true })
        #expect(decision.ranked.dropFirst(2).allSatisfy { $0.canResolve == false })
        #expect(
            decision.victimReasons.contains(
                "frees 63M, enough to resolve the OOM (usage 96M of 96M, headroom 3M: needs 3M)"))
        #expect(
            decision.victimReasons.contains("skipped as too small to help: priority 0: 40 candidates of at most 180K"))
        #expect(
            decision.reasons(of: "/p/idle0").contains(
                "too small to resolve the OOM: frees 180K of the 3M needed (usage 96M of 96M, headroom 3M: needs 3M); ranked after the 2 candidates that can"
            ))
        #expect(decision.summary.contains("kill cgroup /p/bloat (uses 63M)"))
    }

    @Test func theLowestTierThatCanHelpGoesFirstItsLargestFirst() throws {
        var tree = Self.family(idle: 3, marked: 3)
        tree.cgroup("/p/big0", usage: 5, priority: 0)
        tree.process(20, "job", in: "/p/big0", rss: 5)
        tree.cgroup("/p/big1", usage: 4, priority: 0)
        tree.process(21, "job", in: "/p/big1", rss: 4)
        let decision = try decide(tree, under: "/p") { $0.policy = .priority }
        #expect(Array(decision.order.prefix(4)) == ["/p/big0", "/p/big1", "/p/bloat", "/p/chill"], "\(decision.order)")
        #expect(!decision.victimReasons.contains("skipped"), "nothing walked before it was too small")
        // Process kind: the same rule on what each process frees.
        let processes = try decide(Self.family(idle: 3, marked: 3), under: "/p") {
            $0.policy = .priority; $0.kind = .process
        }
        #expect(processes.order.first == "pid 10", "\(processes.order)")
        #expect(processes.victimReasons.contains("skipped as too small to help: priority 0: 3 candidates"))
    }

    @Test func withoutALimitOrWhenNothingCanHelpThePriorityOrderStands() throws {
        var tree = Self.family(idle: 2, marked: 2)
        tree.update("/p") { $0.limit = .unlimited }
        let unlimited = try decide(tree, under: "/p") { $0.policy = .priority }
        #expect(unlimited.need == nil && unlimited.order.prefix(2).sorted() == ["/p/idle0", "/p/idle1"])
        #expect(unlimited.ranked.allSatisfy { $0.canResolve == nil })
        // 200M over a 96M limit on a granted reserve: nothing frees 200M+.
        var over = Self.family(idle: 2, marked: 2)
        over.update("/p") { $0.usage = ByteCount(296 << 20) }
        let hopeless = try decide(over, under: "/p") { $0.policy = .priority }
        #expect(hopeless.ranked.allSatisfy { $0.canResolve == false })
        #expect(hopeless.order.last == "/p/chill", "ranked by priority alone")
        #expect(hopeless.victimReasons.contains("no candidate frees what the OOM needs"))
        // The original limit a reserve grant raised is the one to get under.
        var granted = Self.family(idle: 2, marked: 2)
        granted.update("/p") { $0.limit = ByteCount(128 << 20) }
        let onReserve = try decide(granted, under: "/p") {
            $0.policy = .priority; $0.resolutionLimit = ByteCount(96 << 20)
        }
        #expect(onReserve.need?.limit == ByteCount(96 << 20) && onReserve.order.first == "/p/bloat")
    }

    @Test func aCgroupWithoutAPriorityCountsAsTheHighestSetAmongItsSiblings() throws {
        var tree = Self.family(idle: 0, marked: 0)
        tree.update("/p") { $0.limit = .unlimited }
        tree.cgroup("/p/forgotten", usage: 80)
        tree.process(30, "db", in: "/p/forgotten", rss: 79)
        let decision = try decide(tree, under: "/p") { $0.policy = .priority }
        // forgotten counts as 10 (chill's): after bloat (1), before chill by memory.
        #expect(decision.order == ["/p/bloat", "/p/forgotten", "/p/chill"], "\(decision.order)")
        #expect(decision.ranked[1].priority == 10)
        #expect(decision.reasons(of: "/p/forgotten").contains("no priority set: counts as 10, the highest set at /p"))
        // No sibling with a priority: all count as 0, ranked by memory.
        var bare = PolicyTestTree(version: .v1)
        bare.cgroup("/q/a", usage: 10)
        bare.cgroup("/q/b", usage: 20)
        bare.cgroup("/q", usage: 30)
        bare.process(40, "a", in: "/q/a", rss: 9)
        bare.process(41, "b", in: "/q/b", rss: 19)
        let plain = try decide(bare, under: "/q") { $0.policy = .priority }
        #expect(plain.order == ["/q/b", "/q/a"] && plain.victim?.priority == 0)
        // --priority counts as set.
        let overridden = try decide(tree, under: "/p") {
            $0.policy = .priority; $0.priorityOverrides = [cgroupPath("/p/forgotten"): 0]
        }
        #expect(overridden.order.first == "/p/forgotten")
    }
}
