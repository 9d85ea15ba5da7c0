import Glibc
import OOMTestSupport
import Testing

@testable import OOMKit

/// Kill mechanics on real memory cgroups made below the test's own.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct KillerTests {
    /// A shell that forks a short-lived child in a loop forever: the case the pidfd loop exists for.
    static let forkLoop = ["/bin/sh", "-c", "while :; do /bin/sleep 30 & sleep 0.01; done"]

    @Test func killsEveryProcessIncludingForkingOnes() throws {
        let test = try TestCgroup(limit: ByteCount(256 << 20))
        defer { test.destroy() }
        let child = try test.makeChild("inner")
        let started = [
            try test.spawnHog("8M"), try test.spawnHog("8M", in: child), try test.spawn(Self.forkLoop),
            try test.spawn(Self.forkLoop, in: child),
        ]
        usleep(300_000)
        let system = try CgroupSystem()
        let memory = try MemoryCgroup.open(test.path, in: system)
        #expect(try Killer.subtreeProcessIDs(memory).count >= 6, "the fork loops have children")

        let report = try Killer(system: system).kill(memory)
        #expect(try Killer.subtreeProcessIDs(memory).isEmpty, "the cgroup is empty after the kill")
        #expect(Set(started).isSubset(of: report.signalledPIDs), "every process started was signalled")
        #expect(report.method == (memory.version == .v1 ? .pidfdLoop : .cgroupKill))
        #expect(report.survivors.isEmpty)
        let freed = try #require(report.freed)
        #expect(freed.bytes >= 12 << 20, "two 8M hogs were freed, got \(freed)")
    }

    @Test func killsOneProcessByPidfd() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let victim = try test.spawn(["/bin/sleep", "30"])
        let bystander = try test.spawn(["/bin/sleep", "30"])
        let report = try Killer(system: CgroupSystem()).kill(pid: victim)
        #expect(report.signalledPIDs == [victim] && report.method == .pidfd)
        #expect(report.cgroup == test.path)
        #expect(ProcessRunner.wait(for: victim, timeout: .seconds(5)) == 128 + SIGKILL)
        #expect(kill(bystander, 0) == 0, "the other process is untouched")
    }

    @Test func termFirstThenKillAfterGrace() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let stubborn = try test.spawn(["/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"])
        let polite = try test.spawn(["/bin/sleep", "30"])
        let memory = try MemoryCgroup.open(test.path, in: CgroupSystem())
        let clock = ContinuousClock()
        let start = clock.now
        _ = try Killer(system: CgroupSystem()).kill(
            memory, options: KillOptions(signal: SIGTERM, grace: .milliseconds(300)))
        #expect(clock.now - start >= .milliseconds(300), "waited for the grace period")
        #expect(ProcessRunner.wait(for: polite, timeout: .seconds(5)) == 128 + SIGTERM)
        #expect(ProcessRunner.wait(for: stubborn, timeout: .seconds(5)) == 128 + SIGKILL)
    }

    @Test func aProcessThatExitedIsReportedNotHit() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let gone = try test.spawn(["/bin/true"])
        _ = ProcessRunner.wait(for: gone)
        let bystander = try test.spawn(["/bin/sleep", "30"])
        #expect {
            try Killer(system: CgroupSystem()).kill(pid: gone)
        } throws: { error in
            (error as? KillError)?.kind == .notFound && "\(error)".contains("no such process: \(gone)")
        }
        #expect(kill(bystander, 0) == 0)
    }

    @Test func refusesTheRootInitAndItself() throws {
        let system = try CgroupSystem()
        let killer = Killer(system: system)
        #expect(throws: KillError.self) { try killer.kill(MemoryCgroup.open(.root, in: system)) }
        #expect {
            try killer.kill(pid: 1)
        } throws: { "\($0)".contains("PID 1 is init") }
        #expect {
            try killer.kill(pid: getpid())
        } throws: { "\($0)".contains("oomctl itself") }
        let own = try system.memoryCgroupPath(ofProcess: getpid())
        #expect {
            try killer.kill(MemoryCgroup.open(own, in: system))
        } throws: { "\($0)".contains("contains oomctl itself") }
        if let parent = own.parent, !parent.isRoot {
            #expect(throws: KillError.self) { try killer.kill(MemoryCgroup.open(parent, in: system)) }
        }
    }

    @Test func anEmptyCgroupIsANoOp() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let report = try Killer(system: CgroupSystem()).kill(MemoryCgroup.open(test.path, in: CgroupSystem()))
        #expect(report.signalledPIDs.isEmpty && report.survivors.isEmpty)
    }
}
