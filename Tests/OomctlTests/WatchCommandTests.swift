import Glibc
import OOMKit
import OOMTestSupport
import Testing

/// A running `oomctl watch`, its output in a file.
final class RunningWatch {
    let pid: pid_t
    let outputPath = ProcessRunner.temporaryPath("watch.out")
    let errorPath = ProcessRunner.temporaryPath("watch.err")
    private var stopped = false

    /// `launcher`: a command that execs its arguments (e.g. setpriv with options and `--`), so that `pid`
    /// is watch's own PID.
    init(_ arguments: [String], environment: [String: String] = [:], launcher: [String] = []) throws {
        let command = launcher + [ProcessRunner.oomctlPath, "watch"] + arguments
        guard
            let pid = ProcessRunner.spawn(
                command[0], Array(command.dropFirst()), environment: environment, standardOutput: outputPath,
                standardError: errorPath)
        else { throw SystemCallError("spawn", path: "oomctl watch", errno: errno) }
        self.pid = pid
        // Ready once the start-up line is out (the killer is disabled and the eventfds are registered).
        for _ in 0..<1000 where !output.contains("watching ") {
            if ProcessRunner.wait(for: pid, timeout: .milliseconds(10)) != nil { break }
        }
    }

    deinit { stop() }

    /// Standard output, then standard error (each written through its own file).
    var output: String { ProcessRunner.readText(outputPath) + ProcessRunner.readText(errorPath) }

    /// The JSON lines printed so far (with --json), every value as text.
    var records: [[String: String]] {
        ProcessRunner.readText(outputPath).split(separator: "\n").compactMap {
            try? JSONOutput.decode([String: Scalar].self, from: Array($0.utf8)).get().mapValues(\.text)
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
}

@Suite struct WatchCommandInputTests {
    @Test(arguments: [
        ([String](), "at least one CGROUP"), (["/x", "--on", "oom,explode"], "unknown event 'explode'"),
        (["/x", "--delay", "soon"], "invalid duration 'soon'"),
        (["/x", "--on", "pressure", "--pressure", "some 1s"], "invalid pressure trigger"),
        (["/x", "--hook", "/no/such/hook.sh --flag"], "hook program '/no/such/hook.sh' does not exist"),
        (["/x", "--kill", "bogus"], "unknown policy 'bogus'"), (["/x", "--process"], "go with --kill POLICY"),
        (["/x", "--log", "syslog"], "--log takes console, json or journal"),
        (["/x", "--snapshot-dir", "/no/such/dir"], "is not a directory"),
    ])
    func badInputIsAUsageError(arguments: [String], message: String) {
        let result = ProcessRunner.oomctl(["watch"] + arguments)
        #expect(result.status == 64, "\(result)")
        #expect(result.standardError.contains(message), "\(result)")
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
        (["--system", "--min-available=-5%"], "invalid threshold"),
        (["--system", "--min-available", "150%"], "between 0% and 100%"),
        (["--system", "--min-available", "lots"], "invalid size"),
        (["--system", "--min-available", "5%,10%"], "the first (warn) must be at least the second"),
        (["--system", "--min-available", "1%,2%,3%"], "WARN,ACT"),
        (["--system", "/some/cgroup"], "give no CGROUP"), (["/x", "--under", "/y"], "--under goes with --system"),
        (["--system", "--cooldown", "never"], "invalid duration"),
    ])
    func badInputIsAUsageError(arguments: [String], message: String) {
        let result = ProcessRunner.oomctl(["watch"] + arguments)
        #expect(result.status == 64, "\(result)")
        #expect(result.standardError.contains(message), "\(result)")
    }
}
