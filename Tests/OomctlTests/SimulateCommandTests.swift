import Glibc
import OOMKit
import OOMTestSupport
import Testing

@testable import OomctlCommands

/// The JSON of `oomctl simulate --json` as a script reads it.
struct SimulationJSON: Decodable {
    struct Entry: Decodable {
        var atMilliseconds: Double
        var event: String
        var message: String
        var cgroup: String?
        var pid: Int32?
        var exitStatus: Int32?
        var signal: Int32?
        var bytes: UInt64?
        var outcome: String?
        var killedBy: String?
        var output: String?
    }
    var sandbox: String
    var sandboxDirectory: String
    var cgroupVersion: Int
    var limitBytes: UInt64
    var reserveBytes: UInt64?
    var timeline: [Entry]
    var detectedAfterMilliseconds: Double?
    var outcomes: [String]
    var fellBack: Bool
    var hogsKilledByOomctl: Int
    var hogsKilledByKernel: Int
    var hogsFinished: Int
    var timedOut: Bool
    var interruptedBy: Int32?
    var removed: Bool

    /// The entries of one kind, in order.
    func entries(_ event: String) -> [Entry] { timeline.filter { $0.event == event } }
    /// The kinds in order, for messages.
    var events: [String] { timeline.map(\.event) }
}

/// Runs `oomctl simulate --json --parent TEST …` and decodes what it printed.
func simulate(
    _ arguments: [String], in test: TestCgroup, environment: [String: String] = [:]
) throws -> (result: CommandResult, json: SimulationJSON) {
    let result = ProcessRunner.oomctl(
        ["simulate", "--json", "--parent", test.path.description] + arguments, environment: environment)
    let json = try JSONOutput.decode(SimulationJSON.self, from: Array(result.standardOutput.utf8)).get()
    return (result, json)
}

