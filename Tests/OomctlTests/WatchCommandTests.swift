import ArgumentParser
import Glibc
import OOMKit
import OOMTestSupport
import Testing

@testable import OomctlCommands

/// A running `oomctl watch`, its output in a file.
final class RunningWatch {
    let pid: pid_t
    let outputPath = ProcessRunner.temporaryPath("watch.out")
    let errorPath = ProcessRunner.temporaryPath("watch.err")
    private var stopped = false

    /// `launcher`: a command that execs its arguments (e.g. setpriv with options and `--`), so that `pid`
    /// is watch's own PID. `awaitingStart` false: returns at once, without waiting for the start-up line.
    init(
        _ arguments: [String], environment: [String: String] = [:], launcher: [String] = [],
        awaitingStart: Bool = true
    ) throws {
        let command = launcher + [ProcessRunner.oomctlPath, "watch"] + arguments
        guard
            let pid = ProcessRunner.spawn(
                command[0], Array(command.dropFirst()), environment: environment, standardOutput: outputPath,
                standardError: errorPath)
        else { throw SystemCallError("spawn", path: "oomctl watch", errno: errno) }
        self.pid = pid
        // Ready once the start-up line is out (the killer is disabled and the eventfds are registered).
        for _ in 0..<1000 where awaitingStart && !output.contains("watching ") {
            if ProcessRunner.wait(for: pid, timeout: .milliseconds(10)) != nil { break }
        }
    }

    deinit { stop() }

    /// Standard output, then standard error (each written through its own file).
    var output: String { ProcessRunner.readText(outputPath) + ProcessRunner.readText(errorPath) }

    /// The JSON lines printed so far (with --json), every value as text.
    var records: [[String: String]] {
        ProcessRunner.readText(outputPath).split(separator: "\n").compactMap {
            try? JSONOutput.decode([String: Scalar].self, from: LosslessText.encode(String($0))).get().mapValues(\.text)
        }
    }

    /// A JSON string or number.
    struct Scalar: Decodable {
        var text: String
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Int64.self) {
                text = String(number)
            } else {
                text = try container.decode(String.self)
            }
        }
    }

    /// Waits until `condition` holds on the output, up to `timeout`.
    @discardableResult
    func waitFor(_ timeout: Duration = .seconds(10), _ condition: (RunningWatch) -> Bool) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if condition(self) { return true }
            usleep(20_000)
        }
        return condition(self)
    }

    /// SIGTERM, then the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> Int32? {
        guard !stopped else { return nil }
        stopped = true
        kill(pid, signal)
        let status = ProcessRunner.wait(for: pid, timeout: .seconds(10))
        if status == nil {
            kill(pid, SIGKILL)
            _ = ProcessRunner.wait(for: pid)
        }
        unlink(outputPath)
        unlink(errorPath)
        return status
    }
}

private func oomControl(_ test: TestCgroup, _ path: CgroupPath? = nil) throws -> OOMControl {
    try MemoryCgroup.open(path ?? test.path, in: CgroupSystem()).oomControl()
}

