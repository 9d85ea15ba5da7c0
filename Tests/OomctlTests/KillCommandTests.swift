import Glibc
import OOMKit
import OOMTestSupport
import Testing

@testable import OomctlCommands

/// The parts of `kill --json` output the tests read.
private struct KillJSON: Decodable {
    struct Report: Decodable {
        var signalledPIDs: [Int32]
        var method: String
        var usageBefore: ByteCount?
        var usageAfter: ByteCount?
    }
    var dryRun: Bool
    var report: Report?
    var decision: Decision?
}

private func decodeKill(_ result: CommandResult) throws -> KillJSON {
    try JSONOutput.decode(KillJSON.self, from: Array(result.standardOutput.utf8)).get()
}

private func isAlive(_ pid: pid_t) -> Bool {
    // A zombie is dead for our purposes: it exited and waits only to be reaped.
    let state = ProcessRunner.readText("/proc/\(pid)/stat").split(separator: ")").last?.split(separator: " ").first
    return kill(pid, 0) == 0 && state != "Z"
}

/// `oomctl kill` end to end on real memory cgroups.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct KillCommandTests {
    @Test func killsACgroupWithForkingProcessesAndReportsFreedMemory() throws {
        let test = try TestCgroup(limit: ByteCount(256 << 20))
        defer { test.destroy() }
        _ = try test.spawnHog("16M")
        _ = try test.spawn(["/bin/sh", "-c", "while :; do /bin/sleep 30 & sleep 0.01; done"])
        usleep(200_000)
        let result = ProcessRunner.oomctl(["kill", test.path.description])
        #expect(result.status == 0, "\(result)")
        #expect(result.standardOutput.hasPrefix("killed cgroup \(test.path):"))
        #expect(result.standardOutput.contains("freed"))
        let memory = try MemoryCgroup.open(test.path, in: CgroupSystem())
        #expect(try Killer.subtreeProcessIDs(memory).isEmpty)
    }

    @Test func jsonReportsWhatWasKilled() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let hog = try test.spawnHog("16M")
        usleep(100_000)
        let result = ProcessRunner.oomctl(["kill", test.path.description, "--json"])
        #expect(result.status == 0, "\(result)")
        let output = try decodeKill(result)
        #expect(output.dryRun == false)
        #expect(output.report?.signalledPIDs == [hog])
        let freed = (output.report?.usageBefore ?? .zero) - (output.report?.usageAfter ?? .zero)
        #expect(freed.bytes >= 12 << 20, "freed \(freed)")
    }

    @Test func pidKillsExactlyThatProcess() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let victim = try test.spawn(["/bin/sleep", "30"])
        let bystander = try test.spawn(["/bin/sleep", "30"])
        let result = ProcessRunner.oomctl(["kill", "--pid", String(victim)])
        #expect(result.status == 0, "\(result)")
        #expect(result.standardOutput.hasPrefix("killed process \(victim) in \(test.path)"))
        #expect(!isAlive(victim))
        #expect(isAlive(bystander))
    }

    @Test func aPidThatExitedGivesACleanMessage() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let gone = try test.spawn(["/bin/true"])
        _ = ProcessRunner.wait(for: gone)
        let bystander = try test.spawn(["/bin/sleep", "30"])
        let result = ProcessRunner.oomctl(["kill", "--pid", String(gone)])
        #expect(result.status == 66, "\(result)")
        #expect(result.standardError == "oomctl: error: no such process: \(gone) (it may have exited already)\n")
        #expect(isAlive(bystander))
    }

    @Test func dryRunKillsNothing() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let sleeper = try test.spawn(["/bin/sleep", "30"])
        let result = ProcessRunner.oomctl(["kill", test.path.description, "--dry-run"])
        #expect(result.status == 0, "\(result)")
        #expect(result.standardOutput.contains("dry run: would kill cgroup \(test.path); nothing was killed"))
        let policy = ProcessRunner.oomctl(["kill", "--under", test.path.description, "--process", "--dry-run"])
        #expect(policy.status == 0, "\(policy)")
        #expect(policy.standardOutput.contains("would kill process \(sleeper)"))
        #expect(isAlive(sleeper))
    }

    @Test func priorityKillsTheLowestPriorityLeafOnly() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        var sleepers: [String: pid_t] = [:]
        for (name, priority) in [("batch/low", "0"), ("batch/mid", "5"), ("web", "10")] {
            let path = try test.makeChild(name)
            sleepers[name] = try test.spawn(["/bin/sleep", "30"], in: path)
            try MemoryCgroup.open(path, in: CgroupSystem()).cgroup
                .setExtendedAttribute("user.oomctl.priority", Array(priority.utf8))
        }
        try MemoryCgroup.open(test.path.appending("batch"), in: CgroupSystem()).cgroup
            .setExtendedAttribute("user.oomctl.priority", Array("1".utf8))
        let result = ProcessRunner.oomctl(["kill", "--under", test.path.description, "--policy", "priority"])
        #expect(result.status == 0, "\(result)")
        #expect(result.standardOutput.contains("killed cgroup \(test.path)/batch/low"))
        #expect(result.standardOutput.contains("priority"), "the decision's reasons are printed")
        #expect(!isAlive(sleepers["batch/low"] ?? 0))
        #expect(isAlive(sleepers["batch/mid"] ?? 0) && isAlive(sleepers["web"] ?? 0))
    }

    @Test func simulateFromASnapshotMatchesTheDryRun() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        for (name, size) in [("a", "24M"), ("b", "8M"), ("c/d", "16M")] {
            _ = try test.spawnHog(size, in: try test.makeChild(name))
        }
        usleep(300_000)
        let file = ProcessRunner.temporaryPath("snap.json")
        defer { unlink(file) }
        let snapshot = ProcessRunner.oomctl(["snapshot", test.path.description, "--top", "10000", "-o", file])
        #expect(snapshot.status == 0, "\(snapshot)")
        for extra in [["--policy", "largest"], ["--policy", "largest", "--process"], ["--policy", "oom-score"]] {
            let live = ProcessRunner.oomctl(
                ["kill", "--under", test.path.description, "--dry-run", "--json"] + extra)
            let replay = ProcessRunner.oomctl(["simulate", "--from", file, "--json"] + extra)
            #expect(live.status == 0 && replay.status == 0, "\(live)\n\(replay)")
            let liveDecision = try decodeKill(live).decision
            let replayed = try JSONOutput.decode(Decision.self, from: Array(replay.standardOutput.utf8)).get()
            #expect(liveDecision?.victim?.target == replayed.victim?.target, "\(extra)")
            #expect(liveDecision?.ranked.map(\.target) == replayed.ranked.map(\.target), "\(extra)")
        }
        let human = ProcessRunner.oomctl(["simulate", "--from", file])
        #expect(human.standardOutput.contains("\(test.path)/a"))
        #expect(human.standardOutput.contains("nothing was killed"))
    }

    @Test func refusesTheRootAndInit() {
        let root = ProcessRunner.oomctl(["kill", "/"])
        #expect(root.status == 64, "\(root)")
        #expect(root.standardError.contains("refusing to kill: the root cgroup"))
        let initProcess = ProcessRunner.oomctl(["kill", "--pid", "1"])
        #expect(initProcess.status == 64)
        #expect(initProcess.standardError.contains("PID 1 is init"))
        let dryRoot = ProcessRunner.oomctl(["kill", "/", "--dry-run"])
        #expect(dryRoot.status == 64, "a dry run refuses what the kill would refuse")
    }

    @Test func refusesItsOwnCgroup() throws {
        let system = try CgroupSystem()
        let own = try system.memoryCgroupPath(ofProcess: getpid())
        let result = ProcessRunner.oomctl(["kill", own.description])
        #expect(result.status == 64, "\(result)")
        #expect(result.standardError.contains("contains oomctl itself"))
    }
}

