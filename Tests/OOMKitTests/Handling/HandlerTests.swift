import Glibc
import OOMTestSupport
import Testing

@testable import OOMKit

/// The handling pipeline (``Handler``) on fixture cgroups, with synthetic events, the real event loop and
/// timers, and real `/bin/sh` hooks. No root, no real OOM: the fixture's files stand for the kernel's,
/// and hooks (or the test, acting as the kernel) rewrite them to end an OOM.
///
/// Cgroup files in a fixture are regular files: a value the handler writes (one write(2), no truncation,
/// as cgroupfs wants) lands at the start of the old content. The tests assert exactly that.
@Suite(.serialized) struct HandlerTests {
    static let v2Directory = "sys/fs/cgroup/app"
    static let v1Directory = "sys/fs/cgroup/memory/job"
    /// A v2 hook that ends the condition: usage back below memory.max, and what is left reclaimable
    /// (so the distress verdict clears).
    static let resolveV2 =
        #"printf '1048576\n' > "$OOMCTL_CGROUP_PATH/memory.current"; "#
        + #"printf '\#(clearStat)' > "$OOMCTL_CGROUP_PATH/memory.stat""#
    /// memory.stat of a cgroup at its limit in distress: 63M anonymous (no swap) of 64M.
    static let distressStat = "anon 66060288\nactive_anon 33030144\ninactive_anon 33030144\nfile 0\nkernel 65536\n"
    /// memory.stat once the condition is over: 1M of page cache.
    static let clearStat = #"anon 0\nactive_anon 0\ninactive_anon 0\nfile 1048576\ninactive_file 1048576\n"#
    /// A v1 hook that ends the OOM: under_oom 0 (killer still disabled, as watch leaves it).
    static let resolveV1 =
        #"printf 'oom_kill_disable 1\nunder_oom 0\noom_kill 0\n' > "$OOMCTL_CGROUP_PATH/memory.oom_control""#

    /// /app at its memory.max (64M of 64M): unresolved until something lowers memory.current.
    static func v2Tree() -> FixtureTree {
        let tree = FixtureTree.unifiedV2()
        tree.v2Cgroup("/app", usage: 64 << 20, max: 64 << 20)
        tree.file(v2Directory + "/memory.stat", distressStat)
        return tree
    }

    /// Acts as the kernel after a kill on the v2 fixture: the victim's memory is gone.
    static func freeV2Memory(_ tree: FixtureTree) {
        tree.file(v2Directory + "/memory.current", "1048576\n")
        tree.file(v2Directory + "/memory.stat", "anon 0\nfile 1048576\ninactive_file 1048576\n")
    }

    /// /job in OOM with its kernel killer disabled (as `watch` leaves it).
    static func v1Tree() -> FixtureTree {
        let tree = FixtureTree.hybridV1()
        tree.v1Cgroup("/job", usage: 64 << 20, limit: 64 << 20)
        tree.file(v1Directory + "/memory.oom_control", oomControlText(disabled: true, underOOM: true))
        return tree
    }

    static func options(hooks: [String] = [], action: HandlingOptions.Action = .none) -> HandlingOptions {
        var options = HandlingOptions()
        options.hooks = hooks
        options.action = action
        options.hookTimeout = .seconds(2)
        options.kill = KillOptions(timeout: .seconds(1))
        options.settleTime = .milliseconds(30)
        return options
    }

    // MARK: Hooks