/// `oomctl watch` on the real v1 hierarchy: real OOMs in test cgroups below the test's own.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct WatchCommandTests {
    @Test func hookRunsOnceWithContextThenThePolicyKills() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let directory = FixtureTree()
        let hook =
            #"env | grep '^OOMCTL_' > "$OUT/env.$OOMCTL_HANDLING_ID"; cat > "$OUT/stdin.$OOMCTL_HANDLING_ID"; exit 1"#
        let watch = try RunningWatch(
            [
                test.path.description, "--hook", hook, "--kill", "largest", "--process", "--json",
                "--no-self-protection",
            ],
            environment: ["OUT": directory.root])
        #expect(try oomControl(test).oomKillDisable, "watch disables the kernel killer on v1")
        let hog = try test.spawnHog("100M")
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
        #expect(watch.waitFor { $0.records.contains { $0["outcome"] == "killed" } }, "\(watch.output)")

        let environment = ProcessRunner.readText(directory.root + "/env.1")
        #expect(environment.contains("OOMCTL_EVENT=oom\n"))
        #expect(environment.contains("OOMCTL_CGROUP=\(test.path)\n"))
        #expect(environment.contains("OOMCTL_CGROUP_PATH=\(test.directory)\n"))
        #expect(environment.contains("OOMCTL_LIMIT=\(32 << 20)\n"))
        #expect(access(directory.root + "/env.2", F_OK) != 0, "the hook ran once")
        struct Input: Decodable {
            var event: String
            var cgroup: String
            var version: Int
        }
        let input = try JSONOutput.decode(
            Input.self, from: Array(ProcessRunner.readText(directory.root + "/stdin.1").utf8)
        ).get()
        #expect(input.event == "oom" && input.cgroup == test.path.description)

        let records = watch.records
        let detected = try #require(records.first { $0["messageID"] == MessageID.oomDetected.rawValue })
        #expect(detected["cgroup"] == test.path.description && detected["event"] == "oom")
        let killed = try #require(records.first { $0["messageID"] == MessageID.victimKilled.rawValue })
        #expect(killed["victim_pid"] == String(hog))
        #expect(records.contains { $0["messageID"] == MessageID.hookFinished.rawValue && $0["exit_status"] == "1" })
        #expect(watch.output.contains(#""exit_status":1"#), "counts are JSON numbers")
        #expect(watch.stop() == 0)
        #expect(try !oomControl(test).oomKillDisable, "restored on SIGTERM")
    }

    /// watch --signal TERM --grace: the victim gets TERM first; one that ignores it gets SIGKILL after
    /// the grace, because the OOM lasts.
    @Test func aGracefulKillSendsTermFirstThenKillWhileTheOOMLasts() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch([
            test.path.description, "--kill", "largest", "--process", "--signal", "TERM", "--grace", "500ms",
            "--delay", "5s", "--json", "--no-self-protection",
        ])
        let polite = try test.spawnHog("100M")
        #expect(ProcessRunner.wait(for: polite, timeout: .seconds(15)) == 128 + SIGTERM, "TERM first")
        #expect(watch.waitFor { $0.records.contains { $0["outcome"] == "killed" } }, "\(watch.output)")
        // SIG_IGN survives exec: this hog ignores TERM, and the OOM it holds lasts through the grace.
        let stubborn = try test.spawn(["/bin/sh", "-c", #"trap '' TERM; exec "$0" hog 100M"#, ProcessRunner.oomctlPath])
        #expect(ProcessRunner.wait(for: stubborn, timeout: .seconds(15)) == 128 + SIGKILL, "SIGKILL after the grace")
        #expect(watch.waitFor { $0.records.filter { $0["outcome"] == "killed" }.count == 2 }, "\(watch.output)")
        #expect(!watch.records.contains { $0["outcome"] == "fell back to the kernel" }, "oomctl killed both")
        #expect(watch.stop() == 0)
    }

    @Test func aHookThatResolvesTheOOMMeansNothingIsKilled() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let hook = #"echo 256M > "$OOMCTL_CGROUP_PATH/memory.limit_in_bytes""#
        let watch = try RunningWatch(
            [test.path.description, "--hook", hook, "--kill", "largest", "--delay", "20s", "--no-self-protection"])
        let hog = try test.spawnHog("64M", extra: ["--hold", "200ms"])
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 0, "the hog completes")
        #expect(watch.waitFor { $0.output.contains("resolved by hook") }, "\(watch.output)")
        #expect(!watch.output.contains("killed process"))
        #expect(try oomControl(test).oomKill == 0)
    }

    /// A hook that frees too little: its kill of a small process wakes the stalled hog, which eats what
    /// was freed and is out of memory again within milliseconds. under_oom reads 0 meanwhile, and read
    /// once, that used to credit the hook and end the handling; the hog's next notification then
    /// started a second handling that ran the hook again. One OOM, one handling: the hook runs once and
    /// the hog is killed by the policy, in each of the trials.
    @Test func aHookThatFreesTooLittleIsNotCreditedWhenTheOOMIsBackAtOnce() throws {
        for trial in 1...3 {
            let test = try TestCgroup(limit: ByteCount(40 << 20))
            defer { test.destroy() }
            let directory = FixtureTree()
            let small = try test.spawn([ProcessRunner.oomctlPath, "hog", "2M"], output: directory.root + "/small")
            for _ in 0..<1000 where !ProcessRunner.readText(directory.root + "/small").contains("holding") {
                usleep(10_000)
            }
            #expect(ProcessRunner.readText(directory.root + "/small").contains("holding"), "the small hog holds 2M")
            let hook =
                #"echo ran >> "$OUT/hook"; kill -9 "$SMALL"; "#
                + #"while grep -qx "$SMALL" "$OOMCTL_CGROUP_PATH/cgroup.procs"; do :; done"#
            let watch = try RunningWatch(
                [
                    test.path.description, "--hook", hook, "--kill", "triggering", "--delay", "10s", "--json",
                    "--no-self-protection",
                ], environment: ["OUT": directory.root, "SMALL": String(small)])
            let hog = try test.spawnHog("100M")
            #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL, "trial \(trial)")
            #expect(watch.waitFor { $0.records.contains { $0["outcome"] != nil } }, "\(watch.output)")
            usleep(300_000)  // a second handling, if there is one, has started by now
            let outcomes = watch.records.compactMap { $0["outcome"] }
            #expect(outcomes == ["killed"], "trial \(trial): \(watch.output.suffix(3000))")
            #expect(ProcessRunner.readText(directory.root + "/hook") == "ran\n", "trial \(trial): the hook ran once")
            #expect(watch.stop() == 0)
        }
    }

    @Test func withoutAnActionTheKernelKillsAtTheDeadline() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch([test.path.description, "--delay", "300ms", "--no-self-protection"])
        let clock = ContinuousClock()
        let start = clock.now
        let hog = try test.spawnHog("100M")
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
        #expect(clock.now - start >= .milliseconds(300), "the kernel waited for the deadline")
        #expect(watch.waitFor { $0.output.contains("fell back to the kernel") }, "\(watch.output)")
        #expect(watch.output.contains("not resolved after 300ms"))
        #expect(try oomControl(test).oomKill == 1)
        #expect(
            watch.waitFor(.seconds(3)) { _ in (try? oomControl(test).oomKillDisable) == true },
            "re-armed for the next OOM")
    }

    @Test func aHangingHookIsKilledWithItsChildrenAndThePipelineGoesOn() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let marker = "61.\(getpid())"
        let watch = try RunningWatch(
            [
                test.path.description, "--hook", "sleep \(marker) & sleep \(marker)", "--hook-timeout", "300ms",
                "--kill", "largest", "--no-self-protection",
            ])
        let hog = try test.spawnHog("100M")
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
        #expect(watch.waitFor { $0.output.contains("killed in") }, "\(watch.output)")
        #expect(watch.output.contains("hook timed out, process group killed"))
        let leftovers = ProcessRunner.run("/usr/bin/pgrep", ["-f", "^sleep \(marker)"])
        #expect(leftovers.standardOutput.isEmpty, "the hook's children died with it")
    }

    @Test func sigkillOfWatchLeavesNoCgroupHanging() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch([test.path.description, "--delay", "60s", "--no-self-protection"])
        let hog = try test.spawnHog("100M")
        #expect(watch.waitFor { $0.output.contains("oom in") }, "\(watch.output)")
        #expect(try oomControl(test).underOOM, "the hog is stalled in OOM")
        let clock = ContinuousClock()
        let killedAt = clock.now
        watch.stop(signal: SIGKILL)
        #expect(
            ProcessRunner.wait(for: hog, timeout: .seconds(3)) == 128 + SIGKILL, "the guardian re-enabled the killer")
        #expect(clock.now - killedAt < .milliseconds(1500))
        #expect(try !oomControl(test).oomKillDisable)
    }

    @Test func fiftyCgroupsAtOnceAreAllHandledAndASlowHookBlocksNoOther() throws {
        let test = try TestCgroup(limit: ByteCount(2 << 30))
        defer { test.destroy() }
        let children = try (0..<50).map { try test.makeChild("c\($0)", limit: ByteCount(16 << 20)) }
        let slowHook = #"case "$OOMCTL_CGROUP" in */c0) sleep 4;; esac; exit 1"#
        let watch = try RunningWatch(
            [
                test.path.description, "--recursive", "--hook", slowHook, "--hook-timeout", "10s", "--kill",
                "triggering", "--delay", "30s", "--json", "--no-self-protection",
            ])
        let hogs = try children.map { try test.spawnHog("40M", in: $0) }
        // Everyone but c0 is handled while c0's hook still sleeps.
        for hog in hogs.dropFirst() {
            #expect(ProcessRunner.wait(for: hog, timeout: .seconds(20)) == 128 + SIGKILL)
        }
        #expect(ProcessRunner.wait(for: hogs[0], timeout: .milliseconds(10)) == nil, "c0 still waits for its hook")
        #expect(ProcessRunner.wait(for: hogs[0], timeout: .seconds(10)) == 128 + SIGKILL)
        #expect(watch.waitFor(.seconds(10)) { $0.records.filter { $0["outcome"] == "killed" }.count == 50 })
        let handled = Set(watch.records.filter { $0["outcome"] == "killed" }.compactMap { $0["cgroup"] })
        #expect(handled == Set(children.map(\.description)), "none lost")
    }

    @Test func removedAndNewCgroupsWithRecursive() throws {
        let test = try TestCgroup(limit: ByteCount(256 << 20))
        defer { test.destroy() }
        let doomed = try test.makeChild("doomed")
        let watch = try RunningWatch([
            test.path.description, "--recursive", "--kill", "triggering", "--no-self-protection",
        ])
        #expect(rmdir(test.filesystemPath(doomed)) == 0)
        #expect(watch.waitFor { $0.output.contains("cgroup removed, no longer watched: \(doomed)") }, "\(watch.output)")
        let late = try test.makeChild("late", limit: ByteCount(16 << 20))
        #expect(watch.waitFor { $0.output.contains("watching new cgroup") }, "\(watch.output)")
        let hog = try test.spawnHog("64M", in: late)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
        #expect(watch.waitFor { $0.output.contains("killed in") && $0.output.contains(late.description) })
        #expect(kill(watch.pid, 0) == 0, "watch keeps running")
    }

    @Test func hostileCgroupNamesReachHooksVerbatimAndRunNothing() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let canary = ProcessRunner.temporaryPath("canary")
        let name = "a b$(touch \(canary))`touch \(canary)`;'\"x"
        let odd = try test.makeChild(name, limit: ByteCount(16 << 20))
        let directory = FixtureTree()
        let watch = try RunningWatch(
            [
                odd.description, "--hook", #"printf %s "$OOMCTL_CGROUP" > "$OUT/name""#, "--kill", "triggering",
                "--no-self-protection",
            ],
            environment: ["OUT": directory.root])
        let hog = try test.spawnHog("64M", in: odd)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
        #expect(watch.waitFor { _ in access(directory.root + "/name", F_OK) == 0 })
        #expect(ProcessRunner.readText(directory.root + "/name") == odd.description)
        #expect(access(canary, F_OK) != 0, "nothing in the name was executed")
    }

    @Test func journalEntriesCarryTheCgroupAndEvent() throws {
        guard JournalAvailability.unavailableReason(socketPath: JournalAvailability.defaultSocketPath) == nil else {
            Issue.record("no journald listens; scripts/bootstrap starts one (CI runs it)")
            return
        }
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch([
            test.path.description, "--kill", "triggering", "--log", "journal", "--no-self-protection",
        ])
        let hog = try test.spawnHog("100M")
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
        watch.stop()
        var entries = ""
        for _ in 0..<50 {
            _ = ProcessRunner.run("/bin/journalctl", ["--sync"])
            entries =
                ProcessRunner.run(
                    "/bin/journalctl",
                    [
                        "-o", "json", "--no-pager", "MESSAGE_ID=\(MessageID.oomDetected.rawValue)",
                        "OOMCTL_CGROUP=\(test.path)",
                    ]
                ).standardOutput
            if !entries.isEmpty { break }
            usleep(100_000)
        }
        #expect(entries.contains("\"OOMCTL_EVENT\":\"oom\""), "\(entries)")
        #expect(entries.contains("\"SYSLOG_IDENTIFIER\":\"oomctl\""))
    }

    /// libsystemd is loaded when journal output is first used, not linked: the binary starts without
    /// it, and a libsystemd that cannot be loaded is said at start, with console lines instead.
    @Test func journalOutputWithoutALoadableLibsystemdFallsBackToConsoleLines() throws {
        if access("/usr/bin/readelf", X_OK) == 0 {
            let needed = ProcessRunner.run("/usr/bin/readelf", ["-d", ProcessRunner.oomctlPath]).standardOutput
            #expect(needed.contains("(NEEDED)") && !needed.contains("libsystemd"), "\(needed)")
        }
        let directory = FixtureTree()
        directory.file("libsystemd.so.0", "")  // empty: not a library
        let broken = directory.root + "/libsystemd.so.0"
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch(
            [test.path.description, "--dry-run", "--log", "journal", "--no-self-protection"],
            environment: ["LD_LIBRARY_PATH": directory.root])
        let output = watch.output
        #expect(watch.stop() == 0)
        #expect(output.contains("cannot load libsystemd: \(broken)"), "\(output)")
        #expect(output.contains("logging to standard error instead"))
        #expect(output.contains("watching "), "the watch ran on, logging to the console")
    }
}

