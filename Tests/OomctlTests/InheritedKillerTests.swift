import Glibc
import OOMKit
import OOMTestSupport
import Testing

/// On v1 the kernel copies a parent's oom_kill_disable into a child at mkdir: a cgroup made below a
/// watched one after watch armed it is armed too, watched or not. However watch ends, no such child may be
/// left with the kernel killer disabled — unless another live watch armed it.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct InheritedKillerTests {
    private func killerDisabled(_ test: TestCgroup, _ path: CgroupPath) throws -> Bool {
        try MemoryCgroup.open(path, in: test.system).oomControl().oomKillDisable
    }

    @Test(arguments: [SIGTERM, SIGKILL])
    func childrenMadeWhileWatchedGetTheKillerBack(signal: Int32) throws {
        let test = try TestCgroup(limit: ByteCount(64 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch([test.path.description, "--json", "--no-self-protection"])
        #expect(try killerDisabled(test, test.path), "\(watch.output)")
        let child = try test.makeChild("late", limit: ByteCount(32 << 20))
        let grandchild = try test.makeChild("late/deeper")
        // Another live watch's subtree (PID 1 stands for it) is its own.
        let other = try test.makeChild("theirs")
        try MemoryCgroup.open(other, in: test.system).cgroup.setExtendedAttribute(
            KillerDisabledMarker.attribute, KillerDisabledMarker(pid: 1).encoded)
        #expect(try killerDisabled(test, child) && killerDisabled(test, grandchild), "inherited at mkdir")
        watch.stop(signal: signal)
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < .seconds(3), try killerDisabled(test, grandchild) { usleep(5_000) }
        #expect(try !killerDisabled(test, test.path))
        #expect(try !killerDisabled(test, child), "the child's killer is back")
        #expect(try !killerDisabled(test, grandchild), "and its child's")
        #expect(try killerDisabled(test, other), "another watch's cgroup is left to it")
        try test.write("memory.oom_control", "0", on: other)
        // An OOM in the child is the kernel's now: it does not hang.
        let hog = try test.spawnHog("100M", in: child)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 128 + SIGKILL)
    }
}