/// The child cgroups of the test cgroup: a sandbox run must leave none.
func childCgroups(of test: TestCgroup) -> [String] {
    directoryEntries(test.directory).filter { name in
        var info = stat()
        return lstat(test.directory + "/" + name, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}

/// `oomctl simulate` sandbox runs on the real v1 hierarchy, each below a test cgroup of its own.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct SimulateSandboxTests {
    @Test func aResolvingHookEndsTheOOMAndNothingIsKilled() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        // The hook gives the sandbox room (what an operator's hook might do after freeing memory elsewhere).
        let hook = #"echo 268435456 > "$OOMCTL_CGROUP_PATH/memory.limit_in_bytes""#
        let (result, json) = try simulate(["--hook", hook, "--kill", "triggering"], in: test)
        #expect(result.status == 0, "\(result)")
        #expect(json.events.first == "created" && json.events.last == "removed", "\(json.events)")
        #expect(json.entries("detected").count == 1)
        #expect(json.entries("hook-finished").first?.exitStatus == 0)
        #expect(json.entries("killed").isEmpty, "\(json.events)")
        #expect(json.outcomes == ["resolved by hook"])
        #expect(json.hogsFinished == 1 && json.hogsKilledByOomctl == 0 && json.hogsKilledByKernel == 0)
        #expect(!json.fellBack)
        #expect(json.removed)
        #expect(childCgroups(of: test).isEmpty)
    }

    @Test func aFailingHookThenTheKillAndTheTimelineInOrder() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let (result, json) = try simulate(
            ["--hook", "echo looked at $OOMCTL_CGROUP_VERSION; exit 3", "--kill", "triggering"], in: test)
        #expect(result.status == 0, "\(result)")
        #expect(
            json.events == [
                "created", "hog-started", "detected", "hook-started", "hook-finished", "decided", "killed",
                "hog-exited", "handled", "removed",
            ], "the hog's exit right after the kill that caused it: \(json.events)")
        let times = json.timeline.map(\.atMilliseconds)
        #expect(times == times.sorted(), "the timeline is in time order")
        let hook = try #require(json.entries("hook-finished").first)
        #expect(hook.exitStatus == 3)
        #expect(hook.output == "looked at 1\n")
        let killed = try #require(json.entries("killed").first)
        #expect((killed.bytes ?? 0) > 32 << 20, "freed most of the 64M: \(killed)")
        #expect(json.entries("hog-exited").first?.killedBy == "oomctl")
        #expect(json.outcomes == ["killed"] && json.hogsKilledByOomctl == 1)
        #expect(json.detectedAfterMilliseconds.map { $0 > 0 && $0 < 10_000 } == true)
        #expect(json.sandbox.hasPrefix(test.path.description + "/oomctl-simulate-"))
        #expect(json.limitBytes == 64 << 20)
        #expect(childCgroups(of: test).isEmpty)
    }

    @Test func killNoneFallsBackToTheKernelAtTheDelay() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let (result, json) = try simulate(["--kill", "none", "--delay", "300ms"], in: test)
        #expect(result.status == 0, "\(result)")
        let detected = try #require(json.entries("detected").first)
        let fellBack = try #require(json.entries("fell-back").first)
        #expect(fellBack.atMilliseconds - detected.atMilliseconds >= 290, "not before the delay")
        #expect(json.entries("killed").isEmpty)
        #expect(json.entries("hog-exited").first?.killedBy == "kernel")
        #expect(json.fellBack && json.outcomes == ["fell back to the kernel"])
        #expect(json.hogsKilledByKernel == 1)
        #expect(childCgroups(of: test).isEmpty)
    }

    @Test func aReserveIsGrantedAndTheHogFinishesUnderIt() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        // 72M does not fit the 64M limit but fits 64M + a 16M reserve.
        let (result, json) = try simulate(["--reserve", "16M", "--hog-size", "72M", "--kill", "none"], in: test)
        #expect(result.status == 0, "\(result)")
        #expect(json.reserveBytes == 16 << 20)
        let granted = try #require(json.entries("reserve-granted").first)
        #expect(granted.bytes == 16 << 20)
        #expect(json.entries("reserve-restored").count == 1)
        #expect(json.hogsFinished == 1)
        #expect(!json.fellBack)
        #expect(json.outcomes == ["resolved"])
        #expect(childCgroups(of: test).isEmpty)
    }

    @Test func severalHogsAndAProcessVictim() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let (result, json) = try simulate(
            [
                "--hogs", "3", "--hog-size", "40M", "--limit", "96M", "--hog-rate", "200M", "--kill", "largest",
                "--process",
            ],
            in: test)
        #expect(result.status == 0, "\(result)")
        #expect(json.entries("hog-started").count == 3)
        #expect(json.hogsKilledByOomctl >= 1)
        #expect(json.hogsKilledByOomctl + json.hogsFinished + json.hogsKilledByKernel == 3)
        let victim = try #require(json.entries("killed").first)
        #expect(victim.message.contains("killed process"), "\(victim.message)")
        #expect(childCgroups(of: test).isEmpty)
    }

    @Test func sigintInTheMiddleRemovesEverythingAndExits130() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let output = ProcessRunner.temporaryPath("simulate.out")
        defer { unlink(output) }
        // The hook leaves the OOM unresolved and the delay is long: the run is mid-handling when interrupted.
        guard
            let pid = ProcessRunner.spawn(
                ProcessRunner.oomctlPath,
                ["simulate", "--parent", test.path.description, "--kill", "none", "--delay", "30s", "--hook", "true"],
                standardOutput: output, standardError: output)
        else { throw SystemCallError("spawn", path: "oomctl simulate", errno: errno) }
        var sawHook = false
        for _ in 0..<500 where !sawHook {
            sawHook = ProcessRunner.readText(output).contains("hook-finished")
            usleep(10_000)
        }
        #expect(sawHook, "\(ProcessRunner.readText(output))")
        let sandbox = childCgroups(of: test)
        #expect(sandbox.count == 1, "the sandbox exists while it runs")
        kill(pid, SIGINT)
        let status = ProcessRunner.wait(for: pid, timeout: .seconds(10))
        #expect(status == 130, "\(ProcessRunner.readText(output))")
        #expect(ProcessRunner.readText(output).contains("interrupted"))
        #expect(childCgroups(of: test).isEmpty, "nothing left: \(childCgroups(of: test))")
        #expect(Cgroup.parseProcessList(ProcessRunner.readText(test.directory + "/cgroup.procs")).isEmpty)
    }

    @Test func aTimeoutStopsTheRunCleansUpAndFails() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        // A slow hog that never reaches the limit in time.
        let (result, json) = try simulate(["--hog-rate", "4M", "--timeout", "500ms"], in: test)
        #expect(result.status == 1, "\(result)")
        #expect(json.timedOut)
        #expect(json.entries("timed-out").count == 1)
        #expect(json.removed)
        #expect(childCgroups(of: test).isEmpty)
    }

    @Test func withoutPermissionItIsNoPermissionAndCreatesNothing() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let denied = ProcessRunner.run(
            "/usr/bin/setpriv",
            [
                "--reuid=65534", "--regid=65534", "--clear-groups", ProcessRunner.oomctlPath, "simulate", "--parent",
                test.path.description,
            ])
        #expect(denied.status == 77, "\(denied)")
        #expect(
            denied.standardError.contains("cannot create a sandbox in \(test.path)")
                && denied.standardError.contains("its directory belongs to root (uid 0)"), "\(denied)")
        #expect(childCgroups(of: test).isEmpty)
    }

    @Test func theReadableTimelineEndsInASummary() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let result = ProcessRunner.oomctl(["simulate", "--parent", test.path.description, "--kill", "triggering"])
        #expect(result.status == 0, "\(result)")
        let lines = result.standardOutput.split(separator: "\n")
        #expect(lines.first?.contains("created") == true, "\(result)")
        #expect(lines.contains { $0.contains("detected") && $0.contains("oom: usage") })
        #expect(lines.last?.hasPrefix("OOM detected ") == true, "\(result)")
        #expect(lines.last?.contains("sandbox removed") == true)
        #expect(result.standardError.isEmpty, "\(result)")
    }
}

