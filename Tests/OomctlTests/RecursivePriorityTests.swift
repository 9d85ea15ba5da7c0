import Glibc
import OOMKit
import OOMTestSupport
import Testing

@testable import OomctlCommands

/// `watch --recursive --kill priority` on the real v1 hierarchy, in the shape of systemd's TEST-55-OOMD
/// scaled down: a parent with a limit, a hog `bloat` (priority 1) that grows past it, and `chill`
/// (priority 10) holding a little. The kernel notifies every memcg below the parent, and marks them all
/// under_oom: one OOM, handled once, in the parent.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct RecursivePriorityTests {
    private static let limit = ByteCount(64 << 20)

    /// The parent, bloat (priority 1) and chill (priority 10, holding 16M, running).
    private func family() throws -> (test: TestCgroup, bloat: CgroupPath, chill: CgroupPath, chillHog: pid_t) {
        let test = try TestCgroup(prefix: "oomctl-prio", limit: Self.limit)
        let bloat = try test.makeChild("bloat")
        let chill = try test.makeChild("chill")
        try setPriority(1, on: bloat)
        try setPriority(10, on: chill)
        let chillHog = try test.spawnHog("16M", in: chill)
        return (test, bloat, chill, chillHog)
    }

    private func setPriority(_ priority: Int, on path: CgroupPath) throws {
        try MemoryCgroup.open(path, in: CgroupSystem()).cgroup
            .setExtendedAttribute("user.oomctl.priority", Array(String(priority).utf8))
    }

    private func waitForUsage(_ test: TestCgroup, atLeast bytes: UInt64) {
        for _ in 0..<300 {
            if let usage = try? MemoryCgroup.open(test.path, in: CgroupSystem()).usage(), usage.bytes >= bytes {
                return
            }
            usleep(10_000)
        }
    }

    /// The notification chill gets is the parent's OOM: chill is not at a limit of its own, so it is not
    /// handled as if it were (before: its handling found nothing below it and fell back to killing chill).
    /// The hook lets chill's handling, if there is one, act first, as it did in 1 of 20 plain trials.
    @Test func anOOMIsHandledOnceInTheCgroupWhoseLimitWasHit() throws {
        let (test, bloat, _, chillHog) = try family()
        defer { test.destroy() }
        waitForUsage(test, atLeast: 16 << 20)
        let hook = #"[ "${OOMCTL_CGROUP##*/}" = chill ] && exit 0; sleep 0.5; exit 1"#
        let watch = try RunningWatch([
            test.path.description, "--recursive", "--kill", "priority", "--hook", hook, "--delay", "10s", "--json",
            "--no-self-protection",
        ])
        let bloatHog = try test.spawnHog("200M", extra: ["--rate", "100M"], in: bloat)
        #expect(ProcessRunner.wait(for: bloatHog, timeout: .seconds(15)) == 128 + SIGKILL)
        #expect(watch.waitFor { $0.records.contains { $0["outcome"] == "killed" } }, "\(watch.output)")
        usleep(300_000)
        #expect(ProcessRunner.wait(for: chillHog, timeout: .milliseconds(10)) == nil, "chill lives: \(watch.output)")
        let records = watch.records
        let detected = records.filter { $0["messageID"] == MessageID.oomDetected.rawValue }.compactMap { $0["cgroup"] }
        #expect(Set(detected) == [test.path.description], "handled in the parent only: \(watch.output)")
        let victims = records.filter { $0["messageID"] == MessageID.victimKilled.rawValue }
        #expect(victims.compactMap { $0["victim_cgroup"] } == [bloat.description], "\(watch.output)")
        #expect(!watch.output.contains("triggering"), "no fallback to the cgroup notified")
        #expect(watch.stop() == 0)
    }

    /// 40 idle children beside bloat: 20 marked priority 0, 20 with no priority. The marked ones are too
    /// small to resolve the OOM and are skipped; the unmarked ones count as priority 10 (the highest set
    /// among their siblings). Before, watch killed idle cgroups one by one first (10 of 10 trials).
    @Test func aVictimMustBeAbleToHelpAndUnmarkedCgroupsAreNotFirst() throws {
        let (test, bloat, _, chillHog) = try family()
        defer { test.destroy() }
        var sleepers: [pid_t] = []
        for index in 0..<40 {
            let idle = try test.makeChild("idle\(index)")
            if index < 20 { try setPriority(0, on: idle) }
            sleepers.append(try test.spawn(["/bin/sleep", "600"], in: idle))
        }
        waitForUsage(test, atLeast: 16 << 20)
        let watch = try RunningWatch([
            test.path.description, "--recursive", "--kill", "priority", "--delay", "10s", "--json",
            "--no-self-protection",
        ])
        let bloatHog = try test.spawnHog("200M", extra: ["--rate", "100M"], in: bloat)
        #expect(ProcessRunner.wait(for: bloatHog, timeout: .seconds(15)) == 128 + SIGKILL)
        #expect(watch.waitFor { $0.records.contains { $0["outcome"] == "killed" } }, "\(watch.output)")
        usleep(300_000)
        let dead = sleepers.filter { ProcessRunner.wait(for: $0, timeout: .milliseconds(1)) != nil }
        #expect(dead.isEmpty, "no idle cgroup killed: \(dead.count) were")
        #expect(ProcessRunner.wait(for: chillHog, timeout: .milliseconds(1)) == nil, "chill lives")
        let victims = watch.records.filter { $0["messageID"] == MessageID.victimKilled.rawValue }
        #expect(victims.compactMap { $0["victim_cgroup"] } == [bloat.description], "\(watch.output)")
        #expect(watch.stop() == 0)
    }

    /// `kill --under --policy priority --dry-run` with the parent near its limit shows the tier too small
    /// to help: ranked last, `canResolve` false, with the need in the decision.
    @Test func theDryRunShowsTheTiersTooSmallToHelp() throws {
        let (test, bloat, _, _) = try family()
        defer { test.destroy() }
        for index in 0..<3 {
            let idle = try test.makeChild("idle\(index)")
            if index < 2 { try setPriority(0, on: idle) }
            _ = try test.spawn(["/bin/sleep", "600"], in: idle)
        }
        _ = try test.spawnHog("24M", in: bloat)
        waitForUsage(test, atLeast: 40 << 20)
        usleep(200_000)
        struct Output: Decodable {
            var decision: Decision
        }
        // The parent at its limit, as in an OOM: its limit set to its usage. What the processes free
        // meanwhile shrinks the need; a try whose need the priority-0 tier could cover (so nothing is
        // too small) is set up again, up to five times.
        let system = try CgroupSystem()
        var tried: Decision?
        var tier: UInt64 = 0
        for _ in 0..<5 {
            let usage = try MemoryCgroup.open(test.path, in: system).usage()
            try test.setLimit(ByteCount((usage.bytes / 4096 + 64) * 4096))
            let result = ProcessRunner.oomctl([
                "kill", "--under", test.path.description, "--policy", "priority", "--dry-run", "--json",
            ])
            #expect(result.status == 0, "\(result)")
            tried = try JSONOutput.decode(Output.self, from: Array(result.standardOutput.utf8)).get().decision
            try #require(tried?.need != nil, "\(result.standardOutput)")
            tier = try (0..<2).reduce(UInt64(0)) {
                try $0 + MemoryCgroup.open(test.path.appending("idle\($1)"), in: system).usage().bytes
            }
            if let need = tried?.need, need.needed.bytes > tier { break }
        }
        let decision = try #require(tried)
        let need = try #require(decision.need)
        // More than the priority-0 tier holds (so it cannot help), not more than a few pages above the
        // headroom.
        #expect(need.needed.bytes > tier && need.needed.bytes <= 2 << 20, "\(need), priority-0 tier \(tier) bytes")
        let order = decision.ranked.map(\.target.cgroup.name)
        // Walk order: idle0, idle1 (priority 0), bloat (1), chill and idle2 (10); the small ones go last.
        #expect(order.count == 5 && order.prefix(2) == ["bloat", "chill"] && order.last == "idle2", "\(order)")
        #expect(Set(order[2..<4]) == ["idle0", "idle1"], "\(order)")
        #expect(decision.ranked.map(\.canResolve) == [true, true, false, false, false])
        #expect(decision.victim?.reasons.joined().contains("skipped as too small to help: priority 0: 2") == true)
        let unmarked = try #require(decision.ranked.first { $0.target.cgroup.name == "idle2" })
        #expect(unmarked.priority == 10, "no priority set: the highest set among its siblings")
        #expect(decision.ranked[2].reasons.joined().contains("too small to resolve the OOM"))
        let human = ProcessRunner.oomctl([
            "kill", "--under", test.path.description, "--policy", "priority", "--dry-run",
        ])
        #expect(human.standardOutput.contains("too small to resolve the OOM"), "\(human)")
    }
}
