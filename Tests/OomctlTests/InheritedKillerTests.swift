import Glibc
import OOMKit
import OOMTestSupport
import Testing

/// On v1 the kernel copies a parent's oom_kill_disable into a child at mkdir: a cgroup made below a
/// watched one after watch armed it is armed too. Such a child is handled (--recursive) or gets the kernel
/// killer back at once (without), and however watch ends none is left armed — unless another live watch
/// armed it.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct InheritedKillerTests {
    private func killerDisabled(_ test: TestCgroup, _ path: CgroupPath) throws -> Bool {
        try MemoryCgroup.open(path, in: test.system).oomControl().oomKillDisable
    }

    private func waitUntil(_ timeout: Duration = .seconds(3), _ condition: () throws -> Bool) rethrows -> Bool {
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < timeout {
            if try condition() { return true }
            usleep(5_000)
        }
        return try condition()
    }

    @Test func withoutRecursiveANewChildGetsTheKernelKillerBackAtOnce() throws {
        let test = try TestCgroup(limit: ByteCount(64 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch([test.path.description, "--json", "--no-self-protection"])
        let child = try test.makeChild("late", limit: ByteCount(32 << 20))
        let grandchild = try test.makeChild("late/deeper")
        #expect(try waitUntil { try !killerDisabled(test, child) && !killerDisabled(test, grandchild) })
        #expect(try killerDisabled(test, test.path), "the watched cgroup itself stays held")
        // An OOM in the child is the kernel's: it does not hang while watch runs.
        let hog = try test.spawnHog("100M", in: grandchild)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 128 + SIGKILL)
        #expect(watch.waitFor { $0.output.contains("inherited the disabled kernel OOM killer") }, "\(watch.output)")
        #expect(watch.stop() == 0)
    }

    @Test func withRecursiveEveryLevelOfAMkdirPIsWatched() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let watch = try RunningWatch(
            [test.path.description, "--recursive", "--kill", "triggering", "--json", "--no-self-protection"])
        var leaf = test.directory
        for name in ["a", "b", "c"] {
            leaf += "/" + name
            #expect(mkdir(leaf, 0o755) == 0)
        }
        let deepest = try test.makeChild("a/b/c", limit: ByteCount(32 << 20))
        #expect(
            watch.waitFor {
                $0.records.filter { $0["message"] == "watching new cgroup" }.count == 3
            }, "\(watch.output)")
        let hog = try test.spawnHog("100M", in: deepest)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 128 + SIGKILL)
        #expect(
            watch.waitFor {
                $0.records.contains { $0["cgroup"] == deepest.description && $0["outcome"] == "killed" }
            }, "watch handled the deepest level's OOM: \(watch.output)")
        #expect(watch.stop() == 0)
        #expect(try !killerDisabled(test, deepest))
    }

    /// A stopped watch cannot see new children; what ends it then must clear them: its SIGTERM handling,
    /// or, after SIGKILL, its guardian.
    @Test(arguments: [SIGTERM, SIGKILL])
    func childrenMadeWhileWatchCannotSeeThemGetTheKillerBack(signal: Int32) throws {
        let test = try TestCgroup(limit: ByteCount(64 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch([test.path.description, "--json", "--no-self-protection"])
        kill(watch.pid, SIGSTOP)
        let child = try test.makeChild("late", limit: ByteCount(32 << 20))
        let grandchild = try test.makeChild("late/deeper")
        // Another live watch's subtree (PID 1 stands for it) is its own.
        let other = try test.makeChild("theirs")
        try MemoryCgroup.open(other, in: test.system).cgroup.setExtendedAttribute(
            KillerDisabledMarker.attribute, KillerDisabledMarker(owner: MarkerOwner(pid: 1)).encoded)
        #expect(try killerDisabled(test, child) && killerDisabled(test, grandchild), "inherited at mkdir")
        kill(watch.pid, signal)
        kill(watch.pid, SIGCONT)
        watch.stop(signal: signal)
        #expect(try waitUntil { try !killerDisabled(test, grandchild) })
        #expect(try !killerDisabled(test, test.path))
        #expect(try !killerDisabled(test, child), "the child's killer is back")
        #expect(try !killerDisabled(test, grandchild), "and its child's")
        #expect(try killerDisabled(test, other), "another watch's cgroup is left to it")
        try test.write("memory.oom_control", "0", on: other)
        let hog = try test.spawnHog("100M", in: child)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 128 + SIGKILL)
    }
}