@Suite struct SimulateCommandInputTests {
    @Test(arguments: [
        (["--limit", "1M"], "--limit must be at least 4M"), (["--limit", "lots"], "invalid for '--limit <SIZE>'"),
        (["--limit", "max"], "finite size"), (["--limit", "8G"], "--limit is at most 4G"),
        (["--hogs", "0"], "--hogs takes 1 to 64"), (["--hogs", "many"], "invalid for '--hogs <N>'"),
        (["--hog-size", "0"], "invalid for '--hog-size <SIZE>': needs a finite size above zero"),
        (["--hog-rate", "fast"], "invalid for '--hog-rate <SIZE>'"),
        (["--reserve", "64M"], "is not less than the sandbox's --limit"),
        (["--reserve", "100%"], "invalid for '--reserve <SIZE>'"),
        (["--timeout", "soon"], "The value 'soon' is invalid for '--timeout <DURATION>'"),
        (["--timeout", "0"], "invalid for '--timeout <DURATION>': must be above zero"),
        (["--policy", "largest"], "--policy and --under go with --from"),
        (["--under", "/a"], "--policy and --under go with --from"),
        (["--from", "x.json", "--hook", "true"], "--hook goes with a sandbox run"),
        (
            ["--from", "x.json", "--policy", "bogus"],
            "The value 'bogus' is invalid for '--policy <POLICY>'. Please provide one of 'largest', 'priority', "
                + "'triggering' or 'oom-score'."
        ),
        (["--kill", "bogus"], "invalid for '--kill <POLICY>'. Please provide one of 'none'"),
        (["--hook", "/no/such/hook"], "does not exist"),
        // A replay refuses every sandbox and pipeline option, whatever its value (even the default's).
        (["--from", "x.json", "--delay", "1000ms"], "--delay goes with a sandbox run, not with --from"),
        (["--from", "x.json", "--delay", "1s"], "--delay goes with a sandbox run, not with --from"),
        (["--from", "x.json", "--limit", "64M"], "--limit goes with a sandbox run"),
        (["--from", "x.json", "--limit", "65536K"], "--limit goes with a sandbox run"),
        (["--from", "x.json", "--hogs", "1"], "--hogs goes with a sandbox run"),
        (["--from", "x.json", "--timeout", "30s"], "--timeout goes with a sandbox run"),
        (["--from", "x.json", "--hook-timeout", "10s"], "--hook-timeout goes with a sandbox run"),
        (["--from", "x.json", "--min-interval", "250ms"], "--min-interval goes with a sandbox run"),
        (["--from", "x.json", "--pressure", "some 150ms 1s"], "--pressure goes with a sandbox run"),
        (["--from", "x.json", "--on", "oom"], "--on goes with a sandbox run"),
        (["--from", "x.json", "--kill", "none"], "--kill goes with a sandbox run"),
        // A sandbox run refuses what its pipeline would not use.
        (["--post-kill", "true"], "--post-kill runs after a kill; give --kill POLICY"),
        (["--pressure", "some 150ms 1s"], "--pressure is the trigger of --on pressure"),
        (["--hook-timeout", "1s"], "--hook-timeout limits hooks"),
    ])
    func badInputIsAUsageErrorAndCreatesNothing(arguments: [String], message: String) throws {
        let own = try CgroupSystem().memoryCgroupPath(ofProcess: getpid())
        let before = try MemoryCgroup.open(own, in: CgroupSystem()).cgroup.childNames()
        let result = ProcessRunner.oomctl(["simulate"] + arguments)
        #expect(result.status == 64, "\(result)")
        #expect(result.standardError.contains(message), "\(result)")
        let after = try MemoryCgroup.open(own, in: CgroupSystem()).cgroup.childNames()
        #expect(!after.contains { $0.hasPrefix("oomctl-simulate-") && !before.contains($0) })
    }

