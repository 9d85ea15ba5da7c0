import Testing

@testable import OOMKit

@Suite struct PolicyProtectionTests {
    @Test func initKernelThreadsAndUnkillableProcessesAreNeverPicked() throws {
        let decision = try decide(.v1()) {
            $0.policy = .oomScore; $0.kind = .process
        }
        #expect(decision.excludedReason("pid 1") == "protected: PID 1 (init)")
        #expect(decision.excludedReason("pid 2") == "protected: kernel thread (PID 2, kthreadd)")
        #expect(decision.excludedReason("pid 301") == "protected: oom_score_adj -1000 (PID 301)")
        #expect(!decision.order.contains { ["pid 1", "pid 2", "pid 301"].contains($0) })
    }

    @Test func aCgroupHoldingInitCannotBeKilledWhole() throws {
        var tree = PolicyTestTree.v2()
        tree.process(1, "systemd", in: "/workload/cache", rss: 10, commandLine: ["/sbin/init"])
        let decision = try decide(tree, under: "/workload")
        #expect(!decision.order.contains("/workload/cache"))
        #expect(decision.excludedReason("/workload/cache") == "contains a protected process: PID 1 (init)")
    }

    @Test func oomctlItselfAndProtectedPIDs() throws {
        let byPID = try decide(.v1()) {
            $0.kind = .process
            $0.selfPID = 101
            $0.protectedPIDs = [200]
        }
        #expect(byPID.victim?.target.short == "pid 102")
        #expect(byPID.excludedReason("pid 101") == "protected: oomctl itself (PID 101)")
        #expect(byPID.excludedReason("pid 200") == "protected: PID 200 is on the protected list")
        let cgroups = try decide(.v1()) {
            $0.selfPID = 101
            $0.protectedPIDs = [200]
        }
        #expect(cgroups.excludedReason("/batch/a") == "contains a protected process: oomctl itself (PID 101)")
        #expect(cgroups.excludedReason("/batch") == "contains a protected process: oomctl itself (PID 101)")
        #expect(
            cgroups.excludedReason("/web/front") == "contains a protected process: PID 200 is on the protected list")
        #expect(cgroups.victim?.target.short == "/batch/b")
    }

    @Test func aCgroupWhoseProcessesAreAllProtectedIsExcluded() throws {
        var tree = PolicyTestTree.v1()
        tree.processes = tree.processes.map { entry in
            var entry = entry
            if entry.pid == 300 { entry.oomScoreAdj = -1000 }
            return entry
        }
        let decision = try decide(tree) { $0.policy = .priority }
        #expect(!decision.order.contains("/system"))
        #expect(
            decision.excludedReason("/system")
                == "every process in it is protected (oom_score_adj -1000 (PID 300), oom_score_adj -1000 (PID 301))")
    }

    @Test func protectedCgroupsAndEverythingBelowThem() throws {
        let decision = try decide(.v1()) { $0.protectedCgroups = [cgroupPath("/batch")] }
        #expect(decision.order == ["/web/front", "/web/api", "/system"])
        #expect(decision.excludedReason("/batch") == "protected: /batch is a protected cgroup")
        let processes = try decide(.v1()) {
            $0.kind = .process
            $0.protectedCgroups = [cgroupPath("/batch")]
        }
        #expect(processes.victim?.target.short == "pid 200")
        #expect(processes.excludedReason("pid 101") == "protected: below the protected cgroup /batch")
        let priority = try decide(.v1()) {
            $0.policy = .priority
            $0.protectedCgroups = [cgroupPath("/web/front")]
        }
        #expect(priority.order == ["/batch/a", "/batch", "/web/api", "/system"])
        #expect(priority.excludedReason("/web/front") == "protected: /web/front is a protected cgroup")
    }

    @Test func oomctlsOwnCgroupAndItsAncestorsAreNeverKilledWhole() throws {
        let largest = try decide(.v1()) { $0.selfCgroup = cgroupPath("/batch/b") }
        #expect(largest.excludedReason("/batch") == "contains oomctl itself (in /batch/b)")
        #expect(largest.excludedReason("/batch/b") == "contains oomctl itself (its own cgroup)")
        #expect(largest.victim?.target.short == "/batch/a")
        // priority descends through /batch, but cannot kill it whole for its own processes.
        let priority = try decide(.v1()) {
            $0.policy = .priority
            $0.selfCgroup = cgroupPath("/batch/b")
        }
        #expect(priority.order == ["/batch/a", "/web/front", "/web/api", "/system"])
        #expect(priority.excludedReason("/batch") == "contains oomctl itself (in /batch/b)")
        // As processes: oomctl's helpers in its own cgroup are left alone, the rest are fair game.
        let processes = try decide(.v1()) {
            $0.policy = .priority
            $0.kind = .process
            $0.selfCgroup = cgroupPath("/batch/b")
        }
        #expect(processes.excludedReason("pid 102") == "in oomctl's own cgroup")
        #expect(processes.order.prefix(2) == ["pid 101", "pid 100"])
    }

    @Test func noCandidatesSaysHowManyWereExcludedAndWhy() throws {
        let error = #expect(throws: PolicyError.self) {
            try decide(.v2(), under: "/workload") {
                $0.policy = .priority
                $0.protectedCgroups = [
                    cgroupPath("/workload/db"), cgroupPath("/workload/jobs"), cgroupPath("/workload/cache"),
                ]
            }
        }
        guard case .noCandidates(let root, let excluded, let reasons) = error else {
            Issue.record("expected noCandidates, got \(String(describing: error))")
            return
        }
        #expect(root == cgroupPath("/workload") && excluded == 3 && reasons.count == 3)
        #expect(error?.kind == .actionFailed)
        let message = error?.description ?? ""
        #expect(message.contains("nothing to kill under /workload: all 3 candidate(s) are excluded"))
        #expect(message.contains("cgroup /workload/cache: protected: /workload/cache is a protected cgroup"))
        #expect(message.contains("check the protected processes and cgroups and the user.oomd_omit xattrs"))
        #expect(!message.contains("--"), "the library names no command-line option: \(message)")

        var empty = PolicyTestTree(version: .v2)
        empty.cgroup("/idle", usage: 1)
        let nothing = #expect(throws: PolicyError.self) { try decide(empty) }
        #expect(nothing?.description.contains("no cgroup below it holds a process") == true)
        #expect(throws: PolicyError.notInSnapshot(cgroupPath("/nope"))) { try decide(.v1(), under: "/nope") }
    }
}
