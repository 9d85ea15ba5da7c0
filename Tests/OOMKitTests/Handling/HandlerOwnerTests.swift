import Glibc
import OOMTestSupport
import Testing

@testable import OOMKit

/// v1: a notification of an ancestor's OOM is handled there, once (``OOMOwner``), on fixture cgroups.
@Suite(.serialized) struct HandlerOwnerTests {
    /// /job at its 64M limit and in OOM; /job/chill (no limit, 24M) and /job/capped (a 64M limit of its
    /// own, 8M used) marked under_oom with it, as the kernel marks every memcg below the one in OOM.
    static func tree() -> FixtureTree {
        let tree = FixtureTree.hybridV1()
        tree.v1Cgroup("/job", usage: 64 << 20, limit: 64 << 20, underOOM: true)
        tree.v1Cgroup("/job/chill", usage: 24 << 20, limit: nil, underOOM: true)
        tree.v1Cgroup("/job/capped", usage: 8 << 20, limit: 64 << 20, underOOM: true)
        return tree
    }

    static func options() -> HandlingOptions {
        var options = HandlingOptions()
        options.delay = .milliseconds(100)
        return options
    }

    @Test func aChildsNotificationIsTheParentsOOMHandledOnceThere() throws {
        let harness = try HandlerHarness(tree: Self.tree(), options: Self.options())
        harness.handler.handlesOOMs = { $0 == cgroupPath("/job") || $0.isDescendant(of: cgroupPath("/job")) }
        harness.handler.handle(harness.event(.oom, "/job"))
        harness.handler.handle(harness.event(.oom, "/job/chill"))
        harness.handler.handle(harness.event(.oom, "/job/capped"))
        #expect(
            harness.stepNames == ["detected", "notifiedOfOtherOOM", "coalesced", "notifiedOfOtherOOM", "coalesced"])
        guard case .detected(let report) = harness.log.steps[0] else { return }
        #expect(report.cgroup == cgroupPath("/job"))
        if case .notifiedOfOtherOOM(let cgroup, let owner, let handledThere) = harness.log.steps[1] {
            #expect(cgroup == cgroupPath("/job/chill") && owner == cgroupPath("/job") && handledThere)
        }
        // The first notification read may be a child's: the handling starts in the parent all the same.
        let second = try HandlerHarness(tree: Self.tree(), options: Self.options())
        second.handler.handlesOOMs = { _ in true }
        second.handler.handle(second.event(.oom, "/job/chill"))
        #expect(second.stepNames == ["notifiedOfOtherOOM", "detected"])
        if case .detected(let report) = second.log.steps.last { #expect(report.cgroup == cgroupPath("/job")) }
    }

    @Test func anOwnerThisHandlerDoesNotHandleIsLeftAlone() throws {
        let harness = try HandlerHarness(tree: Self.tree(), options: Self.options())
        harness.handler.handle(harness.event(.oom, "/job/chill"))
        #expect(harness.stepNames == ["notifiedOfOtherOOM"], "not watched here: nothing handled in chill")
        if case .notifiedOfOtherOOM(_, let owner, let handledThere) = harness.log.steps[0] {
            #expect(owner == cgroupPath("/job") && !handledThere)
        }
    }

    /// The parent's OOM over (its marks cleared first, as the kernel unmarks top-down): chill has no limit
    /// of its own, so there is nothing to handle; capped has one, far from it, and is handled without the
    /// fallback to killing itself.
    @Test func aCgroupAtNoLimitOfItsOwnIsNeverHandledNorKilledAsIfItWere() throws {
        let tree = Self.tree()
        tree.file(
            "sys/fs/cgroup/memory/job/memory.oom_control", oomControlText(disabled: true, underOOM: false))
        var options = Self.options()
        options.action = .kill(PolicyOptions())
        let harness = try HandlerHarness(tree: tree, options: options)
        harness.handler.handlesOOMs = { _ in true }
        harness.log.react = { step in
            // The deadline hands the OOM to the kernel, which ends it.
            guard case .fellBack = step else { return }
            tree.file(
                "sys/fs/cgroup/memory/job/capped/memory.oom_control", oomControlText(disabled: false, underOOM: false))
        }
        harness.handler.handle(harness.event(.oom, "/job/chill"))
        #expect(harness.stepNames == ["notifiedOfOtherOOM"])
        if case .notifiedOfOtherOOM(_, let owner, _) = harness.log.steps[0] { #expect(owner == nil) }
        harness.handler.handle(harness.event(.oom, "/job/capped"))
        let report = try #require(harness.runUntilFinished(bound: .seconds(3)).first)
        #expect(report.cgroup == cgroupPath("/job/capped"))
        #expect(report.kill == nil && report.fellBack, "not killed itself: the deadline hands it to the kernel")
        let failure = report.errors.joined(separator: " | ")
        #expect(failure.contains("was not at a limit of its own when notified"), "\(failure)")
    }
}
