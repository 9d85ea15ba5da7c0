import Glibc
import OOMTestSupport
import Testing

@testable import OOMKit

/// The panic action (PanicAction.swift) in the pipeline, on fixture cgroups, its SysRq command written
/// to a stand-in file in the fixture: never to /proc/sysrq-trigger.
@Suite(.serialized) struct PanicActionTests {
    /// A fixture with the system files a snapshot reads, a snapshot directory and a stand-in trigger.
    struct Setup {
        let tree: FixtureTree
        let snapshots: String
        let triggerPath: String
        let options: HandlingOptions

        init(_ tree: FixtureTree, mode: PanicMode = .crash, dryRun: Bool = false, rehearsal: Bool = false) throws {
            tree.addCapturedSystemFiles()
            tree.directory("snapshots")
            self.tree = tree
            snapshots = tree.root + "/snapshots"
            triggerPath = tree.root + "/sysrq-trigger-stand-in"
            let trigger = rehearsal ? SysrqTrigger.rehearsal() : try SysrqTrigger.standIn(triggerPath)
            var options = HandlerTests.options(action: .panic(PanicOptions(mode: mode, trigger: trigger)))
            options.snapshotDirectory = snapshots
            options.delay = .milliseconds(200)
            options.dryRun = dryRun
            self.options = options
        }

        var written: String { ProcessRunner.readText(triggerPath) }
    }

    /// What was on disk and in the trigger when the panic was announced.
    struct AtAnnouncement {
        var report: PanicReport
        var snapshotSize: Int?
        var triggerContent: String
    }

    /// Records, at the `panicking` step, the snapshot's size on disk and the trigger's content; at a v1
    /// fallback, acts as the kernel killer would (the OOM ends), since a stand-in crashes nothing.
    static func recordAnnouncement(in harness: HandlerHarness, trigger: String) -> () -> AtAnnouncement? {
        final class Box { var seen: AtAnnouncement? }
        let box = Box()
        let tree = harness.tree
        harness.log.react = { step in
            if case .fellBack = step {
                tree.file(
                    HandlerTests.v1Directory + "/memory.oom_control",
                    oomControlText(disabled: false, underOOM: false, kills: 1))
            }
            guard case .panicking(_, _, let report) = step else { return }
            var info = stat()
            let size = report.snapshotPath.flatMap { stat($0, &info) == 0 ? Int(info.st_size) : nil }
            box.seen = AtAnnouncement(
                report: report, snapshotSize: size, triggerContent: ProcessRunner.readText(trigger))
        }
        return { box.seen }
    }

    @Test func anUnresolvedV1OOMPanicsOnlyOnceItsSnapshotIsOnDiskAndAnnounced() throws {
        let setup = try Setup(HandlerTests.v1Tree())
        let harness = try HandlerHarness(tree: setup.tree, options: setup.options)
        let announced = Self.recordAnnouncement(in: harness, trigger: setup.triggerPath)
        harness.handler.handle(harness.event(.oom, "/job"))
        #expect(setup.written == "c", "the crash command, written during the action step")
        let seen = try #require(announced())
        #expect(seen.triggerContent == "", "nothing was written when the panic was announced")
        let path = try #require(seen.report.snapshotPath)
        #expect(path.hasPrefix(setup.snapshots + "/oomctl-1-job-"))
        #expect(seen.snapshotSize.map(UInt64.init) == seen.report.snapshotBytes, "the announced size is on disk")
        #expect(seen.report.snapshotSynced && seen.report.snapshotProblem == nil)
        #expect(seen.report.mode == .crash && seen.report.triggerKind == .standIn && !seen.report.dryRun)
        #expect(seen.report.trigger == setup.triggerPath && seen.report.event == .oom)
        // The stand-in took the command and this process lives on: the deadline hands the OOM to the kernel.
        let report = try #require(harness.runUntilFinished().first)
        #expect(harness.stepNames == ["detected", "snapshot", "panicking", "fellBack", "finished"])
        #expect(report.outcome == .panicTriggered)
        #expect(report.panic?.snapshotPath == path)
        #expect(report.decision == nil && report.kill == nil, "nothing was decided or killed")
    }

