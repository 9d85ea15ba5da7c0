import Glibc
import OOMKit
import OOMTestSupport
import Testing

/// A cgroup of the v1 freezer hierarchy, made below this process's own freezer cgroup and removed after:
/// a process in it, once frozen, cannot die of SIGKILL until it is thawed.
final class TestFreezer {
    let directory: String

    init() throws {
        let own =
            ProcessRunner.readText("/proc/self/cgroup").split(separator: "\n")
            .first { $0.split(separator: ":", maxSplits: 2).dropFirst().first == "freezer" }
            .map { String($0.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)[2]) } ?? "/"
        // Unique per instance: suites run in parallel with each other.
        let name = "oomctl-test-freezer-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        directory = "/sys/fs/cgroup/freezer" + (own == "/" ? "" : own) + "/" + name
        guard mkdir(directory, 0o755) == 0 else { throw SystemCallError("create", path: directory, errno: errno) }
    }

    func adopt(_ pid: pid_t) throws {
        guard write("cgroup.procs", String(pid)) else { throw SystemCallError("move", path: directory, errno: errno) }
    }

    func freeze() -> Bool {
        guard write("freezer.state", "FROZEN") else { return false }
        for _ in 0..<200 where !state.hasPrefix("FROZEN") { usleep(10_000) }
        return state.hasPrefix("FROZEN")
    }

    var state: String { ProcessRunner.readText(directory + "/freezer.state") }

    /// Thaws, waits for the cgroup to empty (its processes were killed), and removes it.
    func destroy() {
        _ = write("freezer.state", "THAWED")
        for _ in 0..<300 where !ProcessRunner.readText(directory + "/cgroup.procs").isEmpty { usleep(10_000) }
        rmdir(directory)
    }

    private func write(_ file: String, _ value: String) -> Bool {
        let descriptor = open(directory + "/" + file, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return value.withCString { Glibc.write(descriptor, $0, strlen($0)) } >= 0
    }
}

/// The kill does not block watch's loop: a victim that cannot die quickly delays only its own handling.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct NonBlockingKillTests {
    @Test func aVictimThatCannotDieDelaysNoOtherCgroup() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let stuck = try test.makeChild("stuck", limit: ByteCount(32 << 20))
        let other = try test.makeChild("other", limit: ByteCount(32 << 20))
        let freezer = try TestFreezer()
        defer { freezer.destroy() }
        // In `stuck`: a process that a kill cannot end while it is frozen.
        let frozen = try test.spawn(["/bin/sleep", "100"], in: stuck)
        try freezer.adopt(frozen)
        try #require(freezer.freeze(), "the freezer froze: \(freezer.state)")

        let watch = try RunningWatch(
            [stuck.description, other.description, "--kill", "triggering", "--json", "--no-self-protection"])
        let stuckHog = try test.spawnHog("100M", in: stuck)
        #expect(ProcessRunner.wait(for: stuckHog, timeout: .seconds(10)) == 128 + SIGKILL)
        // stuck's kill now waits (up to its 2 s timeout) for the frozen process. other's OOM comes meanwhile.
        let clock = ContinuousClock()
        let start = clock.now
        let otherHog = try test.spawnHog("100M", in: other)
        #expect(ProcessRunner.wait(for: otherHog, timeout: .seconds(10)) == 128 + SIGKILL)
        let otherTook = clock.now - start
        print("# figure: other cgroup's hog killed \(otherTook) after it started, while stuck's kill waited")
        // Blocking on the frozen victim held every other handling back for the rest of the kill timeout.
        #expect(otherTook < .milliseconds(1000), "other's hog lived \(otherTook)")
        #expect(
            watch.waitFor {
                $0.records.contains { $0["cgroup"] == other.description && $0["outcome"] == "killed" }
            }, "\(watch.output)")
        // And stuck's own kill is reported for what it is once its timeout passes.
        #expect(
            watch.waitFor {
                $0.records.contains {
                    $0["cgroup"] == stuck.description && ($0["message"] ?? "").contains("still alive 2s after SIGKILL")
                }
            }, "\(watch.output)")
        #expect(watch.stop() == 0)
    }
}

/// Stopping or killing watch while a kill of its waits on a victim that cannot die: the kernel killer
/// comes back at once either way, and SIGTERM does not wait for the kill's timeout.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct StoppedMidKillTests {
    /// A watched cgroup whose kill is in flight: its hog is dead, a frozen process keeps the kill waiting.
    private func killInFlight(_ test: TestCgroup, _ freezer: TestFreezer) throws -> RunningWatch {
        let frozen = try test.spawn(["/bin/sleep", "100"])
        try freezer.adopt(frozen)
        try #require(freezer.freeze(), "the freezer froze: \(freezer.state)")
        // The kill waits up to its timeout (2 s) for the frozen process; the signal comes well within it.
        let watch = try RunningWatch(
            [test.path.description, "--kill", "triggering", "--delay", "30s", "--json", "--no-self-protection"])
        let hog = try test.spawnHog("100M")
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 128 + SIGKILL)
        #expect(watch.waitFor { $0.records.contains { $0["messageID"] == MessageID.victimChosen.rawValue } })
        return watch
    }

    private func killerDisabled(_ test: TestCgroup) throws -> Bool {
        try MemoryCgroup.open(test.path, in: test.system).oomControl().oomKillDisable
    }

    @Test(arguments: [SIGTERM, SIGKILL])
    func theKernelKillerComesBackAtOnce(signal: Int32) throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let freezer = try TestFreezer()
        defer { freezer.destroy() }
        let watch = try killInFlight(test, freezer)
        #expect(try killerDisabled(test))
        let clock = ContinuousClock()
        let start = clock.now
        let status = watch.stop(signal: signal)
        while clock.now - start < .seconds(3), try killerDisabled(test) { usleep(5_000) }
        let took = clock.now - start
        print("# figure: kernel killer back \(took) after signal \(signal) to watch with a kill in flight")
        #expect(try !killerDisabled(test), "the kernel killer is back")
        #expect(took < .milliseconds(500), "\(took)")
        if signal == SIGTERM { #expect(status == 0, "watch stopped cleanly without waiting for the victim") }
    }
}
