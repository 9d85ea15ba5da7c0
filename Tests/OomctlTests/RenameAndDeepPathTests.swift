import Glibc
import OOMKit
import OOMTestSupport
import Testing

/// Issue 13, item 4: a watched cgroup that is renamed (v1 allows `mv`), or whose path is longer than
/// PATH_MAX, is handled and restored all the same, by watch and by its guardian: both work through the
/// open directory, never by the path again. On real v1 memcgs below the test's own.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct RenameAndDeepPathTests {
    static func memory(_ path: CgroupPath) throws -> MemoryCgroup { try MemoryCgroup.open(path, in: CgroupSystem()) }

    /// `mv` of a child of the test cgroup.
    static func rename(in test: TestCgroup, _ from: String, to: String) -> Bool {
        LosslessText.withCString(test.directory + "/" + from) { old in
            LosslessText.withCString(test.directory + "/" + to) { Glibc.rename(old, $0) }
        } == 0
    }

    /// Renamed while armed, then watch is SIGKILLed: the guardian re-enables the kernel killer on the
    /// cgroup under its new name (it restored nothing when it went by the path), and an OOM there is
    /// the kernel's to resolve, not a hang.
    @Test func theGuardianRestoresARenamedCgroup() throws {
        var times: [Duration] = []
        for trial in 0..<5 {
            let test = try TestCgroup()
            defer { test.destroy() }
            let watched = try test.makeChild("watched", limit: ByteCount(32 << 20))
            let watch = try RunningWatch([watched.description, "--delay", "30s", "--no-self-protection"])
            #expect(try Self.memory(watched).oomControl().oomKillDisable, "armed: \(watch.output)")
            #expect(Self.rename(in: test, "watched", to: "moved"))
            let moved = test.path.appending("moved")
            watch.stop(signal: SIGKILL)
            let back = try GuardianHardeningTests.time(.seconds(3)) {
                try !Self.memory(moved).oomControl().oomKillDisable
            }
            #expect(back != nil, "trial \(trial): the kernel killer is back on the renamed cgroup")
            if let back { times.append(back) }
            let marker = try Self.memory(moved).cgroup.extendedAttribute("trusted.oomctl.killer_disabled_by")
            #expect(marker == nil, "trial \(trial): the guardian removed watch's marker with the flag")
            let hog = try test.spawnHog("100M", in: moved)
            #expect(ProcessRunner.wait(for: hog, timeout: .seconds(5)) == 128 + SIGKILL, "the kernel killed the hog")
        }
        print("renamed, then watch SIGKILLed: killer back in \(times) (5 trials)")
    }

    /// Renamed while watch runs: an OOM there is handled through watch's open directory (the deadline
    /// hands it to the kernel), and watch's own exit re-enables the killer under the new name.
    @Test func watchHandlesAnOOMInARenamedCgroup() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let watched = try test.makeChild("watched", limit: ByteCount(32 << 20))
        let watch = try RunningWatch([watched.description, "--delay", "500ms", "--no-self-protection"])
        #expect(Self.rename(in: test, "watched", to: "moved"))
        let moved = test.path.appending("moved")
        let hog = try test.spawnHog("100M", in: moved)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 128 + SIGKILL, "\(watch.output)")
        #expect(watch.output.contains("oom in"), "the OOM was seen and handled: \(watch.output)")
        let rearmed = try GuardianHardeningTests.time(.seconds(3)) {
            try Self.memory(moved).oomControl().oomKillDisable
        }
        #expect(rearmed != nil, "armed again once the OOM is over")
        #expect(watch.stop() == 0)
        #expect(try !Self.memory(moved).oomControl().oomKillDisable, "restored under the new name")
    }

    /// Renamed, then an OOM with a kill asked for: watch decides and kills through its open directory
    /// (it decided by the old path and failed, and the OOM waited for the whole --delay).
    @Test func watchKillsInARenamedCgroup() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let watched = try test.makeChild("watched", limit: ByteCount(32 << 20))
        let watch = try RunningWatch([
            watched.description, "--kill", "largest", "--delay", "60s", "--json", "--no-self-protection",
        ])
        #expect(Self.rename(in: test, "watched", to: "moved"))
        let hog = try test.spawnHog("100M", in: test.path.appending("moved"))
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(5)) == 128 + SIGKILL, "\(watch.output)")
        #expect(watch.waitFor(.seconds(5)) { $0.records.contains { $0["outcome"] == "killed" } }, "\(watch.output)")
        #expect(watch.stop() == 0)
    }

    /// Renamed, then an OOM with a process kill asked for: the victim's cgroup is checked where it is now
    /// (through the same directory), so the kill is made — it was refused as "no longer in" the old path.
    @Test func watchKillsAProcessInARenamedCgroup() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let watched = try test.makeChild("watched", limit: ByteCount(32 << 20))
        let watch = try RunningWatch([
            watched.description, "--kill", "largest", "--process", "--delay", "60s", "--json", "--no-self-protection",
        ])
        #expect(Self.rename(in: test, "watched", to: "moved"))
        let hog = try test.spawnHog("100M", in: test.path.appending("moved"))
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(5)) == 128 + SIGKILL, "\(watch.output)")
        #expect(watch.waitFor(.seconds(5)) { $0.records.contains { $0["outcome"] == "killed" } }, "\(watch.output)")
        #expect(!watch.output.contains("no longer in"), "\(watch.output)")
        #expect(watch.stop() == 0)
    }

    /// A kill that cannot be made (here: nothing may be picked, the cgroup is protected) hands the OOM to
    /// the kernel at once, not at the end of --delay.
    @Test func aKillThatCannotBeMadeHandsTheOOMBackAtOnce() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let watched = try test.makeChild("watched", limit: ByteCount(32 << 20))
        let watch = try RunningWatch([
            watched.description, "--kill", "largest", "--process", "--protect-cgroup", watched.description,
            "--delay", "60s", "--json", "--no-self-protection",
        ])
        let clock = ContinuousClock()
        let start = clock.now
        let hog = try test.spawnHog("100M", in: watched)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 128 + SIGKILL, "\(watch.output)")
        #expect(clock.now - start < .seconds(5), "handed back at once, not after 60 s")
        #expect(watch.waitFor(.seconds(5)) { $0.records.contains { $0["outcome"] != nil } }, "\(watch.output)")
        #expect(watch.stop() == 0)
    }

    /// Renamed during a reserve grant, then watch is SIGKILLed: the guardian writes the original limit
    /// back through the directory.
    @Test func theGuardianRestoresARenamedCgroupsLimit() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let watched = try test.makeChild("watched", limit: ByteCount(32 << 20))
        #expect(ProcessRunner.oomctl(["reserve", watched.description, "16M", "-q"]).status == 0)
        let watch = try RunningWatch(
            [watched.description, "--hook", "sleep 5", "--delay", "10s", "--json", "--no-self-protection"])
        let hog = try test.spawnHog("40M", extra: ["--hold", "500ms"], in: watched)
        #expect(
            watch.waitFor { $0.records.contains { $0["messageID"] == MessageID.reserveGranted.rawValue } },
            "\(watch.output)")
        #expect(try Self.memory(watched).limit() == ByteCount(48 << 20))
        #expect(Self.rename(in: test, "watched", to: "moved"))
        let moved = test.path.appending("moved")
        watch.stop(signal: SIGKILL)
        let back = try GuardianHardeningTests.time(.seconds(3)) {
            try Self.memory(moved).limit() == ByteCount(32 << 20)
        }
        #expect(back != nil, "the guardian wrote the original limit back under the new name")
        let marker = try Self.memory(moved).cgroup.extendedAttribute("trusted.oomctl.reserve_granted")
        #expect(marker == nil, "and removed the grant's marker")
        #expect(try !Self.memory(moved).oomControl().oomKillDisable)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(5)) == 0, "the hog completed on the reserve")
    }

    /// A cgroup whose path is longer than PATH_MAX (4,096 bytes), made and removed one component at a
    /// time: watch handles its OOM, and the guardian restores its killer when watch is SIGKILLed (its
    /// open by path failed with ENAMETOOLONG).
    @Test func aPathLongerThanPathMaxIsHandledAndRestored() throws {
        let test = try TestCgroup()
        let root = try Cgroup.open(test.path, in: test.hierarchy)
        let component = String(repeating: "d", count: 200)
        var chain = [root]
        for _ in 0..<22 { chain.append(try chain[chain.count - 1].makeChild(named: component)) }
        defer {
            for index in stride(from: chain.count - 1, to: 0, by: -1) {
                for pid in Cgroup.parseProcessList((try? chain[index].read("cgroup.procs")) ?? "") {
                    kill(pid, SIGKILL)
                }
                try? chain[index - 1].removeChild(named: component)
            }
            test.destroy()
        }
        let deep = try #require(chain.last)
        #expect(deep.filesystemPath.utf8.count > Int(PATH_MAX))
        try MemoryCgroup(deep).cgroup.write("memory.limit_in_bytes", String(32 << 20))
        let watch = try RunningWatch([deep.path.description, "--delay", "500ms", "--no-self-protection"])
        #expect(try MemoryCgroup(deep).oomControl().oomKillDisable, "armed: \(watch.output)")

        // No shell can `cd` there (it resolves the whole path): the hog stops itself, is moved in through
        // the open directory, and goes on.
        let hog = try #require(
            ProcessRunner.spawn(
                "/bin/sh", ["-c", #"kill -STOP $$; exec "$@""#, "sh", ProcessRunner.oomctlPath, "hog", "100M"],
                standardOutput: "/dev/null", standardError: "/dev/null"))
        defer {
            kill(hog, SIGKILL)
            _ = ProcessRunner.wait(for: hog)
        }
        #expect(
            GuardianHardeningTests.time(.seconds(3)) { ProcessRunner.readText("/proc/\(hog)/stat").contains(") T ") }
                != nil)
        try deep.write("cgroup.procs", String(hog))
        kill(hog, SIGCONT)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 128 + SIGKILL, "\(watch.output)")
        #expect(watch.output.contains("oom in"), "the OOM was handled: \(watch.output)")

        let rearmed = try GuardianHardeningTests.time(.seconds(3)) {
            try MemoryCgroup(deep).oomControl().oomKillDisable
        }
        #expect(rearmed != nil, "armed again once the OOM is over")
        watch.stop(signal: SIGKILL)
        let back = try GuardianHardeningTests.time(.seconds(3)) { try !MemoryCgroup(deep).oomControl().oomKillDisable }
        #expect(back != nil, "the guardian re-enabled the killer of a path longer than PATH_MAX")
    }
}
