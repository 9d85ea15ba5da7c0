import Testing

@testable import OOMKit

@Suite struct TriggeringAndOOMScorePolicyTests {
    @Test func triggeringKillsTheCgroupThatHitTheOOMWithoutScanning() throws {
        let decision = try decide(.v2(), under: "/workload") {
            $0.policy = .triggering
            $0.triggering = cgroupPath("/workload/db/backup")
        }
        #expect(decision.order == ["/workload/db/backup"])
        #expect(decision.victimReasons.contains("triggering: /workload/db/backup hit the OOM itself"))
        let processes = try decide(.v2(), under: "/workload") {
            $0.policy = .triggering
            $0.kind = .process
            $0.triggering = cgroupPath("/workload/jobs")
        }
        // /workload/jobs is a memory.oom.group unit: its largest process stands for it, and it dies whole.
        #expect(processes.order == ["/workload/jobs"])
        #expect(processes.victimReasons.contains("uses 380M, the most of the 2 processes in it"))
        #expect(processes.victimReasons.contains("a memory.oom.group=1 unit: its 2 processes are killed together"))
    }

    @Test func triggeringDefaultsToTheRootAndChecksItsInput() throws {
        let decision = try decide(.v2(), under: "/workload/db") { $0.policy = .triggering }
        #expect(decision.order == ["/workload/db"])
        #expect(decision.victimReasons.contains("no triggering cgroup given, so the search root /workload/db itself"))
        #expect(throws: PolicyError.notUnderRoot(cgroupPath("/workload/jobs"), root: cgroupPath("/workload/db"))) {
            try decide(.v2(), under: "/workload/db") {
                $0.policy = .triggering
                $0.triggering = cgroupPath("/workload/jobs")
            }
        }
        #expect(throws: PolicyError.notInSnapshot(cgroupPath("/workload/gone"))) {
            try decide(.v2(), under: "/workload") {
                $0.policy = .triggering
                $0.triggering = cgroupPath("/workload/gone")
            }
        }
        // The hierarchy root is never a victim, even when it is the one that hit the OOM.
        let error = #expect(throws: PolicyError.self) { try decide(.v1()) { $0.policy = .triggering } }
        #expect(error?.description.contains("the root cgroup of the hierarchy is never a victim") == true)
    }

    @Test func oomScoreProcessKindFollowsTheKernelsScoreWithTieBreaks() throws {
        let decision = try decide(.v1()) {
            $0.policy = .oomScore; $0.kind = .process
        }
        // java and node: 700 and 290M each: lower PID; nginx 200/201 at 150: more memory first.
        #expect(decision.order.prefix(5) == ["pid 102", "pid 202", "pid 101", "pid 200", "pid 201"])
        #expect(decision.victim?.score == 700)
        #expect(decision.victimReasons.contains("PID 102 (java): oom_score 700, the highest of"))
        #expect(decision.victimReasons.contains("tied with PID 202 (node) on memory too, lower PID first"))
        #expect(decision.reasons(of: "pid 200").contains("tied with PID 201 (nginx), uses more memory (300M vs 80M)"))
    }

    @Test func oomScoreCgroupKindTakesTheCgroupOrUnitOfTheTopProcess() throws {
        let v1 = try decide(.v1()) { $0.policy = .oomScore }
        #expect(v1.order.prefix(3) == ["/batch/b", "/web/api", "/batch/a"])
        #expect(v1.victimReasons.contains("holds PID 102 (java): oom_score 700"))
        let v2 = try decide(.v2(), under: "/workload") { $0.policy = .oomScore }
        #expect(v2.order == ["/workload/jobs", "/workload/db/main", "/workload/cache", "/workload/db/backup"])
        #expect(v2.victim?.score == 800)
        #expect(
            v2.victimReasons.contains("memory.oom.group=1: PID 501 (worker) is in /workload/jobs/w2, part of this unit")
        )
    }

    @Test func oomScoreRanksProcessesWithoutAScoreLast() throws {
        var tree = PolicyTestTree.v2()
        tree.process(602, "redis-big", in: "/workload/cache", rss: 900, score: nil)
        let decision = try decide(tree, under: "/workload") {
            $0.policy = .oomScore; $0.kind = .process
        }
        #expect(decision.order.last == "pid 602")
        #expect(decision.reasons(of: "pid 602").contains("no oom_score in the snapshot"))
    }
}
