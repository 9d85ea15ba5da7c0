import Glibc
import OOMTestSupport
import Testing

@testable import OOMKit

/// ``Killer/start(_:options:in:completion:)`` and ``KillOperation`` in a real event loop, on children
/// of this test only (no root needed). Cgroup targets use fixture cgroups whose cgroup.procs lists only
/// those children.
@Suite(.serialized) struct KillOperationTests {
    final class Completion {
        var result: Result<KillReport, KillError>?
        var calls = 0
    }

    /// Starts a kill and runs the loop until it completes (bounded). Checks that the completion did not
    /// come synchronously from `start`.
    static func kill(
        _ target: Killer.Target, options: KillOptions, system: CgroupSystem, bound: Duration = .seconds(2)
    ) throws -> (Result<KillReport, KillError>, Duration) {
        let loop = try EventLoop()
        let done = Completion()
        let clock = ContinuousClock()
        let start = clock.now
        let operation = try Killer(system: system).start(target, options: options, in: loop) {
            done.result = $0
            done.calls += 1
        }
        #expect(done.calls == 0, "the completion comes from the loop, never from inside start")
        #expect(!operation.isDone)
        let end = clock.now + bound
        while done.result == nil && clock.now < end { loop.runOnce(timeout: .milliseconds(50)) }
        let elapsed = clock.now - start
        // Nothing more arrives afterwards.
        loop.runOnce(timeout: .milliseconds(20))
        #expect(done.calls == 1)
        #expect(operation.isDone)
        #expect(loop.count == 0, "the operation left nothing registered in the loop")
        return (try #require(done.result), elapsed)
    }

    static func fixtureSystem() throws -> (FixtureTree, CgroupSystem) {
        let tree = FixtureTree.unifiedV2()
        return (tree, try CgroupSystem(root: tree.root))
    }

    @Test func killsAProcessFromTheLoop() throws {
        let (_, system) = try Self.fixtureSystem()
        let child = try TestChild(["/bin/sleep", "30"])
        let (result, _) = try Self.kill(.process(child.pid), options: KillOptions(timeout: .seconds(1)), system: system)
        let report = try result.get()
        #expect(report.pid == child.pid && report.signalledPIDs == [child.pid] && report.method == .pidfd)
        #expect(report.rounds == 1 && report.survivors.isEmpty)
        #expect(report.cgroup == nil, "the fixture's /proc does not know the child")
        #expect(child.waitForExit() == 128 + SIGKILL)
    }

    @Test func termThenKillAfterTheGraceWhenTermIsIgnored() throws {
        let (_, system) = try Self.fixtureSystem()
        let stubborn = try TestChild(["/bin/sh", "-c", "trap '' TERM; exec /bin/sleep 30"])
        stubborn.waitForExec("sleep")  // the trap is set before the exec
        let (result, elapsed) = try Self.kill(
            .process(stubborn.pid),
            options: KillOptions(signal: SIGTERM, grace: .milliseconds(250), timeout: .seconds(1)),
            system: system)
        #expect(try result.get().signalledPIDs == [stubborn.pid])
        #expect(elapsed >= .milliseconds(250), "SIGKILL only after the grace")
        #expect(elapsed < .milliseconds(1500))
        #expect(stubborn.waitForExit() == 128 + SIGKILL)
    }

    @Test func aProcessThatHonoursTermEndsBeforeTheGrace() throws {
        let (_, system) = try Self.fixtureSystem()
        let polite = try TestChild(["/bin/sleep", "30"])
        let (result, elapsed) = try Self.kill(
            .process(polite.pid),
            options: KillOptions(signal: SIGTERM, grace: .milliseconds(1500), timeout: .seconds(1)),
            system: system, bound: .seconds(3))
        #expect((try? result.get()) != nil)
        #expect(elapsed < .milliseconds(1000), "no wait for the grace once it exited")
        #expect(polite.waitForExit() == 128 + SIGTERM)
    }

    @Test func refusalsAndMissingProcessesThrowFromStart() throws {
        let (_, system) = try Self.fixtureSystem()
        let loop = try EventLoop()
        let killer = Killer(system: system)
        var called = false
        for pid in [Int32(1), getpid()] {
            #expect {
                try killer.start(.process(pid), in: loop) { _ in called = true }
            } throws: { error in
                guard case .refused = error as? KillError else { return false }
                return true
            }
        }
        let gone = try deadPID()
        #expect {
            try killer.start(.process(gone), in: loop) { _ in called = true }
        } throws: { error in
            (error as? KillError)?.kind == .notFound
        }
        loop.runOnce(timeout: .milliseconds(20))
        #expect(!called)
        #expect(loop.count == 0)
    }

    @Test func cancelStopsWaitingWithoutACompletion() throws {
        let (_, system) = try Self.fixtureSystem()
        let stubborn = try TestChild(["/bin/sh", "-c", "trap '' TERM; exec /bin/sleep 30"])
        stubborn.waitForExec("sleep")
        let loop = try EventLoop()
        var called = false
        let operation = try Killer(system: system).start(
            .process(stubborn.pid), options: KillOptions(signal: SIGTERM, grace: .milliseconds(100)), in: loop
        ) { _ in called = true }
        operation.cancel()
        #expect(operation.isDone && loop.count == 0)
        let clock = ContinuousClock()
        let end = clock.now + .milliseconds(300)
        while clock.now < end { loop.runOnce(timeout: .milliseconds(50)) }
        #expect(!called)
        #expect(stubborn.isRunning, "no SIGKILL after a cancel")
    }

    @Test func killsEveryProcessOfAFixtureV1CgroupByThePidfdLoop() throws {
        let tree = FixtureTree.hybridV1()
        let first = try TestChild(["/bin/sleep", "30"])
        let second = try TestChild(["/bin/sleep", "30"])
        tree.v1Cgroup("/job", usage: 8 << 20, limit: 64 << 20, procs: [first.pid, second.pid])
        let system = try CgroupSystem(root: tree.root)
        let memory = try MemoryCgroup.open(cgroupPath("/job"), in: system)
        let (result, _) = try Self.kill(.cgroup(memory), options: KillOptions(timeout: .seconds(1)), system: system)
        let report = try result.get()
        #expect(report.method == .pidfdLoop && report.cgroup == cgroupPath("/job"))
        #expect(report.signalledPIDs == [first.pid, second.pid].sorted())
        #expect(report.usageBefore == ByteCount(8 << 20))
        #expect(first.waitForExit() == 128 + SIGKILL && second.waitForExit() == 128 + SIGKILL)
    }

    /// A v2 fixture with a cgroup.kill file: the write goes to a plain file and kills nothing, so the
    /// children outlive the timeout — the survivors branch, without a process stuck in the kernel.
    @Test func survivorsPastTheTimeoutAreReported() throws {
        let tree = FixtureTree.unifiedV2()
        let child = try TestChild(["/bin/sleep", "30"])
        tree.v2Cgroup("/app", usage: 8 << 20, max: 64 << 20, procs: [child.pid])
        tree.file("sys/fs/cgroup/app/cgroup.kill", "")
        let system = try CgroupSystem(root: tree.root)
        let memory = try MemoryCgroup.open(cgroupPath("/app"), in: system)
        let (result, elapsed) = try Self.kill(
            .cgroup(memory), options: KillOptions(timeout: .milliseconds(200)), system: system)
        #expect(elapsed >= .milliseconds(200))
        #expect(ProcessRunner.readText(tree.root + "/sys/fs/cgroup/app/cgroup.kill") == "1")
        switch result {
        case .success(let report): Issue.record("expected survivors, got \(report)")
        case .failure(let error):
            guard case .survivors(let pids, let after) = error else {
                Issue.record("expected survivors, got \(error)")
                return
            }
            #expect(pids == [child.pid] && after == .milliseconds(200))
            #expect(error.description.contains("still alive"))
        }
        #expect(child.isRunning)
    }

    @Test func aCgroupWithNothingInItCompletesFromTheLoop() throws {
        let tree = FixtureTree.hybridV1()
        tree.v1Cgroup("/empty", usage: 0, limit: 64 << 20)
        let system = try CgroupSystem(root: tree.root)
        let memory = try MemoryCgroup.open(cgroupPath("/empty"), in: system)
        let (result, _) = try Self.kill(.cgroup(memory), options: KillOptions(timeout: .seconds(1)), system: system)
        let report = try result.get()
        #expect(report.signalledPIDs.isEmpty && report.survivors.isEmpty)
    }

    @Test func theRootCgroupIsRefused() throws {
        let tree = FixtureTree.hybridV1()
        let system = try CgroupSystem(root: tree.root)
        let root = try MemoryCgroup.open(.root, in: system)
        #expect(throws: KillError.self) {
            try Killer(system: system).start(.cgroup(root), in: try EventLoop()) { _ in }
        }
    }
}
