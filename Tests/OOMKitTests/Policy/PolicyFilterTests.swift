import Testing

@testable import OOMKit

@Suite struct PolicyFilterTests {
    @Test func preferOnANameMovesACgroupAheadOfAllOthers() throws {
        let decision = try decide(.v2(), under: "/workload") { $0.prefer = ["^redis$"] }
        #expect(decision.order == ["/workload/cache", "/workload/jobs", "/workload/db/main", "/workload/db/backup"])
        #expect(
            decision.victimReasons.contains(
                "preferred: process 600 (redis) matches the preferred pattern '^redis$', ranks before the others"))
        #expect(decision.victim?.rank == 1 && decision.ranked.map(\.rank) == [1, 2, 3, 4])
    }

    @Test func avoidOnTheJoinedCommandLineRanksLastButDoesNotExclude() throws {
        // "queue critical" matches only "worker --queue critical" joined with spaces, not a name.
        let decision = try decide(.v2(), under: "/workload") { $0.avoid = ["queue critical"] }
        #expect(decision.order == ["/workload/db/main", "/workload/cache", "/workload/db/backup", "/workload/jobs"])
        #expect(
            decision.reasons(of: "/workload/jobs").contains(
                "avoided: process 500 (worker) matches the avoided pattern 'queue critical'"))
        #expect(decision.reasons(of: "/workload/jobs").contains("ranks after the others"))
        #expect(decision.excluded.isEmpty)
        let processes = try decide(.v2(), under: "/workload") {
            $0.kind = .process
            $0.avoid = ["queue critical"]
        }
        // pid 500 is in the memory.oom.group unit /workload/jobs: the unit, killed whole, ranks last.
        #expect(processes.order.last == "/workload/jobs")
        #expect(processes.order.first == "pid 400")
    }

    @Test func preferOnACommandLineInProcessKindKeepsThePolicyOrderWithinGroups() throws {
        let decision = try decide(.v1()) {
            $0.kind = .process
            $0.prefer = [#"job\.jar"#, "^nginx$"]
        }
        // Preferred (java, both nginx) by size, then the rest by size.
        #expect(decision.order.prefix(4) == ["pid 200", "pid 102", "pid 201", "pid 101"])
        #expect(decision.victimReasons.contains("matches the preferred pattern '^nginx$'"))
        #expect(decision.reasons(of: "pid 102").contains(#"matches the preferred pattern 'job\.jar'"#))
    }

    @Test func preferAndAvoidTogetherCancelOut() throws {
        let decision = try decide(.v2(), under: "/workload") {
            $0.prefer = ["redis"]
            $0.avoid = ["6379"]
        }
        #expect(decision.order.first == "/workload/jobs")
        #expect(decision.reasons(of: "/workload/cache").contains("the two cancel out"))
    }

    @Test func oomdOmitExcludesTheCgroupAndEverythingBelow() throws {
        var tree = PolicyTestTree.v2()
        tree.update("/workload/db") { $0.oomd = OomdPreferences(omit: true) }
        for policy in [PolicyName.largest, .priority] {
            let decision = try decide(tree, under: "/workload") { $0.policy = policy }
            #expect(decision.order == ["/workload/jobs", "/workload/cache"])
            #expect(decision.excludedReason("/workload/db") == "oomd_omit: user.oomd_omit is set")
        }
        let processes = try decide(tree, under: "/workload") { $0.kind = .process }
        #expect(!processes.order.contains("pid 400"))
        #expect(processes.excludedReason("pid 400") == "oomd_omit: below /workload/db")
        // The search root holding an omitted cgroup cannot be killed whole by triggering either.
        let error = #expect(throws: PolicyError.self) {
            try decide(tree, under: "/workload") { $0.policy = .triggering }
        }
        #expect(error?.description.contains("contains /workload/db, which has user.oomd_omit") == true)
    }

    @Test func oomdPreferAndAvoidXattrsReorder() throws {
        var tree = PolicyTestTree.v2()
        tree.update("/workload/db/backup") { $0.oomd = OomdPreferences(prefer: true) }
        tree.update("/workload/jobs") { $0.oomd = OomdPreferences(avoid: true) }
        let decision = try decide(tree, under: "/workload") { $0.policy = .priority }
        #expect(decision.order == ["/workload/db/backup", "/workload/cache", "/workload/db/main", "/workload/jobs"])
        #expect(decision.victimReasons.contains("preferred: user.oomd_prefer on /workload/db/backup"))
        #expect(decision.reasons(of: "/workload/jobs").contains("avoided: user.oomd_avoid on /workload/jobs"))
        // In the process kind the xattr of a process's cgroup (or an ancestor) counts.
        let processes = try decide(tree, under: "/workload") { $0.kind = .process }
        #expect(processes.order.first == "pid 401")
        #expect(processes.order.last == "/workload/jobs", "the unit of pids 500 and 501, avoided")
        #expect(processes.reasons(of: "/workload/jobs").contains("avoided: user.oomd_avoid on /workload/jobs"))
    }

    @Test func invalidRegexIsReportedAsBadInput() throws {
        var options = PolicyOptions()
        options.avoid = ["ok", "(unclosed"]
        let error = #expect(throws: PolicyError.self) { try options.validate() }
        guard case .invalidRegex(let pattern, _) = error else {
            Issue.record("expected invalidRegex, got \(String(describing: error))")
            return
        }
        #expect(pattern == "(unclosed")
        #expect(error?.kind == .badInput)
        #expect(error?.description.contains("invalid regular expression '(unclosed'") == true)
        #expect(throws: PolicyError.self) { try decide(.v1()) { $0.prefer = ["[z-a]"] } }
        options.avoid = ["^ok$"]
        try options.validate()
    }
}