    @Test func rebootWritesB() throws {
        let setup = try Setup(HandlerTests.v1Tree(), mode: .reboot)
        let harness = try HandlerHarness(tree: setup.tree, options: setup.options)
        harness.handler.handle(harness.event(.oom, "/job"))
        #expect(setup.written == "b")
    }

    @Test func aDryRunAnnouncesWhatItWouldDoAndWritesNothing() throws {
        let setup = try Setup(HandlerTests.v1Tree(), dryRun: true)
        let harness = try HandlerHarness(tree: setup.tree, options: setup.options)
        let announced = Self.recordAnnouncement(in: harness, trigger: setup.triggerPath)
        harness.handler.handle(harness.event(.oom, "/job"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .dryRun)
        #expect(try #require(announced()).report.dryRun)
        harness.run(for: .milliseconds(300))
        #expect(setup.written == "", "a dry run never writes the trigger")
        #expect(!harness.stepNames.contains("fellBack"), "nor touches the kernel killer")
    }

    @Test func aRehearsalRunsUpToTheTriggerAndWritesNothing() throws {
        let setup = try Setup(HandlerTests.v1Tree(), rehearsal: true)
        let harness = try HandlerHarness(tree: setup.tree, options: setup.options)
        _ = Self.recordAnnouncement(in: harness, trigger: setup.triggerPath)
        harness.handler.handle(harness.event(.oom, "/job"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .panicRehearsed)
        #expect(report.panic?.triggerKind == .rehearsal && report.panic?.trigger == "/proc/sysrq-trigger")
        #expect(report.panic?.snapshotSynced == true)
        #expect(access(setup.triggerPath, F_OK) != 0, "no stand-in was even made")
    }

    /// v2 `high` and `max` are wake-ups, never verdicts; after `oom-kill` the kernel has acted already.
    @Test(arguments: [OOMEvent.Kind.high, .max, .oomKill])
    func v2WakeUpsAndKernelKillsNeverPanic(kind: OOMEvent.Kind) throws {
        let setup = try Setup(HandlerTests.v2Tree())
        let harness = try HandlerHarness(tree: setup.tree, options: setup.options)
        harness.handler.handle(harness.event(kind, "/app"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(!harness.stepNames.contains("panicking"))
        #expect(report.outcome == .reported && report.panic == nil)
        #expect(setup.written == "")
    }

    @Test func aV2OOMStillAtTheLimitPanics() throws {
        let setup = try Setup(HandlerTests.v2Tree())
        let harness = try HandlerHarness(tree: setup.tree, options: setup.options)
        harness.handler.handle(harness.event(.oom, "/app"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .panicTriggered)
        #expect(setup.written == "c")
    }

    @Test func aV1OOMResolvedByAHookTakesNothingDown() throws {
        var setup = try Setup(HandlerTests.v1Tree())
        var options = setup.options
        options.hooks = [HandlerTests.resolveV1]
        setup = Setup(copying: setup, options: options)
        let harness = try HandlerHarness(tree: setup.tree, options: setup.options)
        harness.handler.handle(harness.event(.oom, "/job"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.outcome == .resolvedByHook)
        #expect(setup.written == "")
    }

    /// Without a snapshot the panic still happens (the operator chose it over a hanging OOM) and says so.
    @Test func withoutASnapshotTheAnnouncementSaysSo() throws {
        var setup = try Setup(HandlerTests.v1Tree())
        var options = setup.options
        options.snapshotDirectory = nil
        setup = Setup(copying: setup, options: options)
        let harness = try HandlerHarness(tree: setup.tree, options: setup.options)
        _ = Self.recordAnnouncement(in: harness, trigger: setup.triggerPath)
        harness.handler.handle(harness.event(.oom, "/job"))
        let report = try #require(harness.runUntilFinished().first)
        #expect(report.panic?.snapshotPath == nil && report.panic?.snapshotSynced == false)
        #expect(report.panic?.snapshotProblem == "no snapshot was written for this event")
        #expect(setup.written == "c")
    }
}

extension PanicActionTests.Setup {
    init(copying other: Self, options: HandlingOptions) {
        self.tree = other.tree
        self.snapshots = other.snapshots
        self.triggerPath = other.triggerPath
        self.options = options
    }
}
