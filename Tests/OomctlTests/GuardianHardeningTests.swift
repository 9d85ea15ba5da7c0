import Glibc
import OOMKit
import OOMTestSupport
import Testing

/// Issue 13, items 5–8 and 12: what a watch that dies, is stopped, or meets another watch leaves behind
/// — on real v1 memcgs below the test's own.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct GuardianHardeningTests {
    static func memory(_ path: CgroupPath) throws -> MemoryCgroup { try MemoryCgroup.open(path, in: CgroupSystem()) }
    static func oomControl(_ test: TestCgroup) throws -> OOMControl { try memory(test.path).oomControl() }
    static func limit(_ test: TestCgroup) throws -> ByteCount { try memory(test.path).limit() }

    /// watch's children (the guardian, hooks' shells).
    static func children(of pid: pid_t) -> [pid_t] {
        ProcessRunner.readText("/proc/\(pid)/task/\(pid)/children").split(separator: " ").compactMap { pid_t($0) }
    }

    static func guardian(of watch: RunningWatch) -> pid_t? {
        children(of: watch.pid).first { ProcessRunner.readText("/proc/\($0)/cmdline").contains("guardian") }
    }

    /// Processes whose command line contains `marker`.
    static func running(_ marker: String) -> [String] {
        ProcessRunner.run("/usr/bin/pgrep", ["-f", marker]).standardOutput.split(separator: "\n").map(String.init)
    }

    /// Waits up to `timeout` for `condition`; returns how long it took, or nil.
    static func time(_ timeout: Duration, _ condition: () throws -> Bool) rethrows -> Duration? {
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < timeout {
            if try condition() { return clock.now - start }
            usleep(5_000)
        }
        return try condition() ? clock.now - start : nil
    }

    // MARK: 7. Hooks die with watch, however it dies; every catchable signal stops it cleanly

    /// SIGKILL of watch at random moments while a hook runs: its guardian kills the hook's process group
    /// (the hook and its child) and re-enables the kernel killer.
    @Test func sigkilledWatchTakesItsHooksProcessGroupsWithIt() throws {
        var times: [Duration] = []
        for trial in 0..<10 {
            let test = try TestCgroup(limit: ByteCount(32 << 20))
            defer { test.destroy() }
            let marker = "7\(trial).\(getpid())"
            let watch = try RunningWatch([
                test.path.description, "--hook", "sleep \(marker) & sleep \(marker)", "--delay", "60s",
                "--no-self-protection",
            ])
            let hog = try test.spawnHog("100M")
            #expect(watch.waitFor { $0.output.contains("hook started") }, "\(watch.output)")
            // The hook's shell forks its two sleeps once it runs (the step is logged at its spawn).
            #expect(Self.time(.seconds(5)) { Self.running("^sleep \(marker)").count == 2 } != nil)
            usleep(UInt32.random(in: 0...300_000))
            watch.stop(signal: SIGKILL)
            let gone = Self.time(.seconds(3)) { Self.running("^sleep \(marker)").isEmpty }
            #expect(gone != nil, "trial \(trial): the hook and its child were killed")
            if let gone { times.append(gone) }
            #expect(ProcessRunner.wait(for: hog, timeout: .seconds(3)) == 128 + SIGKILL, "the kernel killer is back")
        }
        let worst = times.max() ?? .zero
        print("guardian killed the hooks' groups in 10 SIGKILLs: worst \(worst), all \(times)")
        #expect(worst < .seconds(1))
    }

    @Test(arguments: [SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGABRT])
    func catchableSignalsStopWatchLikeTerm(signal: Int32) throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let marker = "7s\(signal).\(getpid())"
        let watch = try RunningWatch([
            test.path.description, "--hook", "sleep \(marker)", "--delay", "60s", "--no-self-protection",
        ])
        let hog = try test.spawnHog("100M")
        #expect(watch.waitFor { $0.output.contains("hook started") }, "\(watch.output)")
        kill(watch.pid, signal)
        let status = ProcessRunner.wait(for: watch.pid, timeout: .seconds(5))
        #expect(status == 0, "signal \(signal): a clean stop, not death by the signal: \(watch.output)")
        #expect(watch.output.contains("stopped by signal \(signal)"), "\(watch.output)")
        #expect(!watch.output.contains("Program crashed"), "no backtrace")
        #expect(Self.running("^sleep \(marker)").isEmpty, "the hook was killed by the clean-up")
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(3)) == 128 + SIGKILL)
        #expect(try !Self.oomControl(test).oomKillDisable)
    }

    // MARK: 6. The guardian is watched

    @Test func aGuardianThatDiesIsRestartedAndToldEverything() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch([test.path.description, "--delay", "60s", "--json"])
        let first = try #require(Self.guardian(of: watch))
        kill(first, SIGKILL)
        #expect(
            watch.waitFor {
                $0.output.contains("the guardian (pid \(first)) was killed by signal 9; started a new one")
            },
            "\(watch.output)")
        let second = try #require(Self.guardian(of: watch))
        #expect(second != first)
        if FileIO.writeOOMScoreAdjustment(-1000, process: String(second)) {
            #expect(ProcessRunner.readText("/proc/\(second)/oom_score_adj") == "-1000\n")
        } else {
            // This machine refuses -1000 (no CAP_SYS_RESOURCE): said for the new guardian as for watch.
            #expect(watch.output.contains("the guardian's oom_score_adj not lowered to -1000"), "\(watch.output)")
            #expect(watch.output.contains("(pid \(second))"))
        }
        // The new guardian knows the armed cgroup: watch's death leaves nothing hanging.
        let hog = try test.spawnHog("100M")
        #expect(watch.waitFor { $0.output.contains("\"event\":\"oom\"") }, "\(watch.output)")
        watch.stop(signal: SIGKILL)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(3)) == 128 + SIGKILL, "the new guardian restored")
        #expect(try !Self.oomControl(test).oomKillDisable)
    }

    /// A guardian that stops reading (SIGSTOP) while watch has much to tell it (400 cgroups adopted
    /// under --recursive fill the socket): watch's send times out after a second, the guardian is
    /// killed and a new one is told everything; watch's death then leaves nothing hanging. Before, watch
    /// blocked in the send for as long as the guardian was stopped, OOMs and deadlines included.
    @Test func aGuardianThatStopsReadingIsReplaced() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let watch = try RunningWatch([test.path.description, "--recursive", "--delay", "60s", "--no-self-protection"])
        let first = try #require(Self.guardian(of: watch))
        kill(first, SIGSTOP)
        for index in 0..<400 { try test.makeChild("c\(index)") }
        let replaced = Self.time(.seconds(15)) { Self.guardian(of: watch).map { $0 != first } ?? false }
        #expect(replaced != nil, "\(watch.output)")
        let last = try test.makeChild("last", limit: ByteCount(32 << 20))
        #expect(watch.waitFor { $0.output.contains("watching new cgroup") && $0.output.contains("/last") })
        let hog = try test.spawnHog("100M", in: last)
        #expect(watch.waitFor { $0.output.contains("oom in") }, "\(watch.output)")
        watch.stop(signal: SIGKILL)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(5)) == 128 + SIGKILL, "the new guardian restored")
        kill(first, SIGKILL)
    }

    // MARK: 8. One watch per cgroup

    /// Two watches started at the same moment on one cgroup: the marker is set exclusively (XATTR_CREATE),
    /// so exactly one of them arms it and the other is refused with 75 — the check at start-up alone left
    /// a window in which both armed it, each then undoing the other's arming at its exit.
    @Test func ofTwoWatchesStartedAtOnceOneArms() throws {
        var bothRan = 0
        for trial in 0..<10 {
            let test = try TestCgroup(limit: ByteCount(32 << 20))
            defer { test.destroy() }
            let outputs = (0..<2).map { ProcessRunner.temporaryPath("race\($0).out") }
            defer { for path in outputs { unlink(path) } }
            let pids = try outputs.map { output in
                try #require(
                    ProcessRunner.spawn(
                        ProcessRunner.oomctlPath, ["watch", test.path.description, "--no-self-protection"],
                        standardOutput: output, standardError: output))
            }
            // Each either runs (its start-up line) or exits; wait until both have said which.
            var statuses: [Int32?] = [nil, nil]
            _ = Self.time(.seconds(10)) {
                for index in 0..<2 where statuses[index] == nil {
                    statuses[index] = ProcessRunner.wait(for: pids[index], timeout: .milliseconds(1))
                }
                return (0..<2).allSatisfy {
                    statuses[$0] != nil || ProcessRunner.readText(outputs[$0]).contains("watching ")
                }
            }
            let running = (0..<2).filter { statuses[$0] == nil }
            if running.count == 2 { bothRan += 1 }
            #expect(running.count == 1, "trial \(trial): \(outputs.map(ProcessRunner.readText))")
            for index in 0..<2 where statuses[index] != nil {
                #expect(statuses[index] == 75, "the other is refused: \(ProcessRunner.readText(outputs[index]))")
            }
            #expect(try Self.memory(test.path).oomControl().oomKillDisable, "armed by the one that runs")
            for index in running {
                kill(pids[index], SIGTERM)
                #expect(ProcessRunner.wait(for: pids[index], timeout: .seconds(10)) == 0)
            }
            #expect(try !Self.memory(test.path).oomControl().oomKillDisable, "and given back at its exit")
        }
        print("two watches started at once on one cgroup, 10 trials: both ran in \(bothRan)")
    }

    @Test func aSecondWatchOnAnArmedCgroupIsRefusedWith75() throws {
        let parent = try TestCgroup(limit: ByteCount(64 << 20))
        defer { parent.destroy() }
        let child = try parent.makeChild("armed", limit: ByteCount(32 << 20))
        let test = (path: child, parent: parent)
        let first = try RunningWatch([test.path.description, "--no-self-protection"])
        let second = ProcessRunner.oomctl(
            ["watch", test.path.description, "--no-self-protection"], timeout: .seconds(20))
        #expect(second.status == 75, "\(second)")
        #expect(second.standardError.contains("another oomctl watch (pid \(first.pid))"), "\(second)")
        #expect(try Self.memory(child).oomControl().oomKillDisable, "the first watch's arming stands")
        let recursive = ProcessRunner.oomctl(["watch", parent.path.description, "--recursive", "--no-self-protection"])
        #expect(recursive.status == 75, "a recursive watch above it too: \(recursive)")
        #expect(try Self.memory(child).oomControl().oomKillDisable)
        #expect(try !Self.memory(parent.path).oomControl().oomKillDisable, "refused before anything was armed")
        // A dry run arms nothing, so it may look on.
        let dry = try RunningWatch([test.path.description, "--dry-run", "--no-self-protection"])
        #expect(dry.output.contains("watching 1 cgroup"), "\(dry.output)")
        #expect(dry.stop() == 0)
        // Once the first one is dead with its guardian, its marker is a leftover: the next one starts.
        if let guardian = Self.guardian(of: first) { kill(guardian, SIGKILL) }
        first.stop(signal: SIGKILL)
        let next = try RunningWatch([test.path.description, "--no-self-protection"])
        #expect(next.output.contains("watching 1 cgroup"), "\(next.output)")
        #expect(next.stop() == 0)
    }

    // MARK: 12. A stopped watch holds no OOM past its deadline

    @Test func aStoppedWatchsOOMIsHandedBackAtItsDeadline() throws {
        var times: [Duration] = []
        for trial in 0..<3 {
            let test = try TestCgroup(limit: ByteCount(32 << 20))
            defer { test.destroy() }
            let watch = try RunningWatch([test.path.description, "--delay", "1s", "--no-self-protection"])
            kill(watch.pid, trial == 2 ? SIGTSTP : SIGSTOP)
            let clock = ContinuousClock()
            let start = clock.now
            let hog = try test.spawnHog("100M")
            #expect(ProcessRunner.wait(for: hog, timeout: .seconds(5)) == 128 + SIGKILL, "trial \(trial)")
            let took = clock.now - start
            times.append(took)
            #expect(took >= .seconds(1), "not before the deadline")
            #expect(took < .milliseconds(2500), "the deadline and the slack, not until watch continues")
            #expect(watch.output.contains("is stopped (state T) and held the OOM"), "\(watch.output)")
            kill(watch.pid, SIGCONT)
            // Back at work, watch disables the killer again for the next OOM.
            #expect(watch.waitFor { _ in (try? Self.oomControl(test).oomKillDisable) == true }, "\(watch.output)")
            #expect(watch.output.contains("not by watch"))
            #expect(watch.stop() == 0)
        }
        print("a stopped watch's OOM (--delay 1s) was handed back after \(times)")
    }

    /// A watch stuck in a write to its output (a pipe nobody reads, as a paused `watch | less`) holds no
    /// OOM past its deadline either: the guardian keeps a deadline of its own, whatever watch's state.
    @Test func aWatchStuckWritingItsOutputHoldsNoOOMPastItsDeadline() throws {
        var times: [Duration] = []
        for trial in 0..<3 {
            // The last trial: the guardian's standard error is that same pipe (as with `2>&1 | less`,
            // or the journal's stream): its own log must not block it.
            let shared = trial == 2
            let test = try TestCgroup(limit: ByteCount(32 << 20))
            defer { test.destroy() }
            let fifo = ProcessRunner.temporaryPath("watch.fifo")
            let errorPath = ProcessRunner.temporaryPath("watch.err")
            try #require(mkfifo(fifo, 0o600) == 0)
            defer {
                unlink(fifo)
                unlink(errorPath)
            }
            // The reader that reads only when told (opened first, so that watch's open does not wait).
            let reader = open(fifo, O_RDONLY | O_NONBLOCK)
            try #require(reader >= 0)
            defer { close(reader) }
            var output: [UInt8] = []
            func drain() {
                var buffer = [UInt8](repeating: 0, count: 65536)
                while case let count = read(reader, &buffer, buffer.count), count > 0 { output += buffer[..<count] }
            }
            let pid = try #require(
                ProcessRunner.spawn(
                    ProcessRunner.oomctlPath,
                    ["watch", test.path.description, "--delay", "1s", "--no-self-protection"],
                    standardOutput: fifo, standardError: shared ? fifo : errorPath))
            var status: Int32?
            defer {
                if status == nil {
                    kill(pid, SIGKILL)
                    drain()
                    _ = ProcessRunner.wait(for: pid, timeout: .seconds(5))
                }
            }
            // Armed and its start-up line out; then the pipe is filled, so that its next write blocks.
            #expect(
                Self.time(.seconds(10)) {
                    drain(); return String(decoding: output, as: UTF8.self).contains("watching ")
                } != nil)
            #expect(try Self.oomControl(test).oomKillDisable)
            let filler = open(fifo, O_WRONLY | O_NONBLOCK)
            try #require(filler >= 0)
            let block = [UInt8](repeating: UInt8(ascii: "."), count: 4096)
            while write(filler, block, block.count) > 0 {}
            close(filler)

            let clock = ContinuousClock()
            let start = clock.now
            let hog = try test.spawnHog("100M")
            #expect(ProcessRunner.wait(for: hog, timeout: .seconds(5)) == 128 + SIGKILL, "trial \(trial)")
            let took = clock.now - start
            times.append(took)
            #expect(took >= .seconds(1), "not before the deadline")
            #expect(took < .milliseconds(2500), "the deadline and the slack, not until someone reads")
            if !shared {
                let errors = ProcessRunner.readText(errorPath)
                // Where it waits: pipe_write, or anon_pipe_write on newer kernels.
                #expect(errors.contains("is not responding (state S, waiting in "), "\(errors)")
                #expect(errors.contains("pipe_write) and held the OOM"), "\(errors)")
            }
            if shared {
                // watch dies with the pipe still full: its guardian, which logged the hand-back to that
                // pipe, must not be stuck in that write — it reads the end and removes watch's marker.
                let guardian = Self.children(of: pid).first
                kill(pid, SIGKILL)
                status = ProcessRunner.wait(for: pid, timeout: .seconds(5))
                let restored = Self.time(.seconds(5)) {
                    (try? Self.memory(test.path)).map { KillerDisabledMarker.read(from: $0.cgroup) == nil } ?? false
                }
                #expect(restored != nil, "the guardian finished its restore although nobody reads its stderr")
                if let guardian, restored == nil { kill(guardian, SIGKILL) }
                continue
            }
            // Read at last, watch goes on: it disables the killer again and stops cleanly.
            #expect(
                Self.time(.seconds(10)) {
                    drain(); return (try? Self.oomControl(test).oomKillDisable) == true
                } != nil)
            kill(pid, SIGTERM)
            #expect(
                Self.time(.seconds(10)) {
                    drain(); status = ProcessRunner.wait(for: pid, timeout: .milliseconds(10)); return status != nil
                } != nil)
            #expect(status == 0)
            #expect(String(decoding: output, as: UTF8.self).contains("not by watch"))
        }
        print("a watch stuck writing to a full pipe (--delay 1s): its OOM was handed back after \(times)")
    }

    // MARK: 5. Limits a dead watch left raised

    @Test func theNextWatchRestoresALimitOnceUsageFitsRetrying() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        #expect(ProcessRunner.oomctl(["reserve", test.path.description, "16M", "-q"]).status == 0)
        let first = try RunningWatch(
            [test.path.description, "--hook", "sleep 30", "--delay", "60s", "--json", "--no-self-protection"])
        let hog = try test.spawnHog("40M", extra: ["--hold", "3s"])
        #expect(
            first.waitFor { $0.records.contains { $0["messageID"] == MessageID.reserveGranted.rawValue } },
            "\(first.output)")
        // Both die while the hog's 40M are charged: above the original 32M.
        if let guardian = Self.guardian(of: first) { kill(guardian, SIGKILL) }
        first.stop(signal: SIGKILL)
        #expect(try Self.limit(test) == ByteCount(48 << 20))
        let next = try RunningWatch([test.path.description, "--no-self-protection"])
        #expect(next.output.contains("cannot be restored yet"), "\(next.output)")
        let restored = try Self.time(.seconds(10)) { try Self.limit(test) == ByteCount(32 << 20) }
        #expect(restored != nil, "retried until usage fitted: \(next.output)")
        #expect(next.waitFor { $0.output.contains("restored the memory limit that a previous watch left raised") })
        print("leftover limit restored \(restored.map { "\($0)" } ?? "never") after the next start (hog held 3s)")
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(5)) == 0, "the hog was not killed")
        #expect(next.stop() == 0)
    }

    @Test func aLimitTheOperatorChangedWhileGrantedIsLeftAlone() throws {
        for killedTogether in [false, true] {
            let test = try TestCgroup(limit: ByteCount(32 << 20))
            defer { test.destroy() }
            #expect(ProcessRunner.oomctl(["reserve", test.path.description, "16M", "-q"]).status == 0)
            let watch = try RunningWatch(
                [test.path.description, "--hook", "sleep 30", "--delay", "60s", "--json", "--no-self-protection"])
            let hog = try test.spawnHog("40M", extra: ["--hold", "500ms"])
            #expect(
                watch.waitFor { $0.records.contains { $0["messageID"] == MessageID.reserveGranted.rawValue } },
                "\(watch.output)")
            try test.setLimit(ByteCount(64 << 20))  // the operator's
            if killedTogether, let guardian = Self.guardian(of: watch) { kill(guardian, SIGKILL) }
            watch.stop(signal: SIGKILL)
            #expect(ProcessRunner.wait(for: hog, timeout: .seconds(5)) == 0)
            usleep(300_000)
            #expect(try Self.limit(test) == ByteCount(64 << 20), "the guardian left the operator's limit")
            if killedTogether {
                let next = try RunningWatch([test.path.description, "--no-self-protection"])
                #expect(next.output.contains("it is not restored: the limit was set to 64M since"), "\(next.output)")
                #expect(try Self.limit(test) == ByteCount(64 << 20), "nor did the next start")
                #expect(try Self.memory(test.path).cgroup.extendedAttribute(ReserveGrantMarker.attribute) == nil)
                #expect(next.stop() == 0)
            }
        }
    }
}