@Suite struct WatchCommandInputTests {
    @Test(arguments: [
        ([String](), "at least one CGROUP"),
        (["/x", "--on", "oom,explode"], "invalid for '--on <EVENTS>': unknown event 'explode'"),
        (["/x", "--on", "oom,,high"], "invalid for '--on <EVENTS>': an empty event name"),
        (
            ["/x", "--delay", "soon"],
            "The value 'soon' is invalid for '--delay <DURATION>': expected a number with a unit"
        ),
        (
            ["/x", "--on", "pressure", "--pressure", "some 1s"],
            "invalid for '--pressure <TRIGGER>': expected 'some|full"
        ),
        (["/x", "--on", "pressure", "--pressure", "some 1s 20s"], "the window must be between 500ms and 10s"),
        (["/x", "--hook", "/no/such/hook.sh --flag"], "hook program '/no/such/hook.sh' does not exist"),
        (
            ["/x", "--kill", "bogus"],
            "The value 'bogus' is invalid for '--kill <POLICY>'. Please provide one of 'none', 'largest', 'priority', "
                + "'triggering' or 'oom-score'."
        ),
        (["/x", "--process"], "go with --kill POLICY"),
        (["/x", "--kill", "none", "--avoid", "x"], "go with --kill POLICY"),
        (
            ["/x", "--log", "syslog"],
            "invalid for '--log <TARGET>'. Please provide one of 'journal', 'console' or 'json'"
        ),
        (["/x", "--json", "--log", "console"], "--json is --log json; it cannot go with --log console"),
        (["/x", "--snapshot-dir", "/no/such/dir"], "is not a directory"),
        (["/x", "--self-reserve", "lots"], "invalid for '--self-reserve <SIZE>'"),
        (["/x", "--self-reserve", "2G"], "--self-reserve is at most 1G"),
        (["/x", "--self-reserve", "16M", "--no-self-protection"], "drop --no-self-protection"),
        (
            ["/x", "--hook-timeout", "0", "--hook", "true"],
            "invalid for '--hook-timeout <DURATION>': must be above zero"
        ),
        // Options that would do nothing here are refused, not ignored.
        (["/x", "--cooldown", "5s"], "--cooldown goes with --system"),
        (["/x", "--min-available", "5%"], "--min-available goes with --system"),
        (["/x", "--min-swap-free", "10%"], "--min-swap-free goes with --system"),
        (["/x", "--max-check-interval", "10s"], "--max-check-interval goes with --system"),
        (["/x", "--pressure", "some 150ms 1s"], "--pressure is the trigger of --on pressure"),
        (["/x", "--on", "oom", "--pressure", "some 150ms 1s"], "--pressure is the trigger of --on pressure"),
        (["/x", "--post-kill", "true"], "--post-kill runs after a kill; give --kill POLICY"),
        (["/x", "--post-kill", "true", "--kill", "none"], "--post-kill runs after a kill; give --kill POLICY"),
        (["/x", "--hook-timeout", "5s"], "--hook-timeout limits hooks; give a --hook or --post-kill"),
    ])
    func badInputIsAUsageError(arguments: [String], message: String) {
        let result = ProcessRunner.oomctl(["watch"] + arguments)
        #expect(result.status == 64, "\(result)")
        #expect(result.standardError.contains(message), "\(result)")
    }

