import Glibc
import OOMKit
import OOMTestSupport
import Testing

/// Issue 15, items 4 and 5: `oomctl watch` under a Type=notify unit, with systemd's notification socket
/// played by the test (systemd is not PID 1 here, and neither systemd-run nor systemd-notify is used),
/// on real v1 memcgs below the test's own.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct ServiceNotifyTests {
    static func armed(_ path: CgroupPath) -> Bool {
        (try? MemoryCgroup.open(path, in: CgroupSystem()).oomControl().oomKillDisable) == true
    }

    /// The guardian watch started (its child running `oomctl guardian`).
    static func guardian(of pid: pid_t) -> pid_t? {
        GuardianHardeningTests.children(of: pid).first {
            ProcessRunner.readText("/proc/\($0)/cmdline").contains("guardian")
        }
    }

    /// The variables of the notification protocol among `environment` lines (`env` output, or
    /// /proc/PID/environ split at NULs).
    static func notifyVariables(in environment: String) -> [String] {
        environment.split(whereSeparator: { $0 == "\n" || $0 == "\0" }).map(String.init).filter { entry in
            ["NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="].contains { entry.hasPrefix($0) }
        }
    }

    @Test func readyOnlyOnceEveryCgroupIsArmedThenStatusAsItChangesThenStoppingOnTerm() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        // Enough cgroups that arming them takes a while: a READY=1 sent before the last one is armed
        // would be seen here.
        let children = try (0..<30).map { try test.makeChild("c\($0)") }
        let oom = try test.makeChild("oom", limit: ByteCount(32 << 20))
        let socket = try NotifySocket()
        let directory = FixtureTree()
        let hook = #"env > "$OUT/hook.env"; exit 1"#
        let watch = try RunningWatch(
            [
                test.path.description, "--recursive", "--kill", "triggering", "--hook", hook, "--no-self-protection",
                "--json",
            ], environment: ["NOTIFY_SOCKET": socket.address, "OUT": directory.root], awaitingStart: false)
        let ready = try #require(socket.receive(timeout: .seconds(15)), "\(watch.output)")
        let unarmed = ([test.path, oom] + children).filter { !Self.armed($0) }
        let guardian = Self.guardian(of: watch.pid)
        #expect(unarmed.isEmpty, "every cgroup is armed by READY=1: \(unarmed)")
        #expect(guardian != nil, "the guardian is up by READY=1")
        #expect(ready.pid == watch.pid)
        let place = test.hierarchy.mountPoint + test.path.description
        #expect(ready.assignments == ["READY": "1", "STATUS": "watching 32 cgroups under \(place); 0 handlings"])
        if let guardian {
            let inherited = Self.notifyVariables(in: ProcessRunner.readText("/proc/\(guardian)/environ"))
            #expect(inherited.isEmpty, "the guardian cannot speak for watch: \(inherited)")
        }

        // A real OOM, handled: the status line counts it; the hook has no way to the manager.
        let hog = try test.spawnHog("100M", in: oom)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
        var messages = [ready]
        let handled = socket.receive(timeout: .seconds(5), skipped: &messages) {
            $0.assignments["STATUS"] == "watching 32 cgroups under \(place); 1 handling"
        }
        #expect(handled != nil, "\(messages) \(watch.output)")
        let hookEnvironment = ProcessRunner.readText(directory.root + "/hook.env")
        #expect(hookEnvironment.contains("OOMCTL_EVENT=oom\n"), "the hook ran: \(watch.output)")
        #expect(Self.notifyVariables(in: hookEnvironment).isEmpty, "\(hookEnvironment)")

        // A cgroup made later is adopted: said once it is watched.
        try test.makeChild("late")
        let adopted = socket.receive(timeout: .seconds(5), skipped: &messages) {
            $0.assignments["STATUS"] == "watching 33 cgroups under \(place); 1 handling"
        }
        #expect(adopted != nil, "\(messages)")

        #expect(watch.stop() == 0)
        let stopping = socket.receive(timeout: .seconds(2), skipped: &messages) { $0.assignments["STOPPING"] == "1" }
        #expect(stopping != nil, "\(messages)")
        messages += [handled, adopted, stopping].compactMap { $0 } + socket.collect(for: .milliseconds(200))
        #expect(messages.allSatisfy { $0.pid == watch.pid }, "\(messages)")
        #expect(!messages.contains { $0.assignments["WATCHDOG"] != nil }, "no WATCHDOG_USEC, no ping: \(messages)")
        #expect(messages.filter { $0.assignments["READY"] != nil }.count == 1)
        #expect(messages.last?.assignments["STOPPING"] == "1", "nothing after STOPPING=1: \(messages)")
        #expect(!Self.armed(oom) && !Self.armed(test.path), "restored on SIGTERM")
    }

    @Test func theWatchdogIsPingedEveryHalfIntervalOnlyWhenItIsWatchs() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let socket = try NotifySocket(abstract: true)
        let watch = try RunningWatch(
            [test.path.description, "--no-self-protection"],
            environment: ["NOTIFY_SOCKET": socket.address, "WATCHDOG_USEC": "400000"], awaitingStart: false)
        let ready = try #require(socket.receive(timeout: .seconds(10)), "\(watch.output)")
        #expect(ready.assignments["READY"] == "1" && ready.assignments["WATCHDOG"] == "1", "\(ready)")
        let pings = socket.collect(for: .milliseconds(1100))
        #expect(pings.allSatisfy { $0.text == "WATCHDOG=1" && $0.pid == watch.pid }, "\(pings)")
        let gaps = zip(pings.dropFirst(), pings).map { $0.receivedAt - $1.receivedAt }
        #expect((4...6).contains(pings.count), "one ping per 200 ms for 1.1 s: \(gaps)")
        #expect(gaps.allSatisfy { $0 >= .milliseconds(150) && $0 <= .milliseconds(300) }, "\(gaps)")
        if let guardian = Self.guardian(of: watch.pid) {
            #expect(Self.notifyVariables(in: ProcessRunner.readText("/proc/\(guardian)/environ")).isEmpty)
        }
        #expect(watch.stop() == 0)
        #expect(socket.collect(for: .milliseconds(200)).map(\.text).first?.hasPrefix("STOPPING=1\n") == true)

        // WATCHDOG_PID names another process (e.g. a shell that started watch): not watch's to ping.
        let other = try RunningWatch(
            [test.path.description, "--no-self-protection"],
            environment: ["NOTIFY_SOCKET": socket.address, "WATCHDOG_USEC": "400000", "WATCHDOG_PID": "1"],
            awaitingStart: false)
        let otherReady = try #require(socket.receive(timeout: .seconds(10)), "\(other.output)")
        #expect(otherReady.assignments["READY"] == "1" && otherReady.assignments["WATCHDOG"] == nil)
        #expect(socket.collect(for: .milliseconds(600)).isEmpty, "no ping")
        #expect(other.stop() == 0)
    }

    /// Item 4: two instances of oomctl-watch@.service on disjoint trees, as the template runs them: both
    /// ready, each arming and handling its own tree only; a third on a cgroup the first armed is refused
    /// (75) without a word to the manager.
    @Test func twoWatchesOnDisjointTreesRunSideBySideEachHandlingItsOwn() throws {
        let trees = try [TestCgroup(limit: ByteCount(32 << 20)), TestCgroup(limit: ByteCount(32 << 20))]
        defer { trees.forEach { $0.destroy() } }
        let directory = FixtureTree()
        let sockets = try [NotifySocket(), NotifySocket(abstract: true)]
        let names = ["first", "second"]
        let watches = try (0..<2).map { index in
            try RunningWatch(
                [
                    trees[index].path.description, "--kill", "triggering", "--hook",
                    #"echo "$OOMCTL_CGROUP" >> "$OUT/"# + names[index] + #"""#, "--no-self-protection", "--json",
                ], environment: ["NOTIFY_SOCKET": sockets[index].address, "OUT": directory.root], awaitingStart: false)
        }
        for index in 0..<2 {
            let ready = sockets[index].receive(timeout: .seconds(10))
            let place = trees[index].hierarchy.mountPoint + trees[index].path.description
            #expect(
                ready?.assignments["STATUS"] == "watching 1 cgroup under \(place); 0 handlings",
                "\(String(describing: ready))")
            #expect(ready?.pid == watches[index].pid && Self.armed(trees[index].path))
        }
        for index in 0..<2 {
            let hog = try trees[index].spawnHog("100M")
            #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
            #expect(
                watches[index].waitFor { $0.records.contains { $0["outcome"] == "killed" } }, "\(watches[index].output)"
            )
            for other in 0..<2 {
                let lines = ProcessRunner.readText(directory.root + "/" + names[other])
                // Once the first tree's hook ran twice (1 of 3 parallel runs): a look at under_oom 0 while
                // the woken hog retried its charge had credited it (fixed with Handler.v1SettleTime).
                #expect(
                    lines == (other <= index ? trees[other].path.description + "\n" : ""),
                    "\(names[other]): \(watches[other].output.suffix(3000))")
            }
        }
        #expect(!watches[1].output.contains(trees[0].path.description), "the second never saw the first's OOM")

        let third = try NotifySocket()
        let refused = ProcessRunner.oomctl(
            ["watch", trees[0].path.description, "--no-self-protection"], environment: ["NOTIFY_SOCKET": third.address])
        #expect(refused.status == 75, "\(refused)")
        #expect(third.collect(for: .milliseconds(200)).isEmpty, "no READY=1 (nor anything else) from a refused start")

        for index in 0..<2 {
            #expect(watches[index].stop() == 0)
            var skipped: [NotifySocket.Message] = []
            let stopping = sockets[index].receive(timeout: .seconds(2), skipped: &skipped) {
                $0.assignments["STOPPING"] == "1"
            }
            #expect(stopping?.pid == watches[index].pid, "\(skipped)")
            #expect(!Self.armed(trees[index].path))
        }
    }
}
