import Glibc
import OOMTestSupport
import Testing

@testable import OOMKit

/// The cgroupfs layer on the machine's real memory hierarchy, in cgroups made below the test's own.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct RealCgroupTests {
    @Test func readsBackLimitUsageProcessesAndOOMState() throws {
        let test = try TestCgroup(limit: ByteCount(64 << 20))
        defer { test.destroy() }
        let sleeper = try test.spawn(["/bin/sleep", "30"])
        let system = try CgroupSystem()
        let memory = try MemoryCgroup.open(test.path, in: system)

        #expect(try memory.limit() == ByteCount(64 << 20))
        #expect(try memory.usage().bytes > 0)
        #expect(try memory.processIDs() == [sleeper])
        #expect(try system.memoryCgroupPath(ofProcess: sleeper) == test.path)
        #expect(try system.memoryCgroupPath(for: test.directory) == test.path)
        switch memory.version {
        case .v1:
            let control = try memory.oomControl()
            #expect(!control.underOOM && !control.oomKillDisable && control.oomKill == 0)
        case .v2:
            #expect(try memory.events().oomKill == 0)
        }
        let parent = try MemoryCgroup.open(#require(test.path.parent), in: system)
        #expect(try parent.children().map(\.path).contains(test.path))
    }

    @Test func seesARealOOMKill() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let hog = try test.spawnHog("200M")
        let status = ProcessRunner.wait(for: hog, timeout: .seconds(30))
        #expect(status == 128 + SIGKILL, "the kernel OOM killer should have killed the hog")
        let memory = try MemoryCgroup.open(test.path, in: CgroupSystem())
        switch memory.version {
        case .v1: #expect(try memory.oomControl().oomKill == 1)
        case .v2: #expect(try memory.events().oomKill >= 1)
        }
        #expect(try memory.processIDs().isEmpty)
    }

    @Test func disablingTheKillerStallsTheHogInOOM() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let memory = try MemoryCgroup.open(test.path, in: CgroupSystem())
        guard memory.version == .v1 else {
            try skip("needs cgroup v1 memory (memory.oom_control); this machine has v2")
            return
        }
        try memory.setOOMKillDisabled(true)
        let hog = try test.spawnHog("200M")
        var stalled = false
        for _ in 0..<500 where !stalled {
            stalled = try memory.oomControl().underOOM
            if !stalled { usleep(10_000) }
        }
        #expect(stalled, "under_oom should read 1 while the killer is disabled")
        #expect(ProcessRunner.wait(for: hog, timeout: .milliseconds(200)) == nil, "the hog should stall, not die")
        try memory.setOOMKillDisabled(false)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 128 + SIGKILL)
        #expect(try memory.oomControl() == OOMControl(oomKillDisable: false, underOOM: false, oomKill: 1))
    }

    @Test func priorityAndOomdAttributes() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let low = try test.makeChild("low")
        let memory = try MemoryCgroup.open(low, in: CgroupSystem())
        #expect(memory.priority() == nil)
        #expect(memory.oomdPreferences().isEmpty)

        try memory.cgroup.setExtendedAttribute("trusted.oomctl.priority", Array("7".utf8))
        #expect(memory.priority() == 7)
        try memory.cgroup.setExtendedAttribute("user.oomctl.priority", Array("-3\n".utf8))
        #expect(memory.priority() == -3, "user. takes precedence over trusted.")
        try memory.cgroup.setExtendedAttribute("user.oomd_avoid", Array("1".utf8))
        try memory.cgroup.setExtendedAttribute("trusted.oomd_omit", Array("1".utf8))
        #expect(memory.oomdPreferences() == OomdPreferences(avoid: true, prefer: false, omit: true))
        try memory.cgroup.removeExtendedAttribute("user.oomctl.priority")
        try memory.cgroup.removeExtendedAttribute("user.oomctl.priority")
        #expect(memory.priority() == 7)
    }

    @Test func namesWithShellCharactersWork() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let odd = try test.makeChild("we ird $x;`id`'\"")
        let sleeper = try test.spawn(["/bin/sleep", "30"], in: odd)
        let system = try CgroupSystem()
        #expect(try system.memoryCgroupPath(ofProcess: sleeper) == odd)
        #expect(try MemoryCgroup.open(odd, in: system).processIDs() == [sleeper])
    }

    @Test func aRemovedCgroupIsNoLongerAlive() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let child = try test.makeChild("gone")
        let handle = try MemoryCgroup.open(child, in: CgroupSystem())
        #expect(handle.cgroup.isAlive)
        #expect(rmdir(test.filesystemPath(child)) == 0)
        #expect(!handle.cgroup.isAlive)
    }
}