    @Test func holdFreezeOnV1IsRefusedAndNothingIsArmed() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let result = ProcessRunner.oomctl(["watch", test.path.description, "--hold", "freeze", "--no-self-protection"])
        #expect(result.status == 69, "\(result)")
        #expect(result.standardError.contains("the freeze hold needs cgroup v2 (drop --hold freeze on v1)"))
        #expect(try !oomControl(test).oomKillDisable, "nothing was changed")
    }

    @Test func unknownCgroupIsNotFound() {
        let result = ProcessRunner.oomctl(["watch", "/oomctl-no-such-cgroup"])
        #expect(result.status == 66, "\(result)")
        #expect(result.standardError.contains("no such cgroup"))
    }
}

/// `watch --system` on this machine: never a real system-wide squeeze here (the VM test does that);
/// thresholds that fire at once, in --dry-run, with --under a test subtree.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct SystemWatchTests {
    @Test func aThresholdThatFiresAtOnceDecidesByPriorityAndKillsNothing() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        var sleepers: [String: pid_t] = [:]
        for (name, priority) in [("p0", "0"), ("p5", "5"), ("p10", "10")] {
            let path = try test.makeChild(name)
            sleepers[name] = try test.spawn(["/bin/sleep", "30"], in: path)
            try MemoryCgroup.open(path, in: CgroupSystem()).cgroup
                .setExtendedAttribute("user.oomctl.priority", Array(priority.utf8))
        }
        let directory = FixtureTree()
        let watch = try RunningWatch(
            [
                "--system", "--min-available", "100%,100%", "--under", test.path.description, "--dry-run", "--json",
                "--hook", #"echo "$OOMCTL_EVENT" > "$OUT/hook""#, "--no-self-protection",
            ],
            environment: ["OUT": directory.root])
        #expect(watch.waitFor { $0.records.contains { $0["outcome"] == "dry run" } }, "\(watch.output)")
        let decided = try #require(watch.records.first { $0["messageID"] == MessageID.victimChosen.rawValue })
        #expect(decided["victim"] == "cgroup \(test.path)/p0", "\(decided)")
        #expect(decided["policy"] == "priority", "priority is the default with --system")
        #expect(ProcessRunner.readText(directory.root + "/hook") == "pressure\n", "the hook ran")
        #expect(sleepers.values.allSatisfy { kill($0, 0) == 0 }, "nothing was killed")
        #expect(watch.output.contains("system memory below the act threshold (start-up)"))
        // One handling, then the cooldown: no second handling within it.
        usleep(500_000)
        #expect(watch.records.filter { $0["messageID"] == MessageID.oomResolved.rawValue }.count == 1)
    }

    /// --system used to ignore --self-reserve and --protect-self: it is the same service now.
    @Test func theSystemScopeProtectsItselfLikeTheCgroupScope() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let watch = try RunningWatch(
            ["--system", "--min-available", "64K", "--under", test.path.description, "--self-reserve", "16M", "--json"])
        #expect(watch.waitFor { $0.output.contains("watching system memory") }, "\(watch.output)")
        #expect(watch.output.contains("memory locked"), "\(watch.output)")
        #expect(watch.output.contains("self reserve 16M pre-faulted"), "\(watch.output)")
        let status = try ProcFS().process(watch.pid).status()
        #expect((status.residentSet ?? .zero) >= ByteCount(16 << 20), "the reserve is resident")
        #expect(watch.stop() == 0)
    }

    @Test func memoryAboveTheThresholdDoesNothing() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        _ = try test.spawn(["/bin/sleep", "30"], in: try test.makeChild("a"))
        let watch = try RunningWatch(
            ["--system", "--min-available", "64K", "--under", test.path.description, "--json", "--no-self-protection"])
        usleep(600_000)
        #expect(watch.output.contains("watching system memory"), "\(watch.output)")
        #expect(!watch.records.contains { $0["messageID"] == MessageID.oomDetected.rawValue })
    }

    @Test(arguments: [
        (
            ["--system", "--min-available=-5%"],
            "invalid for '--min-available <THRESHOLD>': a percentage must be between"
        ),
        (["--system", "--min-available", "150%"], "between 0% and 100%"),
        (["--system", "--min-available", "lots"], "invalid for '--min-available <THRESHOLD>': unknown unit 'LOTS'"),
        (["--system", "--min-available", "5%,10%"], "the first (warn) must be at least the second"),
        (["--system", "--min-available", "1%,2%,3%"], "WARN,ACT"),
        (["--system", "--min-swap-free", "x%"], "invalid for '--min-swap-free <THRESHOLD>'"),
        (["--system", "/some/cgroup"], "give no CGROUP"), (["/x", "--under", "/y"], "--under goes with --system"),
        (["--system", "--cooldown", "never"], "The value 'never' is invalid for '--cooldown <DURATION>'"),
        (["--system", "--max-check-interval", "often"], "invalid for '--max-check-interval <DURATION>'"),
        (["--system", "--pressure", "some 1s"], "invalid for '--pressure <TRIGGER>'"),
        // What --system has no use for is refused.
        (["--system", "--on", "oom"], "--on does nothing with --system"),
        (["--system", "--delay", "2s"], "--delay does nothing with --system"),
        (["--system", "--kill", "none", "--post-kill", "true"], "--post-kill runs after a kill"),
    ])
    func badInputIsAUsageError(arguments: [String], message: String) {
        let result = ProcessRunner.oomctl(["watch"] + arguments)
        #expect(result.status == 64, "\(result)")
        #expect(result.standardError.contains(message), "\(result)")
    }
}