@Suite struct KillCommandInputTests {
    @Test(arguments: [
        (["kill"], "exactly one of"), (["kill", "/a", "--pid", "5"], "exactly one of"),
        (["kill", "/a", "--policy", "priority"], "go with --under"),
        (["kill", "/a", "--policy", "largest"], "go with --under"),
        (
            ["kill", "--under", "/a", "--policy", "bogus"],
            "The value 'bogus' is invalid for '--policy <POLICY>'. Please provide one of 'largest', 'priority', "
                + "'triggering' or 'oom-score'."
        ),
        (["kill", "--under", "/a", "--prefer", "(unclosed"], "invalid regular expression '(unclosed'"),
        (["kill", "--under", "/a", "--avoid", "(unclosed"], "(--prefer and --avoid take regular expressions)"),
        (["kill", "--pid", "5", "--signal", "NOPE"], "invalid for '--signal <SIGNAL>': unknown signal 'NOPE'"),
        (["kill", "--pid", "5", "--signal", "99"], "invalid for '--signal <SIGNAL>': a signal number is 1 to 64"),
        (
            ["kill", "--pid", "5", "--signal", "TERM", "--grace", "soon"],
            "The value 'soon' is invalid for '--grace <DURATION>'"
        ),
        (["kill", "--pid", "5", "--timeout", "0"], "invalid for '--timeout <DURATION>': must be above zero"),
        // --grace is the wait between a first signal and SIGKILL: with SIGKILL first it would do nothing.
        (["kill", "--pid", "5", "--grace", "3s"], "--grace is the wait after a first --signal other than KILL"),
        (["kill", "--pid", "5", "--signal", "sigkill", "--grace", "3s"], "--grace is the wait after a first --signal"),
        (["kill", "--pid", "5", "--signal", "9", "--grace", "3s"], "--grace is the wait after a first --signal"),
        (["kill", "--pid", "0"], "--pid must be a positive"),
        (["kill", "--under", "/a", "--priority", "x"], "invalid for '--priority <CGROUP=N>': takes CGROUP=N"),
        (["kill", "--under", "/a", "--priority", "=5"], "invalid for '--priority <CGROUP=N>'"),
        (["kill", "/a/../b"], "'..' is not allowed"),
    ])
    func badInputIsAUsageError(arguments: [String], message: String) {
        let result = ProcessRunner.oomctl(arguments)
        #expect(result.status == 64, "\(result)")
        #expect(result.standardError.contains(message), "\(result)")
    }