    @Test func aHookThatResolvesEndsTheHandlingAndNothingElseRuns() throws {
        let tree = Self.v2Tree()
        let marker = tree.root + "/second-hook-ran"
        let harness = try HandlerHarness(
            tree: tree,
            options: Self.options(hooks: [Self.resolveV2, "touch \(shellQuoted(marker))"], action: .kill(.init())))
        harness.handler.handle(harness.event(.max, "/app"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .resolvedByHook)
        #expect(harness.stepNames == ["detected", "hookStarted", "hookFinished", "finished"])
        #expect(report.hooks.count == 1 && report.hooks.first?.exitStatus == 0)
        #expect(report.decision == nil && report.kill == nil, "nothing was decided or killed")
        #expect(access(marker, F_OK) != 0, "the second hook did not run")
        #expect(harness.read(Self.v2Directory + "/memory.current") == "1048576\n")
        #expect(report.usage == ByteCount(64 << 20) && report.limit == ByteCount(64 << 20))
        #expect(harness.handler.activeCount == 0)
    }

    @Test func failingAndUnresolvingHooksFallThroughToActionNoneReported() throws {
        let tree = Self.v2Tree()
        let marker = tree.root + "/third-hook-ran"
        let harness = try HandlerHarness(
            tree: tree,
            options: Self.options(hooks: ["echo failing; exit 3", "exit 0", "touch \(shellQuoted(marker))"]))
        harness.handler.handle(harness.event(.max, "/app"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .reported)
        #expect(report.hooks.map(\.exitStatus) == [3, 0, 0], "a hook that exits 0 without resolving goes on")
        #expect(report.hooks.first?.output == "failing\n")
        #expect(report.hooks.first?.succeeded == false && report.hooks.first?.outcome == "exit 3")
        #expect(access(marker, F_OK) == 0)
        #expect(report.errors.isEmpty, "a failing hook is not a failed handling")
        #expect(!harness.stepNames.contains("decided"))
    }

    @Test func anOOMKillRunsEveryHookAndOnlyReports() throws {
        let tree = Self.v2Tree()
        let marker = tree.root + "/event"
        let harness = try HandlerHarness(
            tree: tree,
            options: Self.options(
                hooks: [Self.resolveV2, "printf '%s' \"$OOMCTL_EVENT\" > \(shellQuoted(marker))"],
                action: .kill(.init())))
        harness.handler.handle(harness.event(.oomKill, "/app", count: 2))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .reported)
        #expect(report.hooks.count == 2, "the first hook resolving does not end an oom-kill handling")
        #expect(ProcessRunner.readText(marker) == "oom-kill")
        #expect(report.event == .oomKill && report.count == 2)
        #expect(!harness.stepNames.contains("decided"), "the kernel already killed: no action")
    }

    /// /app populated, and a group kill's first oom-kill read (`firstRead` kills counted so far) handled.
    static func groupKillInProgress(firstRead: UInt64) throws -> (FixtureTree, HandlerHarness) {
        let tree = v2Tree()
        tree.file(v2Directory + "/cgroup.events", "populated 1\nfrozen 0\n")
        let harness = try HandlerHarness(tree: tree, options: options())
        var event = harness.event(.oomKill, "/app", count: firstRead)
        event.groupKills = 1
        harness.handler.handle(event)
        return (tree, harness)
    }

    /// A kernel group kill of a 4-process unit read mid-way (VM, 6.1: the detection said 2): the rest the
    /// kernel counts later is part of the same handling, which ends once the unit is empty, and reports
    /// the whole count (before, it ended at once, reported 2, and the rest was dropped as coalesced).
    @Test func aGroupKillIsReportedWholeOnceTheUnitIsEmpty() throws {
        let (tree, harness) = try Self.groupKillInProgress(firstRead: 2)
        harness.run(for: .milliseconds(150))
        #expect(harness.finished.isEmpty, "the unit still has processes: the kill is not over")
        harness.handler.handle(harness.event(.oomKill, "/app", count: 3))  // the kernel's later counts
        tree.file(Self.v2Directory + "/cgroup.events", "populated 0\nfrozen 0\n")
        let reports = harness.runUntilFinished(bound: .seconds(2))
        #expect(reports.count == 1, "one group kill, one handling")
        let report = try #require(reports.first)
        #expect(report.event == .oomKill && report.groupKills == 1)
        #expect(report.count == 5, "the whole count, not the first read's 2")
        #expect(report.durationMicroseconds < Handler.groupKillTail.totalNanoseconds / 1000 + 200_000)
    }

    /// A unit that never empties (a process with oom_score_adj -1000 survives the group kill): the
    /// handling still ends, after ``Handler/groupKillTail``.
    @Test func aGroupKillThatLeavesAProcessEndsAfterTheTail() throws {
        let (_, harness) = try Self.groupKillInProgress(firstRead: 3)
        let report = try #require(harness.runUntilFinished(bound: .seconds(3)).first)
        #expect(report.count == 3)
        #expect(report.durationMicroseconds >= Handler.groupKillTail.totalNanoseconds / 1000)
    }

    @Test func aHookPastItsTimeoutIsKilledAndTheNextOneRuns() throws {
        var options = Self.options(hooks: ["sleep 5", "echo next"])
        options.hookTimeout = .milliseconds(200)
        let harness = try HandlerHarness(tree: Self.v2Tree(), options: options)
        let start = harness.clock.now
        harness.handler.handle(harness.event(.max, "/app"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(harness.clock.now - start < .milliseconds(1500))
        let first = try #require(report.hooks.first)
        #expect(first.timedOut && first.signal == SIGKILL && first.exitStatus == nil)
        #expect(!first.succeeded && first.outcome == "timed out, process group killed")
        #expect(first.durationMicroseconds >= 200_000)
        #expect(report.hooks.last?.output == "next\n")
        #expect(report.outcome == .reported)
    }

    @Test func hooksGetTheHandlingsContext() throws {
        let tree = Self.v2Tree()
        let out = tree.root + "/env"
        let stdin = tree.root + "/stdin"
        let harness = try HandlerHarness(
            tree: tree,
            options: Self.options(hooks: [
                "env | grep '^OOMCTL_' | sort > \(shellQuoted(out)); cat > \(shellQuoted(stdin))"
            ]))
        harness.handler.handle(harness.event(.high, "/app", count: 7))
        _ = try #require(harness.runUntilFinished().first)
        let environment = ProcessRunner.readText(out).split(separator: "\n").map(String.init)
        let cgroupDirectory = tree.root + "/" + Self.v2Directory
        for line in [
            "OOMCTL_EVENT=high", "OOMCTL_CGROUP=/app", "OOMCTL_CGROUP_PATH=\(cgroupDirectory)",
            "OOMCTL_CGROUP_VERSION=2", "OOMCTL_HANDLING_ID=1", "OOMCTL_COUNT=7", "OOMCTL_DRY_RUN=0",
            "OOMCTL_USAGE=\(64 << 20)", "OOMCTL_LIMIT=\(64 << 20)",
        ] {
            #expect(environment.contains(line), "\(line) in \(environment)")
        }
        #expect(!environment.contains { $0.hasPrefix("OOMCTL_SNAPSHOT=") || $0.hasPrefix("OOMCTL_RESERVE=") })
        let json = ProcessRunner.readText(stdin)
        for fragment in [#""event":"high""#, #""cgroup":"\/app""#, #""count":7"#, #""version":2"#, #""dryRun":false"#] {
            #expect(json.contains(fragment) || json.contains(fragment.replacing("\\/", with: "/")), "\(json)")
        }
    }

    // MARK: Coalescing

    @Test func eventsDuringAHandlingAreCoalescedAndOOMKillsWaitTheirTurn() throws {
        let harness = try HandlerHarness(tree: Self.v2Tree(), options: Self.options(hooks: ["sleep 0.2"]))
        harness.handler.handle(harness.event(.max, "/app"))
        harness.handler.handle(harness.event(.max, "/app", count: 2))
        harness.handler.handle(harness.event(.high, "/app", count: 3))
        harness.handler.handle(harness.event(.oomKill, "/app"))
        harness.handler.handle(harness.event(.oomKill, "/app", count: 4))
        let totals = harness.log.steps.compactMap { step -> UInt64? in
            if case .coalesced(_, _, let total) = step { total } else { nil }
        }
        #expect(totals == [2, 5], "oom-kills are not coalesced into the running handling")
        #expect(harness.handler.activeCount == 1)
        let reports = harness.runUntilFinished(count: 2)
        try #require(reports.count == 2)
        #expect(reports[0].event == .max && reports[0].coalesced == 5 && reports[0].id == 1)
        #expect(reports[1].event == .oomKill && reports[1].count == 5 && reports[1].id == 2)
        #expect(reports[1].coalesced == 0 && reports[1].outcome == .reported)
        #expect(harness.stepNames.filter { $0 == "detected" }.count == 2)
    }

    @Test func eventsWithinTheMinimumIntervalAreCoalescedExceptOOMs() throws {
        var options = Self.options()
        options.minimumInterval = .seconds(30)
        let harness = try HandlerHarness(tree: Self.v2Tree(), options: options)
        harness.handler.handle(harness.event(.high, "/app"))
        // No hooks and nothing to kill: the handling finishes inside handle().
        #expect(harness.finished.count == 1)
        harness.handler.handle(harness.event(.high, "/app", count: 4))
        harness.handler.handle(harness.event(.max, "/app", count: 2))
        harness.handler.handle(harness.event(.pressure, "/app"))
        #expect(harness.finished.count == 1)
        let totals = harness.log.steps.compactMap { step -> UInt64? in
            if case .coalesced(_, _, let total) = step { total } else { nil }
        }
        #expect(totals == [4, 6, 7])
        // An `oom` is never held back by the interval; it carries what was coalesced before it.
        harness.handler.handle(harness.event(.oom, "/app"))
        try #require(harness.finished.count == 2)
        #expect(harness.finished[1].event == .oom && harness.finished[1].coalesced == 7)
        harness.handler.handle(harness.event(.high, "/app"))
        #expect(harness.log.steps.last.map(HandlerHarness.name) == "coalesced")
        if case .coalesced(_, _, let total) = harness.log.steps.last { #expect(total == 1, "the counter restarted") }
    }

    @Test func withoutAMinimumIntervalEveryEventIsHandled() throws {
        var options = Self.options()
        options.minimumInterval = .zero
        let harness = try HandlerHarness(tree: Self.v2Tree(), options: options)
        for _ in 0..<3 { harness.handler.handle(harness.event(.high, "/app")) }
        #expect(harness.finished.map(\.id) == [1, 2, 3])
        #expect(!harness.stepNames.contains("coalesced"))
    }

    // MARK: Removal

    @Test func aCgroupRemovedMidHookEndsItsHandlingAsRemoved() throws {
        let tree = Self.v2Tree()
        let marker = tree.root + "/second-hook-ran"
        let harness = try HandlerHarness(
            tree: tree, options: Self.options(hooks: ["sleep 0.2", "touch \(shellQuoted(marker))"]))
        harness.handler.handle(harness.event(.max, "/app"))
        harness.handler.handle(harness.event(.oomKill, "/app"))  // pending until the handling ends
        harness.run(for: .milliseconds(50))
        harness.handler.handle(harness.event(.removed, "/app"))
        #expect(harness.stepNames == ["detected", "hookStarted", "finished", "removed"])
        #expect(harness.finished.first?.outcome == .removed)
        #expect(harness.handler.activeCount == 0)
        // The running hook's end adds nothing, and the pending oom-kill was dropped with the cgroup.
        harness.run(for: .milliseconds(400))
        #expect(harness.stepNames == ["detected", "hookStarted", "finished", "removed"])
        #expect(access(marker, F_OK) != 0)
    }

    @Test func aMissingCgroupFailsWithoutAHandling() throws {
        let harness = try HandlerHarness(tree: Self.v2Tree(), options: Self.options())
        harness.handler.handle(harness.event(.max, "/gone"))
        #expect(harness.stepNames == ["failed"])
        #expect(harness.handler.activeCount == 0)
    }

    // MARK: v1 deadline

    @Test func v1UnresolvedAtTheDeadlineFallsBackToTheKernel() throws {
        var options = Self.options()
        options.delay = .milliseconds(150)
        let harness = try HandlerHarness(tree: Self.v1Tree(), options: options)
        let file = Self.v1Directory + "/memory.oom_control"
        let before = harness.read(file)
        var atFallback: String?
        let tree = harness.tree
        harness.log.react = { step in
            guard case .fellBack = step else { return }
            atFallback = ProcessRunner.readText(tree.root + "/" + file)
            // The kernel killer acts: the OOM is over.
            tree.file(file, oomControlText(disabled: false, underOOM: false, kills: 1))
        }
        let start = harness.clock.now
        harness.handler.handle(harness.event(.oom, "/job"))
        #expect(harness.stepNames == ["detected"], "waiting for the deadline")
        let report = try #require(harness.runUntilFinished().first)
        #expect(harness.clock.now - start >= .milliseconds(150))
        #expect(report.outcome == .fellBackToKernel && report.fellBack)
        #expect(atFallback == "0" + before.dropFirst(), "one write of \"0\" to memory.oom_control")
        #expect(harness.stepNames == ["detected", "fellBack", "finished"])
        if case .fellBack(_, _, let after) = harness.log.steps[1] { #expect(after == .milliseconds(150)) }
        #expect(harness.log.rearmed == [cgroupPath("/job")], "the killer is disabled again for the next OOM")
    }

    /// The fallback ended the OOM while a hook still ran, then the OOM came back before the hook ended: the
    /// handling must look again and end with it (it used to wait for ever, its killer disabled again).
    @Test func v1AnOOMBackAfterTheFallbackIsWatchedAgainWhenThePipelineEnds() throws {
        let back = #"printf 'oom_kill_disable 0\nunder_oom 1\noom_kill 1\n' > "$OOMCTL_CGROUP_PATH/memory.oom_control""#
        var options = Self.options(hooks: ["sleep 0.25; \(back); sleep 0.15; exit 1"])
        options.delay = .milliseconds(100)
        let harness = try HandlerHarness(tree: Self.v1Tree(), options: options)
        let file = Self.v1Directory + "/memory.oom_control"
        let tree = harness.tree
        harness.log.react = { step in
            // The kernel killer acts at the fallback: the OOM is over, for now.
            if case .fellBack = step { tree.file(file, oomControlText(disabled: false, underOOM: false, kills: 1)) }
        }
        harness.handler.handle(harness.event(.oom, "/job"))
        harness.run(for: .milliseconds(700))
        #expect(harness.finished.isEmpty, "the OOM is on again: the handling waits for it to end")
        #expect(harness.log.rearmed.isEmpty, "the kernel killer stays enabled while the OOM lasts")
        tree.file(file, oomControlText(disabled: false, underOOM: false, kills: 2))
        let report = try #require(harness.runUntilFinished(bound: .seconds(1)).first, "\(harness.stepNames)")
        #expect(report.outcome == .fellBackToKernel)
        #expect(harness.log.rearmed == [cgroupPath("/job")], "disabled again once, when the handling ended")
    }

    /// A hook that exits 0 after the fallback ended the OOM did not resolve it: the kernel did.
    @Test func v1AHookDoneAfterTheFallbackIsNotCreditedWithTheResolution() throws {
        var options = Self.options(hooks: ["sleep 0.3"])
        options.delay = .milliseconds(100)
        let harness = try HandlerHarness(tree: Self.v1Tree(), options: options)
        let file = Self.v1Directory + "/memory.oom_control"
        let tree = harness.tree
        harness.log.react = { step in
            if case .fellBack = step { tree.file(file, oomControlText(disabled: false, underOOM: false, kills: 1)) }
        }
        harness.handler.handle(harness.event(.oom, "/job"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.hooks.first?.exitStatus == 0)
        #expect(report.outcome == .fellBackToKernel, "\(report.outcome)")
    }

    /// A v1 hook line that writes memory.oom_control with the killer disabled and under_oom `under`.
    static func v1UnderOOM(_ under: Int) -> String {
        #"printf 'oom_kill_disable 1\nunder_oom \#(under)\noom_kill 0\n' > "$OOMCTL_CGROUP_PATH/memory.oom_control""#
    }

    /// under_oom reads 0 at the deadline and 1 again 20 ms later: a stalled task woken by an uncharge,
    /// retrying its charge, then stalled again (the test, the loop's own thread, writes the file between
    /// two stretches of the loop). Read once at the deadline, that used to skip the fallback for good:
    /// the hook ended, the OOM was still on, and nothing was left to end it.
    @Test func v1OverForAMomentAtTheDeadlineStillFallsBack() throws {
        var options = Self.options(hooks: ["sleep 1; exit 1"])
        options.delay = .milliseconds(100)
        let harness = try HandlerHarness(tree: Self.v1Tree(), options: options)
        let file = Self.v1Directory + "/memory.oom_control"
        let tree = harness.tree
        var fellBackAt: Duration?
        let start = harness.clock.now
        harness.log.react = { [clock = harness.clock] step in
            guard case .fellBack = step else { return }
            fellBackAt = clock.now - start
            tree.file(file, oomControlText(disabled: false, underOOM: false, kills: 1))
        }
        harness.handler.handle(harness.event(.oom, "/job"))
        harness.run(for: .milliseconds(80))
        tree.file(file, oomControlText(disabled: true, underOOM: false))  // woken, retrying its charge
        harness.run(for: .milliseconds(40))  // the deadline looks meanwhile, and finds the OOM over
        tree.file(file, oomControlText(disabled: true, underOOM: true))  // the charge failed: stalled again
        let report = try #require(harness.runUntilFinished(bound: .seconds(3)).first, "\(harness.stepNames)")
        #expect(report.outcome == .fellBackToKernel, "\(report.outcome)")
        let at = try #require(fellBackAt)
        #expect(at < .milliseconds(400), "at the deadline's looks, not after the hook (1 s): \(at)")
    }

    /// Past the deadline with the OOM over (the deadline found it so for the settle time), the OOM comes
    /// back while a hook still runs: the kernel's new notification hands it to the kernel at once (it
    /// used to be folded in with no deadline left, and the cgroup hung).
    @Test func v1BackAfterTheDeadlineFoundItOverGoesToTheKernelAtOnce() throws {
        var options = Self.options(hooks: ["sleep 0.03; \(Self.v1UnderOOM(0)); sleep 2"])
        options.delay = .milliseconds(100)
        let harness = try HandlerHarness(tree: Self.v1Tree(), options: options)
        let file = Self.v1Directory + "/memory.oom_control"
        harness.handler.handle(harness.event(.oom, "/job"))
        harness.run(for: .milliseconds(400))
        #expect(harness.stepNames == ["detected", "hookStarted"], "over since 30 ms: no fallback")
        harness.tree.file(file, oomControlText(disabled: true, underOOM: true))
        harness.handler.handle(harness.event(.oom, "/job"))
        #expect(harness.stepNames.suffix(2) == ["coalesced", "fellBack"], "\(harness.stepNames)")
    }

    /// A hook that failed left under_oom at 0, and the OOM is back just after the action's first look
    /// (written by the test once the hook's end was taken in): not over, so the action is taken (here
    /// none: the deadline's fallback ends it). It used to end as resolved at that first look.
    @Test func v1OverForAMomentAtTheActionIsNotResolved() throws {
        var options = Self.options(hooks: [Self.v1UnderOOM(0) + "; exit 1"])
        options.delay = .milliseconds(300)
        let harness = try HandlerHarness(tree: Self.v1Tree(), options: options)
        let file = Self.v1Directory + "/memory.oom_control"
        let tree = harness.tree
        harness.log.react = { step in
            if case .fellBack = step { tree.file(file, oomControlText(disabled: false, underOOM: false, kills: 1)) }
        }
        harness.handler.handle(harness.event(.oom, "/job"))
        let end = harness.clock.now + .seconds(2)
        while !harness.stepNames.contains("hookFinished") && harness.clock.now < end {
            harness.loop.runOnce(timeout: .milliseconds(5))
        }
        #expect(harness.finished.isEmpty, "the action looked once and waits for the OOM to stay over")
        tree.file(file, oomControlText(disabled: true, underOOM: true))  // back: the woken task's charge failed
        let report = try #require(harness.runUntilFinished(bound: .seconds(3)).first, "\(harness.stepNames)")
        #expect(report.outcome == .fellBackToKernel, "\(report.outcome)")
    }

    @Test func v1ResolvedBeforeTheDeadlineDoesNotFallBack() throws {
        var options = Self.options()
        options.delay = .milliseconds(200)
        let harness = try HandlerHarness(tree: Self.v1Tree(), options: options)
        let file = Self.v1Directory + "/memory.oom_control"
        harness.handler.handle(harness.event(.oom, "/job"))
        harness.run(for: .milliseconds(50))
        #expect(harness.finished.isEmpty)
        // Someone else freed memory: the OOM is over before the deadline.
        let ended = oomControlText(disabled: true, underOOM: false)
        harness.tree.file(file, ended)
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .resolved && !report.fellBack)
        #expect(!harness.stepNames.contains("fellBack"))
        #expect(harness.read(file) == ended, "memory.oom_control was not written")
        #expect(harness.log.rearmed.isEmpty)
    }

    @Test func v1HookThatResolvesCancelsTheDeadline() throws {
        var options = Self.options(hooks: [Self.resolveV1])
        options.delay = .milliseconds(300)
        let harness = try HandlerHarness(tree: Self.v1Tree(), options: options)
        let start = harness.clock.now
        harness.handler.handle(harness.event(.oom, "/job"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(harness.clock.now - start < .milliseconds(300), "no wait for the deadline")
        #expect(report.outcome == .resolvedByHook)
        let written = harness.read(Self.v1Directory + "/memory.oom_control")
        harness.run(for: .milliseconds(400))
        #expect(!harness.stepNames.contains("fellBack"), "the deadline was cancelled")
        #expect(harness.read(Self.v1Directory + "/memory.oom_control") == written)
    }

    @Test func v1FailingHookWhileTheOOMEndedIsResolvedAtTheAction() throws {
        var options = Self.options(hooks: [Self.resolveV1 + "; exit 1"], action: .kill(.init()))
        options.delay = .milliseconds(500)
        let harness = try HandlerHarness(tree: Self.v1Tree(), options: options)
        let start = harness.clock.now
        harness.handler.handle(harness.event(.oom, "/job"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .resolved)
        #expect(harness.clock.now - start < .milliseconds(500))
        #expect(report.decision == nil, "nothing to decide once the OOM is over")
    }

    // MARK: Dry run and kill

    @Test func dryRunDecidesAndKillsNothing() throws {
        let child = try TestChild(["/bin/sleep", "30"])
        let tree = Self.v2Tree()
        tree.v2Cgroup("/app/big", usage: 40 << 20, max: nil, procs: [child.pid])
        tree.v2Cgroup("/app/small", usage: 10 << 20, max: nil)
        tree.process(child.pid, name: "sleep", residentKiB: 40 << 10, cgroupLine: "0::/app/big")
        var options = Self.options(hooks: [#"echo "$OOMCTL_DRY_RUN""#], action: .kill(.init()))
        options.dryRun = true
        let harness = try HandlerHarness(tree: tree, options: options)
        harness.handler.handle(harness.event(.max, "/app"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .dryRun)
        #expect(harness.stepNames == ["detected", "hookStarted", "hookFinished", "decided", "finished"])
        #expect(report.decision?.victim?.target == .cgroup(cgroupPath("/app/big")))
        #expect(report.hooks.first?.output == "1\n")
        #expect(report.kill == nil)
        harness.run(for: .milliseconds(100))
        #expect(child.isRunning, "nothing was killed")
    }

    @Test func dryRunOnV1NeverTouchesTheKernelKiller() throws {
        var options = Self.options(action: .kill(.init()))
        options.dryRun = true
        options.delay = .milliseconds(100)
        let harness = try HandlerHarness(tree: Self.v1Tree(), options: options)
        let before = harness.read(Self.v1Directory + "/memory.oom_control")
        harness.handler.handle(harness.event(.oom, "/job"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .dryRun)
        harness.run(for: .milliseconds(250))
        #expect(!harness.stepNames.contains("fellBack"))
        #expect(harness.read(Self.v1Directory + "/memory.oom_control") == before)
    }

    /// A real kill on a fixture: the fixture's cgroup.procs lists a child of this test only, and the v2
    /// fixture has no cgroup.kill, so the pidfd loop signals exactly that child.
    @Test func killsTheVictimThenRunsThePostKillHooks() throws {
        let child = try TestChild(["/bin/sleep", "30"])
        let tree = FixtureTree.unifiedV2()
        tree.v2Cgroup("/app", usage: 64 << 20, max: 64 << 20, procs: [child.pid])
        tree.file(Self.v2Directory + "/memory.stat", Self.distressStat)
        tree.process(child.pid, name: "sleep", residentKiB: 1024, cgroupLine: "0::/app")
        var options = Self.options(action: .kill(.init()))
        options.postKillHooks = [#"echo "$OOMCTL_VICTIM_CGROUP $OOMCTL_VICTIM_PIDS""#]
        let harness = try HandlerHarness(tree: tree, options: options)
        harness.log.react = { step in if case .killed = step { Self.freeV2Memory(tree) } }
        harness.handler.handle(harness.event(.max, "/app"))
        #expect(!harness.stepNames.contains("killed"), "the kill completes from the loop")
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .killed, "\(report.errors)")
        #expect(report.kill?.signalledPIDs == [child.pid] && report.kill?.method == .pidfdLoop)
        #expect(report.postKillHooks.first?.output == "/app \(child.pid)\n")
        #expect(
            harness.stepNames == [
                "detected", "decided", "signalled", "killed", "hookStarted", "hookFinished", "finished",
            ])
        #expect(child.waitForExit() == 128 + SIGKILL)
    }

    // MARK: Distress (v2)

    /// /app at its memory.max with nothing but page cache: the kernel keeps it there by reclaim.
    static func v2PageCacheTree() -> FixtureTree {
        let tree = FixtureTree.unifiedV2()
        tree.v2Cgroup("/app", usage: 64 << 20, max: 64 << 20)
        tree.file(
            v2Directory + "/memory.stat",
            "anon 1048576\nactive_anon 1048576\nfile 65011712\nactive_file 16252928\ninactive_file 48758784\n")
        return tree
    }

    @Test func aWakeUpWithoutDistressRunsNothingAndIsCounted() throws {
        let tree = Self.v2PageCacheTree()
        let marker = tree.root + "/hook-ran"
        var options = Self.options(hooks: ["touch \(shellQuoted(marker))"], action: .kill(.init()))
        options.distressWindow = .milliseconds(40)
        let harness = try HandlerHarness(tree: tree, options: options)
        harness.handler.handle(harness.event(.max, "/app"))
        harness.handler.handle(harness.event(.high, "/app", count: 3))  // folded into the one being confirmed
        harness.run(for: .milliseconds(300))
        #expect(harness.stepNames == ["coalesced", "notInDistress"], "\(harness.stepNames)")
        let verdicts = harness.log.steps.compactMap { step -> (UInt64, DistressVerdict)? in
            if case .notInDistress(_, _, let count, let verdict) = step { (count, verdict) } else { nil }
        }
        #expect(verdicts.first?.0 == 4, "the events folded into it")
        #expect(verdicts.first?.1.figures.reclaimable == ByteCount(62 << 20))
        #expect(verdicts.first?.1.figures.intervalMicroseconds.map { $0 >= 40_000 } == true, "two samples, 40ms apart")
        #expect(harness.handler.wakeUpsNotInDistress == 1)
        #expect(harness.finished.isEmpty && access(marker, F_OK) != 0, "no handling, no hook")
    }

    @Test func stallsInTheWindowAreDistressAndTheHooksAreTold() throws {
        let tree = Self.v2PageCacheTree()
        var options = Self.options(hooks: [#"echo "$OOMCTL_DISTRESS"; exit 1"#])
        options.distressWindow = .milliseconds(50)
        let harness = try HandlerHarness(tree: tree, options: options)
        harness.handler.handle(harness.event(.high, "/app"))
        // The kernel's PSI counts 45ms of full stall in the next 50ms: reclaim is not keeping up.
        tree.file(
            Self.v2Directory + "/memory.pressure",
            "some avg10=50.00 avg60=9.00 avg300=2.00 total=57345\nfull avg10=40.00 avg60=8.00 avg300=2.00 total=47345\n"
        )
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.distress?.reasons == [.reclaimStalls], "\(String(describing: report.distress))")
        #expect(report.hooks.first?.output.hasPrefix("in distress (reclaim-stalls): unreclaimable 1M") == true)
        // By the action step the stalls had stopped (the fixture's PSI total stands still): resolved.
        #expect(report.outcome == .resolved, "\(harness.stepNames)")
    }

    @Test func unreclaimableAtTheCeilingStartsAtOnce() throws {
        let harness = try HandlerHarness(tree: Self.v2Tree(), options: Self.options())
        harness.handler.handle(harness.event(.high, "/app"))
        #expect(harness.stepNames.first == "detected", "no window: the first sample is evidence enough")
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.distress?.reasons == [.unreclaimableAtCeiling])
        #expect(report.distress?.figures.unreclaimable == ByteCount(63 << 20))
    }

    @Test func aHookThatOnlyBrieflyHelpsDoesNotResolve() throws {
        // The hook clears the verdict for a moment; the kernel (this test) brings the distress back within
        // the settle time: the handling goes on to its action.
        let tree = Self.v2Tree()
        var options = Self.options(hooks: [Self.resolveV2], action: .kill(.init()))
        options.dryRun = true
        options.settleTime = .milliseconds(200)
        let harness = try HandlerHarness(tree: tree, options: options)
        harness.log.react = { step in
            if case .hookFinished = step { tree.file(Self.v2Directory + "/memory.stat", Self.distressStat) }
        }
        harness.handler.handle(harness.event(.max, "/app"))
        let report = try #require(harness.runUntilFinished(bound: .seconds(3)).first)
        #expect(report.outcome == .dryRun, "\(harness.stepNames)")
        #expect(harness.stepNames.contains("decided"))
    }

    @Test func holdFreezeFreezesWhileTheHooksRunAndThawsBeforeTheKill() throws {
        let child = try TestChild(["/bin/sleep", "30"])
        let tree = Self.v2Tree()
        tree.v2Cgroup("/app", usage: 64 << 20, max: 64 << 20, procs: [child.pid])
        tree.file(Self.v2Directory + "/memory.stat", Self.distressStat)
        tree.file(Self.v2Directory + "/cgroup.freeze", "0\n")
        tree.process(child.pid, name: "sleep", residentKiB: 1024, cgroupLine: "0::/app")
        var options = Self.options(
            hooks: [#"echo "$(cat "$OOMCTL_CGROUP_PATH/cgroup.freeze") $OOMCTL_HOLD"; exit 1"#], action: .kill(.init()))
        options.hold = .freeze
        let harness = try HandlerHarness(tree: tree, options: options, holds: FreezeHolds(guardian: nil))
        var freezeAtKill: String?
        harness.log.react = { step in
            if case .victimSignalled = step { freezeAtKill = harness.read(Self.v2Directory + "/cgroup.freeze") }
            if case .killed = step { Self.freeV2Memory(tree) }
        }
        harness.handler.handle(harness.event(.high, "/app"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .killed, "\(report.errors)")
        #expect(report.hooks.first?.output == "1 freeze\n", "frozen while the hook ran, and the hook was told")
        #expect(freezeAtKill == "0\n", "thawed before the kill")
        #expect(
            harness.stepNames == [
                "detected", "held", "hookStarted", "hookFinished", "decided", "released", "signalled", "killed",
                "finished",
            ], "\(harness.stepNames)")
        #expect(child.waitForExit() == 128 + SIGKILL)
    }

    @Test func aHoldEndsAtTheDelayWhateverTheHooksDo() throws {
        let tree = Self.v2Tree()
        tree.file(Self.v2Directory + "/cgroup.freeze", "0\n")
        var options = Self.options(hooks: ["sleep 1"])
        options.hold = .freeze
        options.delay = .milliseconds(200)
        let harness = try HandlerHarness(tree: tree, options: options, holds: FreezeHolds(guardian: nil))
        harness.handler.handle(harness.event(.max, "/app"))
        harness.run(for: .milliseconds(500))
        #expect(harness.stepNames == ["detected", "held", "hookStarted", "released"], "\(harness.stepNames)")
        #expect(harness.read(Self.v2Directory + "/cgroup.freeze") == "0\n")
    }

    /// /app in distress with a 16M reserve, as `oomctl reserve` leaves it: memory.max 64M, memory.high 48M.
    static func v2TreeWithReserve() throws -> FixtureTree {
        let tree = Self.v2Tree()
        tree.v2Cgroup("/app", usage: 64 << 20, max: 64 << 20, high: 48 << 20)
        tree.file(Self.v2Directory + "/memory.stat", Self.distressStat)
        let system = try CgroupSystem(root: tree.root)
        let memory = try MemoryCgroup.open(cgroupPath("/app"), in: system)
        _ = try ReserveStore(system: system).write(ReserveRecord(size: "16M", bytes: ByteCount(16 << 20)), for: memory)
        return tree
    }

    @Test func aV2ReserveIsGrantedAsMemoryHighUpToMaxAndPutBack() throws {
        let tree = try Self.v2TreeWithReserve()
        let options = Self.options(hooks: [
            #"echo "$OOMCTL_RESERVE $(cat "$OOMCTL_CGROUP_PATH/memory.high")"; "# + Self.resolveV2
        ])
        let harness = try HandlerHarness(
            tree: tree, options: options,
            reserves: { system, loop in ReserveGrants(store: ReserveStore(system: system), guardian: nil, loop: loop) })
        harness.handler.handle(harness.event(.high, "/app"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.hooks.first?.output == "16777216 67108864\n", "memory.high at memory.max while handled")
        #expect(report.reserve == ByteCount(16 << 20))
        #expect(report.outcome == .resolvedByHook)
        #expect(harness.read(Self.v2Directory + "/memory.high") == "50331648\n", "max − reserve again")
        #expect(harness.stepNames.contains("reserveGranted") && harness.stepNames.contains("reserveRestored"))
    }

    /// --signal TERM --grace: a victim that ignores TERM gets SIGKILL after the grace only if the
    /// distress lasts.
    static func gracefulKill(resolvesDuringTheGrace: Bool) throws -> (HandlingReport, TestChild) {
        let child = try TestChild(["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"])
        let tree = FixtureTree.unifiedV2()
        tree.v2Cgroup("/app", usage: 64 << 20, max: 64 << 20, procs: [child.pid])
        tree.file(v2Directory + "/memory.stat", distressStat)
        tree.process(child.pid, name: "sh", residentKiB: 1024, cgroupLine: "0::/app")
        var options = Self.options(action: .kill(.init()))
        options.kill = KillOptions(signal: SIGTERM, grace: .milliseconds(300), timeout: .seconds(1))
        let harness = try HandlerHarness(tree: tree, options: options)
        harness.log.react = { step in
            if case .victimSignalled = step, resolvesDuringTheGrace { freeV2Memory(tree) }
            if case .killed = step { freeV2Memory(tree) }
        }
        usleep(100_000)  // the child's shell sets its trap
        harness.handler.handle(harness.event(.max, "/app"))
        let report = try #require(harness.runUntilFinished(bound: .seconds(4)).first)
        return (report, child)
    }

    /// v1, `--signal TERM --grace`: the OOM lasts through the grace but reads over for its last 20 ms (a
    /// woken task retrying its charge). Judged by one look at the grace's end, the victim that ignores
    /// TERM used to be spared and the kill reported a success over a live OOM; looked at through the
    /// grace, it has not settled, and SIGKILL follows.
    @Test func v1AGracefulKillIsNotSparedByAMomentOver() throws {
        let child = try TestChild(["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"])
        let tree = Self.v1Tree()
        tree.v1Cgroup("/job", usage: 64 << 20, limit: 64 << 20, procs: [child.pid], underOOM: true)
        tree.file(Self.v1Directory + "/memory.oom_control", oomControlText(disabled: true, underOOM: true))
        tree.process(child.pid, name: "sh", residentKiB: 1024, cgroupLine: "4:memory:/job")
        var options = Self.options(action: .kill(.init()))
        options.kill = KillOptions(signal: SIGTERM, grace: .milliseconds(300), timeout: .seconds(1))
        options.delay = .seconds(5)
        let harness = try HandlerHarness(tree: tree, options: options)
        let file = Self.v1Directory + "/memory.oom_control"
        harness.log.react = { step in
            if case .killed = step { tree.file(file, oomControlText(disabled: true, underOOM: false)) }
        }
        usleep(100_000)  // the child's shell sets its trap
        harness.handler.handle(harness.event(.oom, "/job"))
        harness.run(for: .milliseconds(280))
        tree.file(file, oomControlText(disabled: true, underOOM: false))  // woken, retrying its charge
        let report = try #require(harness.runUntilFinished(bound: .seconds(4)).first, "\(harness.stepNames)")
        #expect(report.outcome == .killed, "\(report.errors)")
        #expect(report.kill?.spared == [], "not spared: \(String(describing: report.kill))")
        #expect(child.waitForExit() == 128 + SIGKILL)
    }

    @Test func aGracefulKillStopsAtTermWhenTheDistressEndsInTheGrace() throws {
        let (report, child) = try Self.gracefulKill(resolvesDuringTheGrace: true)
        #expect(report.kill?.spared == [child.pid], "\(report.errors)")
        #expect(kill(child.pid, 0) == 0, "it outlived TERM and was not sent SIGKILL")
        kill(child.pid, SIGKILL)
        #expect(child.waitForExit() == 128 + SIGKILL)
    }

    @Test func aGracefulKillEndsInSigkillWhileTheDistressLasts() throws {
        let (report, child) = try Self.gracefulKill(resolvesDuringTheGrace: false)
        #expect(report.outcome == .killed, "\(report.errors)")
        #expect(report.kill?.spared == [])
        #expect(child.waitForExit() == 128 + SIGKILL)
    }

    @Test func aHookThatRaisesMemoryMaxDuringAV2GrantResolvesIt() throws {
        // While granted memory.high is at memory.max (64M); the hook gives the cgroup 256M. The verdict is
        // judged against what the restore will write (256M − 16M), not the 48M of before.
        let tree = try Self.v2TreeWithReserve()
        let options = Self.options(
            hooks: [#"printf '268435456\n' > "$OOMCTL_CGROUP_PATH/memory.max""#], action: .kill(.init()))
        let harness = try HandlerHarness(
            tree: tree, options: options,
            reserves: { system, loop in ReserveGrants(store: ReserveStore(system: system), guardian: nil, loop: loop) })
        harness.handler.handle(harness.event(.high, "/app"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .resolvedByHook, "\(harness.stepNames)")
        #expect(report.kill == nil)
        // (One write(2) over the fixture's old "67108864\n": the same length, so no newline is left.)
        #expect(harness.read(Self.v2Directory + "/memory.high") == "251658240", "256M − the 16M reserve")
    }

    @Test func aCgroupFrozenBySomeoneElseIsNeitherHeldNorThawed() throws {
        let tree = Self.v2Tree()
        tree.file(Self.v2Directory + "/cgroup.freeze", "1\n")  // docker pause, say
        var options = Self.options(hooks: ["exit 1"])
        options.hold = .freeze
        let harness = try HandlerHarness(tree: tree, options: options, holds: FreezeHolds(guardian: nil))
        harness.handler.handle(harness.event(.max, "/app"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(!report.held && !harness.stepNames.contains("held") && !harness.stepNames.contains("released"))
        #expect(harness.read(Self.v2Directory + "/cgroup.freeze") == "1\n", "their freeze stands")
    }

    // MARK: Reserve (v1)

    @Test func v1ReserveIsGrantedDuringTheHandlingAndRestoredAfter() throws {
        let tree = Self.v1Tree()
        let system = try CgroupSystem(root: tree.root)
        let memory = try MemoryCgroup.open(cgroupPath("/job"), in: system)
        _ = try ReserveStore(system: system).write(ReserveRecord(size: "16M", bytes: ByteCount(16 << 20)), for: memory)
        let limitFile = Self.v1Directory + "/memory.limit_in_bytes"
        let options = Self.options(hooks: [
            #"echo "$OOMCTL_RESERVE $(cat "$OOMCTL_CGROUP_PATH/memory.limit_in_bytes")"; "# + Self.resolveV1
                // Freed memory: at the original limit exactly the stalled charge would only OOM again.
                + #"; echo 62914560 > "$OOMCTL_CGROUP_PATH/memory.usage_in_bytes""#
        ])
        let harness = try HandlerHarness(tree: tree, options: options) { system, loop in
            ReserveGrants(store: ReserveStore(system: system), guardian: nil, loop: loop)
        }
        harness.handler.handle(harness.event(.oom, "/job"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .resolvedByHook)
        #expect(report.reserve == ByteCount(16 << 20))
        #expect(report.hooks.first?.output == "\(16 << 20) \(80 << 20)\n", "the hook ran on the raised limit")
        #expect(harness.read(limitFile) == "\(64 << 20)\n", "the original limit is back")
        #expect(
            harness.stepNames == [
                "detected", "reserveGranted", "hookStarted", "hookFinished", "reserveRestored", "finished",
            ])
        if case .reserveRestored(_, let grant, let problem) = harness.log.steps[4] {
            #expect(problem == nil && grant.originalLimit == ByteCount(64 << 20))
        }
    }

    /// The grant wakes the stalled tasks (under_oom 0) before their charge goes through: at the original
    /// limit exactly, nothing was freed, and taking the reserve back would only OOM again.
    @Test func aV1CgroupWokenByTheGrantAtItsOriginalLimitIsNotResolved() throws {
        let tree = Self.v1Tree()
        let system = try CgroupSystem(root: tree.root)
        let memory = try MemoryCgroup.open(cgroupPath("/job"), in: system)
        _ = try ReserveStore(system: system).write(ReserveRecord(size: "16M", bytes: ByteCount(16 << 20)), for: memory)
        var options = Self.options(hooks: [Self.resolveV1])
        options.delay = .milliseconds(300)
        let harness = try HandlerHarness(tree: tree, options: options) { system, loop in
            ReserveGrants(store: ReserveStore(system: system), guardian: nil, loop: loop)
        }
        harness.handler.handle(harness.event(.oom, "/job"))
        harness.run(for: .milliseconds(150))
        #expect(!harness.stepNames.contains("finished"), "still handling at 64M of 64M: \(harness.stepNames)")
        #expect(harness.read(Self.v1Directory + "/memory.limit_in_bytes") == "\(80 << 20)\n", "the reserve stays")
        harness.tree.file(Self.v1Directory + "/memory.usage_in_bytes", "\(60 << 20)\n")
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .resolved, "resolved once usage is below the original limit")
        #expect(harness.read(Self.v1Directory + "/memory.limit_in_bytes") == "\(64 << 20)\n")
    }
}