/// What the parser makes of watch's options, without spawning.
@Suite struct WatchArgumentTests {
    private func watch(_ arguments: [String]) throws -> WatchCommand {
        try #require(try Oomctl.parseAsRoot(["watch"] + arguments) as? WatchCommand)
    }

    @Test func valuesAreTypedAndDefaultsApplyWhenAbsent() throws {
        let plain = try watch(["/x"])
        let defaults = try plain.handling.handlingOptions()
        #expect(defaults.delay == .seconds(1) && defaults.hookTimeout == .seconds(10))
        #expect(defaults.minimumInterval == .milliseconds(250))
        #expect(plain.handling.eventKinds(version: .v1) == [.oom])
        #expect(plain.handling.eventKinds(version: .v2) == [.oomKill, .high, .max])
        #expect(plain.handling.pressureTrigger() == nil)

        let given = try watch([
            "/x", "--delay", "1000ms", "--on", "high,pressure,high", "--pressure", "full 100ms 2s", "--kill",
            "oom-score",
            "--hook", "true", "--hook-timeout", "1.5s", "--min-interval", "0", "--log", "json", "--json",
        ])
        let options = try given.handling.handlingOptions()
        #expect(options.delay == .seconds(1) && options.hookTimeout == .milliseconds(1500))
        #expect(options.minimumInterval == .zero)
        #expect(given.handling.on?.kinds == [.high, .pressure], "in order, without repetitions")
        #expect(
            given.handling.pressureTrigger()
                == PressureTrigger(full: true, stall: .milliseconds(100), window: .seconds(2)))
        #expect(given.log == .json)
        guard case .kill(let policy) = options.action else {
            Issue.record("--kill oom-score kills")
            return
        }
        #expect(policy.policy == .oomScore)
    }

    @Test func systemModeTakesItsOwnOptions() throws {
        let command = try watch([
            "--system", "--min-available", "10%,512M", "--min-swap-free", "5%", "--cooldown", "2s",
            "--max-check-interval", "0", "--pressure", "some 100ms 2s", "--under", "/a",
        ])
        let thresholds = command.systemThresholds()
        #expect(thresholds.warnAvailable == MemoryThreshold(.percent(10)))
        #expect(thresholds.actAvailable == MemoryThreshold(.size(ByteCount(512 << 20))))
        #expect(thresholds.actSwapFree == MemoryThreshold(.percent(5)))
        #expect(command.cooldown == .seconds(2) && command.maxCheckInterval == .zero)
        #expect(command.handling.systemPressureTrigger.stall == .milliseconds(100))
        let defaults = try watch(["--system"]).systemThresholds()
        #expect(defaults.actAvailable == MemoryThreshold(.percent(5)) && defaults.warnAvailable == nil)
        #expect(defaults.actSwapFree == MemoryThreshold(.percent(10)))
        // --post-kill goes with --system's default policy (priority).
        _ = try watch(["--system", "--post-kill", "true"])
    }

    @Test func theHelpListsTheAllowedValues() {
        let help = Oomctl.helpMessage(for: WatchCommand.self, columns: 400)
        #expect(help.contains("(values: none, largest, priority, triggering, oom-score)"), "\(help)")
        #expect(help.contains("(values: journal, console, json)"), "\(help)")
    }
}