    @Test func missingCgroupIsNotFound() {
        let result = ProcessRunner.oomctl(["kill", "/oomctl-no-such-cgroup"])
        #expect(result.status == 66)
        #expect(result.standardError.contains("no such cgroup '/oomctl-no-such-cgroup'"))
        let under = ProcessRunner.oomctl(["kill", "--under", "/oomctl-no-such-cgroup", "--dry-run"])
        #expect(under.status == 66)
    }

    @Test func corruptOrWrongVersionSnapshotsAreBadData() {
        let tree = FixtureTree()
        tree.file("garbage.json", "{ not json")
        tree.file("future.json", #"{"schemaVersion": 7}"#)
        tree.file("truncated.json", #"{"schemaVersion": 1, "cgroups": [{"path": "/a"}]}"#)
        let garbage = ProcessRunner.oomctl(["simulate", "--from", tree.root + "/garbage.json"])
        #expect(garbage.status == 65)
        #expect(garbage.standardError.contains("is not a usable oomctl snapshot: not JSON with a schemaVersion field"))
        let future = ProcessRunner.oomctl(["simulate", "--from", tree.root + "/future.json"])
        #expect(future.status == 65)
        #expect(future.standardError.contains("schema version 7 is not supported"))
        let truncated = ProcessRunner.oomctl(["simulate", "--from", tree.root + "/truncated.json"])
        #expect(truncated.status == 65, "\(truncated)")
        #expect(truncated.standardError.contains("missing"), "\(truncated)")
        let missing = ProcessRunner.oomctl(["simulate", "--from", tree.root + "/none.json"])
        #expect(missing.status == 66)
        #expect(missing.standardError.contains("none.json"))
    }
}

/// What the parser makes of kill's options, without spawning.
@Suite struct KillArgumentTests {
    private func kill(_ arguments: [String]) throws -> KillCommand {
        try #require(try Oomctl.parseAsRoot(["kill"] + arguments) as? KillCommand)
    }

    @Test func signalsAreTakenByNameOrNumber() throws {
        for (text, number) in [
            ("TERM", SIGTERM), ("sigterm", SIGTERM), ("SIGINT", SIGINT), ("15", SIGTERM), ("usr1", SIGUSR1),
        ] {
            let options = try kill(["--pid", "5", "--signal", text, "--grace", "2s"]).killOptions
            #expect(options.signal == number, "\(text)")
            #expect(options.grace == .seconds(2))
        }
        let defaults = try kill(["--pid", "5"]).killOptions
        #expect(defaults.signal == SIGKILL && defaults.grace == .seconds(5) && defaults.timeout == .seconds(10))
        #expect(try kill(["--pid", "5", "--timeout", "500ms"]).killOptions.timeout == .milliseconds(500))
    }

    @Test func thePolicyIsTyped() throws {
        #expect(try kill(["--under", "/a"]).policy.policyName == nil)
        #expect(try kill(["--under", "/a", "--policy", "oom-score"]).policy.policyName == .oomScore)
    }
}