    @Test func aParentThatDoesNotExistIsNoInput() {
        let result = ProcessRunner.oomctl(["simulate", "--parent", "/no/such/cgroup"])
        #expect(result.status == 66, "\(result)")
        #expect(result.standardError.contains("no such cgroup"), "\(result)")
    }
}

/// What the parser makes of simulate's options, without spawning.
@Suite struct SimulateArgumentTests {
    private func simulate(_ arguments: [String]) throws -> SimulateCommand {
        try #require(try Oomctl.parseAsRoot(["simulate"] + arguments) as? SimulateCommand)
    }

    @Test func sandboxDefaultsApplyWhenAbsent() throws {
        let settings = try simulate([]).sandboxSettings()
        #expect(settings.limit == ByteCount(64 << 20) && settings.hogSize == ByteCount(128 << 20))
        #expect(settings.hogs == 1 && settings.timeout == .seconds(30) && settings.reserve == nil)
        #expect(settings.hogRate == nil)
    }

    @Test func sandboxValuesAreTyped() throws {
        let settings = try simulate([
            "--limit", "96M", "--reserve", "25%", "--hog-size", "40M", "--hog-rate", "32M", "--hogs", "3",
            "--timeout", "1m",
        ]).sandboxSettings()
        #expect(settings.limit == ByteCount(96 << 20) && settings.hogSize == ByteCount(40 << 20))
        #expect(settings.hogRate == ByteCount(32 << 20) && settings.hogs == 3 && settings.timeout == .seconds(60))
        #expect(settings.reserve == .percent(hundredths: 2500))
    }

    @Test func aReplayTakesThePolicyAndTheFilters() throws {
        let replay = try simulate(["--from", "x.json", "--policy", "priority", "--process", "--priority", "/a=5"])
        #expect(replay.policyName == .priority)
        #expect(replay.handling.filters.priorities == [PriorityAssignment(cgroup: "/a", priority: 5)])
    }
}
