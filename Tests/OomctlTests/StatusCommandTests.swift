import Glibc
import OOMKit
import OOMTestSupport
import Testing

@testable import OomctlCommands

/// `oomctl status` against real watches on real v1 test cgroups: the control socket, what it reports
/// in each phase, who it answers, and hostile clients that must not delay a handling.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct StatusCommandTests {
    /// `oomctl status --pid PID --json`, decoded.
    private func status(of watch: RunningWatch) throws -> WatchStatus {
        let result = ProcessRunner.oomctl(["status", "--pid", "\(watch.pid)", "--json"])
        try #require(result.status == 0, "\(result)")
        let statuses = try JSONOutput.decode([WatchStatus].self, from: Array(result.standardOutput.utf8)).get()
        try #require(statuses.count == 1, "\(result)")
        return statuses[0]
    }

    private func socketPath(_ pid: pid_t) -> String {
        ControlSocketDirectory.system + "/" + ControlSocketDirectory.socketName(pid: pid)
    }

    @Test func anIdleWatchReportsItsCgroupsOptionsAndGuardianOnASocketOnlyRootMayUse() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch(
            [test.path.description, "--kill", "largest", "--delay", "3s", "--hook", "true", "--no-self-protection"])
        var socket = stat()
        try #require(lstat(socketPath(watch.pid), &socket) == 0, "the socket is there: \(watch.output)")
        #expect(socket.st_mode & S_IFMT == S_IFSOCK)
        #expect(socket.st_mode & 0o777 == 0o600)
        #expect(socket.st_uid == 0)

        let status = try status(of: watch)
        #expect(status.pid == watch.pid)
        #expect(status.uid == 0)
        #expect(status.version == Oomctl.version)
        #expect(status.options.targets == [test.path])
        #expect(status.options.action == "kill largest cgroup")
        #expect(status.options.delayMilliseconds == 3000)
        #expect(status.options.hooks == ["true"])
        #expect(status.options.events == ["1": [.oom]])
        #expect(status.cgroupCount == 1)
        #expect(status.cgroups.map(\.path) == [test.path])
        #expect(status.cgroups.map(\.version) == [.v1] && status.cgroups.map(\.armed) == [true])
        #expect(status.cgroups.map(\.reserveGranted) == [nil])
        #expect(status.handlings.isEmpty && status.recent.isEmpty)
        let guardian = try #require(status.guardian)
        #expect(guardian.alive && guardian.restarts == 0 && kill(guardian.pid, 0) == 0)

        let human = ProcessRunner.oomctl(["status", "--pid", "\(watch.pid)"])
        #expect(human.status == 0)
        #expect(human.standardOutput.hasPrefix("● oomctl watch, pid \(watch.pid), uid 0"), "\(human)")
        #expect(human.standardOutput.contains("Guardian: pid \(guardian.pid), alive"), "\(human)")
        #expect(human.standardOutput.contains("Cgroups: 1 watched, 1 armed"), "\(human)")
    }

    @Test func aHandlingShowsItsPhaseWhileItRunsAndItsOutcomeAfter() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch(
            [
                test.path.description, "--hook", "sleep 1.5", "--kill", "largest", "--delay", "5s",
                "--no-self-protection",
            ])
        let hog = try test.spawnHog("100M")
        var during: WatchStatus.HandlingInProgress?
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while during == nil && clock.now < deadline {
            during = try status(of: watch).handlings.first { $0.phase == "hook" }
            if during == nil { usleep(20_000) }
        }
        let handling = try #require(during, "a handling in its hook phase: \(watch.output)")
        #expect(handling.cgroup == test.path)
        #expect(handling.event == .oom)
        #expect(handling.detail == "sleep 1.5")
        #expect(handling.ageMilliseconds >= 0 && handling.ageMilliseconds < 1500)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)

        var after = try status(of: watch)
        for _ in 0..<100 where after.recent.isEmpty {
            usleep(20_000)
            after = try status(of: watch)
        }
        let finished = try #require(after.recent.first, "\(watch.output)")
        #expect(finished.id == handling.id)
        #expect(finished.outcome == .killed)
        #expect(finished.durationMilliseconds >= 1500)
        #expect(finished.killed?.hasPrefix("1 process in \(test.path)") == true, "\(finished)")
        #expect(after.handlings.isEmpty && after.finishedCount == 1)
        let human = ProcessRunner.oomctl(["status", "--pid", "\(watch.pid)"]).standardOutput
        #expect(human.contains("Last handlings:") && human.contains("killed: 1 process in \(test.path)"), "\(human)")

        // The same watch's metrics, as --metrics-file would write them (recorded unless --no-metrics).
        let metrics = ProcessRunner.oomctl(["status", "--pid", "\(watch.pid)", "--metrics"])
        #expect(metrics.status == 0, "\(metrics)")
        let samples = try ExpositionText.parse(metrics.standardOutput)
        let cgroup = test.path.description
        #expect(samples.value("oomctl_handlings_total", ["cgroup": cgroup, "outcome": "killed"]) == 1, "\(metrics)")
        #expect(samples.value("oomctl_kills_total", ["cgroup": cgroup]) == 1)
        #expect(samples.value("oomctl_hook_runs_total", ["cgroup": cgroup, "status": "succeeded"]) == 1)
    }

    /// `--unit`: the watch whose cgroup is the unit's, as systemd names a template instance's cgroup
    /// (here one of the test's own, with a second watch elsewhere that must not answer).
    @Test func aWatchIsFoundByTheUnitItRunsIn() throws {
        let test = try TestCgroup(limit: ByteCount(64 << 20))
        defer { test.destroy() }
        let watched = try test.makeChild("watched", limit: ByteCount(32 << 20))
        let elsewhere = try test.makeChild("elsewhere", limit: ByteCount(32 << 20))
        let unit = "oomctl-watch@t\(getpid())"
        let unitCgroup = try test.makeChild(unit + ".service")
        let inUnit = try RunningWatch(
            [watched.description, "--no-self-protection"],
            environment: ["OOMCTL_TEST_CGROUP": test.filesystemPath(unitCgroup)],
            launcher: ["/bin/sh", "-c", #"echo $$ > "$OOMCTL_TEST_CGROUP/cgroup.procs" && exec "$@""#, "sh"])
        let other = try RunningWatch([elsewhere.description, "--no-self-protection"])
        for name in [unit, unit + ".service"] {
            let result = ProcessRunner.oomctl(["status", "--unit", name, "--json"])
            #expect(result.status == 0, "\(result)")
            let statuses = try JSONOutput.decode([WatchStatus].self, from: Array(result.standardOutput.utf8)).get()
            #expect(statuses.map(\.pid) == [inUnit.pid], "\(name): only the unit's watch answers")
        }
        let none = ProcessRunner.oomctl(["status", "--unit", "oomctl-watch@nothing"])
        #expect(none.status == 69, "\(none)")
        #expect(none.standardError.contains("no oomctl watch is running in the unit oomctl-watch@nothing"))
        let both = ProcessRunner.oomctl(["status", "--unit", unit, "--pid", "\(other.pid)"])
        #expect(both.status == 64, "\(both)")
        #expect(inUnit.stop() == 0)
        #expect(other.stop() == 0)
    }

    /// `--no-metrics`: nothing recorded, and `status --metrics` says why (exit 69, nothing on stdout).
    @Test func aWatchWithoutMetricsSaysSo() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch([test.path.description, "--no-metrics", "--no-self-protection"])
        let metrics = ProcessRunner.oomctl(["status", "--pid", "\(watch.pid)", "--metrics"])
        #expect(metrics.status == 69, "\(metrics)")
        #expect(metrics.standardError.contains("records no metrics (it runs with --no-metrics)"), "\(metrics)")
        #expect(metrics.standardOutput.isEmpty)
        #expect(watch.stop() == 0)
        let refused = ProcessRunner.oomctl(
            ["watch", test.path.description, "--no-metrics", "--metrics-file", "/tmp/x.prom"], timeout: .seconds(20))
        #expect(refused.status == 64, "\(refused)")
        #expect(refused.standardError.contains("--metrics-file needs metrics: drop it or --no-metrics"), "\(refused)")
    }

    @Test func noWatchIsUnavailableWithHowToStartOne() throws {
        // This test process runs no watch: its PID names none.
        let result = ProcessRunner.oomctl(["status", "--pid", "\(getpid())"])
        #expect(result.status == ExitStatus.unavailable.rawValue, "\(result)")
        #expect(result.standardOutput.isEmpty)
        #expect(result.standardError.contains("no oomctl watch with PID \(getpid()) is running"), "\(result)")
        #expect(result.standardError.contains("start one with 'oomctl watch CGROUP'"), "\(result)")
        let json = ProcessRunner.oomctl(["status", "--pid", "\(getpid())", "--json"])
        #expect(json.status == ExitStatus.unavailable.rawValue)
        #expect(json.standardOutput == "[\n\n]\n" || json.standardOutput == "[]\n", "\(json)")
        #expect(ProcessRunner.oomctl(["status", "--json", "--metrics"]).status == ExitStatus.usage.rawValue)
    }

    @Test func anotherUserIsRefusedByTheSocketMode() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch([test.path.description, "--no-self-protection"])
        let result = ProcessRunner.run(
            "/usr/bin/setpriv",
            [
                "--reuid=65534", "--regid=65534", "--clear-groups", ProcessRunner.oomctlPath, "status", "--pid",
                "\(watch.pid)",
            ])
        #expect(result.status == ExitStatus.noPermission.rawValue, "\(result)")
        #expect(result.standardError.contains("permission denied"), "\(result)")
        #expect(result.standardError.contains("run oomctl status as root or as the user the watch runs as"))
    }

    /// Replies kept for clients that do not read them take at most ControlServer.maximumReply bytes
    /// together (the heap of a watch that locks its memory stays grown): the next client is told busy
    /// until they are read, and is then answered.
    @Test func repliesKeptForSlowReadersAreBoundedTogether() throws {
        let base = ProcessRunner.temporaryPath("runtime")
        #expect(mkdir(base, 0o700) == 0)
        defer {
            _ = unlink(base + "/oomctl/" + ControlSocketDirectory.socketName(pid: getpid()))
            _ = rmdir(base + "/oomctl")
            _ = rmdir(base)
        }
        let loop = try EventLoop()
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: 600 << 10)
        let server = try ControlServer(directory: base + "/oomctl", loop: loop) { _ in .ok(body) }
        defer { server.shutDown() }
        func ask() throws -> Int32 {
            let descriptor = ControlClient.connect(server.path, timeout: .seconds(2))
            try #require(descriptor >= 0)
            #expect(send(descriptor, "status\n", 7, Int32(MSG_NOSIGNAL)) == 7)
            for _ in 0..<20 { loop.runOnce(timeout: .milliseconds(5)) }
            return descriptor
        }
        /// Everything the server sends until it closes, the server's loop run meanwhile.
        func readAll(_ descriptor: Int32) -> [UInt8] {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            let end = ContinuousClock().now + .seconds(5)
            while ContinuousClock().now < end {
                loop.runOnce(timeout: .milliseconds(2))
                let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if count == 0 { break }
                if count > 0 { received += buffer.prefix(count) }
            }
            close(descriptor)
            return received
        }
        let slow = try ask()
        #expect(server.keptReplyBytes == body.count + 3, "the slow reader's reply is kept")
        let refused = readAll(try ask())
        #expect(String(decoding: refused, as: UTF8.self).hasPrefix("error busy: replies to other clients take"))
        #expect(readAll(slow) == Array("ok\n".utf8) + body, "the slow reader gets its whole reply")
        #expect(server.keptReplyBytes == 0)
        #expect(readAll(try ask()) == Array("ok\n".utf8) + body, "and the next client is answered")
    }

    /// The second lock: a socket another user can reach (its mode widened here on purpose) still answers
    /// only root and the watch's own user (SO_PEERCRED).
    @Test func anotherUserIsRefusedByThePeerCredentialsEvenWhenTheModeLetsThemIn() throws {
        let base = ProcessRunner.temporaryPath("runtime")
        #expect(mkdir(base, 0o755) == 0)
        defer {
            _ = unlink(base + "/oomctl/" + ControlSocketDirectory.socketName(pid: getpid()))
            _ = rmdir(base + "/oomctl")
            _ = rmdir(base)
        }
        let loop = try EventLoop()
        let server = try ControlServer(directory: base + "/oomctl", loop: loop) { _ in .ok(Array("{}".utf8)) }
        defer { server.shutDown() }
        #expect(chmod(base + "/oomctl", 0o755) == 0 && chmod(server.path, 0o666) == 0)
        let output = ProcessRunner.temporaryPath("refused.out")
        let errors = ProcessRunner.temporaryPath("refused.err")
        defer {
            unlink(output)
            unlink(errors)
        }
        let child = try #require(
            ProcessRunner.spawn(
                "/usr/bin/setpriv",
                [
                    "--reuid=65534", "--regid=65534", "--clear-groups", ProcessRunner.oomctlPath, "status", "--pid",
                    "\(getpid())",
                ],
                environment: ["XDG_RUNTIME_DIR": base], standardOutput: output, standardError: errors))
        var status: Int32?
        for _ in 0..<500 where status == nil {
            loop.runOnce(timeout: .milliseconds(10))
            status = ProcessRunner.wait(for: child, timeout: .milliseconds(1))
        }
        let stderr = ProcessRunner.readText(errors)
        #expect(status == ExitStatus.noPermission.rawValue, "\(stderr)")
        #expect(stderr.contains("only root and uid 0 may ask this watch"), "\(stderr)")
        #expect(server.clientCount == 0)
        #expect(ControlServer.mayServe(peer: 0, own: 1000) && ControlServer.mayServe(peer: 1000, own: 1000))
        #expect(!ControlServer.mayServe(peer: 65534, own: 1000))
    }

    @Test func theSocketGoesWithTheWatchAndAKilledWatchsSocketIsSkippedThenCleaned() throws {
        let first = try TestCgroup(limit: ByteCount(32 << 20))
        defer { first.destroy() }
        let stopped = try RunningWatch([first.path.description, "--no-self-protection"])
        let stoppedSocket = socketPath(stopped.pid)
        #expect(access(stoppedSocket, F_OK) == 0)
        #expect(stopped.stop() == 0)
        #expect(access(stoppedSocket, F_OK) != 0, "SIGTERM removes the socket")

        let killed = try RunningWatch([first.path.description, "--no-self-protection"])
        let killedSocket = socketPath(killed.pid)
        #expect(access(killedSocket, F_OK) == 0)
        killed.stop(signal: SIGKILL)
        #expect(access(killedSocket, F_OK) == 0, "SIGKILL leaves it behind")
        let skipped = ProcessRunner.oomctl(["status", "--pid", "\(killed.pid)"])
        #expect(skipped.status == ExitStatus.unavailable.rawValue, "\(skipped)")
        #expect(skipped.standardError.contains("no oomctl watch with PID \(killed.pid) is running"))

        // The guardian of the killed watch restores its cgroup; the next watch removes the stale socket.
        let second = try TestCgroup(limit: ByteCount(32 << 20))
        defer { second.destroy() }
        let next = try RunningWatch([second.path.description, "--no-self-protection"])
        #expect(next.output.contains("watching "), "\(next.output)")
        #expect(access(killedSocket, F_OK) != 0, "the next watch removed the stale socket")
        #expect(try status(of: next).pid == next.pid)
    }

    /// A watch in another PID namespace (a container's PID 1, /run shared) sees the host's watches' PIDs
    /// as gone: before, it removed their sockets as stale, and `oomctl status` lost them. Now a socket
    /// goes only when nobody listens to it; and a second namespace's PID 1 does not take the first's.
    @Test func aWatchInAnotherPIDNamespaceLeavesOtherWatchesSocketsAlone() throws {
        let host = try TestCgroup()
        defer { host.destroy() }
        let first = try TestCgroup()
        defer { first.destroy() }
        let second = try TestCgroup()
        defer { second.destroy() }
        let watch = try RunningWatch([host.path.description, "--no-self-protection"])
        // Stopped by a SIGTERM to unshare, which passes it on to its child as that dies.
        let namespaced = ["/usr/bin/unshare", "--pid", "--fork", "--mount-proc", "--kill-child=SIGTERM"]
        let inner = try RunningWatch([first.path.description, "--no-self-protection"], launcher: namespaced)
        #expect(inner.output.contains("watching 1 cgroup"), "\(inner.output)")
        #expect(access(socketPath(watch.pid), F_OK) == 0, "the host watch's socket stays")
        #expect(try status(of: watch).pid == watch.pid)
        #expect(access(socketPath(1), F_OK) == 0, "the namespaced watch listens as PID 1")

        let other = try RunningWatch([second.path.description, "--no-self-protection"], launcher: namespaced)
        #expect(
            other.output.contains("no control socket, oomctl status will not see this watch")
                && other.output.contains("served by another watch of the same PID"), "\(other.output)")
        let answer = ProcessRunner.oomctl(["status", "--pid", "1", "--json"])
        #expect(answer.status == 0, "\(answer)")
        #expect(answer.standardOutput.contains(first.path.description), "the first one still answers: \(answer)")
        #expect(try status(of: watch).pid == watch.pid)
        other.stop()
        inner.stop()
        #expect(watch.stop() == 0)
        // Both namespaced watches stopped as watches do: their cgroups disarmed, the socket removed.
        func disarmed(_ test: TestCgroup) -> Bool {
            (try? FileIO.readText(path: test.directory + "/memory.oom_control"))?.contains("oom_kill_disable 0") == true
        }
        let stopped = GuardianHardeningTests.time(.seconds(10)) {
            disarmed(first) && disarmed(second) && access(socketPath(1), F_OK) != 0
        }
        #expect(stopped != nil)
    }

    /// Root's `status` also asks the sockets in every user's /run/user/UID/oomctl, a directory that user
    /// controls. A link there to another socket is not followed; a server of that user that drips its
    /// answer a byte at a time is cut off at the time-out for the whole answer (it was per read: never);
    /// control sequences in what it sends do not reach the terminal.
    @Test func rootsStatusTrustsNothingAUsersDirectoryHolds() throws {
        let uid: uid_t = 4242
        let user = "/run/user/\(uid)"
        let madeRunUser = mkdir("/run/user", 0o755) == 0
        try #require(mkdir(user, 0o700) == 0, "\(user) is this test's own")
        let directory = user + "/oomctl"
        #expect(mkdir(directory, 0o700) == 0 && chown(user, uid, uid) == 0 && chown(directory, uid, uid) == 0)
        var servers: [pid_t] = []
        defer {
            for server in servers {
                kill(server, SIGKILL)
                _ = ProcessRunner.wait(for: server)
            }
            for name in ControlSocketDirectory.entries(of: directory) { unlink(directory + "/" + name) }
            rmdir(directory)
            rmdir(user)
            if madeRunUser { rmdir("/run/user") }
        }
        let test = try TestCgroup()
        defer { test.destroy() }
        let watch = try RunningWatch([test.path.description, "--no-self-protection"])
        let link = directory + "/" + ControlSocketDirectory.socketName(pid: 2_000_000_001)
        #expect(symlink(socketPath(watch.pid), link) == 0)

        // Servers of that user: one drips "ok" and then a byte every 200 ms, one sends escapes.
        let script = """
            import socket, sys, time
            s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
            while True:
                c, _ = s.accept(); c.recv(256)
                try:
                    if sys.argv[2] == "drip":
                        c.sendall(b"ok\\n")
                        while True: c.sendall(b"#"); time.sleep(0.2)
                    c.sendall(b"ok\\nevil\\x1b[2J\\x07 1\\n")
                except OSError: pass
                c.close()
            """
        for (pid, mode) in [(Int32(2_000_000_002), "drip"), (Int32(2_000_000_003), "escapes")] {
            let path = directory + "/" + ControlSocketDirectory.socketName(pid: pid)
            let server = try #require(
                ProcessRunner.spawn(
                    "/usr/bin/setpriv",
                    [
                        "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "/usr/bin/python3", "-c", script, path,
                        mode,
                    ]))
            servers.append(server)
            #expect(GuardianHardeningTests.time(.seconds(10)) { access(path, F_OK) == 0 } != nil, "\(mode) listens")
        }

        let all = ProcessRunner.oomctl(["status", "--json"], timeout: .seconds(30))
        #expect(all.status == 0, "\(all)")
        let statuses = try JSONOutput.decode([WatchStatus].self, from: Array(all.standardOutput.utf8)).get()
        #expect(statuses.filter { $0.pid == watch.pid }.count == 1, "the real watch once, not again by the link")
        #expect(all.standardError.contains("skipped: \(link) is not a socket of uid \(uid)"), "\(all)")

        let clock = ContinuousClock()
        let start = clock.now
        let dripped = ProcessRunner.oomctl(["status", "--pid", "2000000002"], timeout: .seconds(30))
        let took = clock.now - start
        #expect(dripped.status == ExitStatus.unavailable.rawValue, "\(dripped)")
        #expect(dripped.standardError.contains("no whole answer within 5"), "\(dripped)")
        #expect(took < .seconds(8), "cut off at the 5 s time-out, took \(took)")

        let escapes = ProcessRunner.oomctl(["status", "--pid", "2000000003", "--metrics"], timeout: .seconds(10))
        #expect(escapes.status == 0, "\(escapes)")
        #expect(!escapes.standardOutput.contains("\u{1B}") && !escapes.standardOutput.contains("\u{07}"))
        #expect(escapes.standardOutput.contains("evil\\x1b[2J\\x07 1"), "\(escapes)")
        #expect(watch.stop() == 0)
    }

    /// Connections that never read, never send, send garbage or a huge line, and more of them than are
    /// served: a real OOM is handled as fast as without them.
    @Test func hostileClientsDoNotDelayAHandling() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch(
            [test.path.description, "--kill", "largest", "--process", "--json", "--no-self-protection"])
        let socket = socketPath(watch.pid)
        var connected = 0
        func handle(hostile: Bool) throws -> Int64 {
            // Kills, not all handlings: one hog can also wake a handling that finds it resolved.
            func kills() -> [[String: String]] { watch.records.filter { $0["outcome"] == "killed" } }
            let before = kills().count
            var clients: [Int32] = []
            defer {
                connected += clients.count
                clients.forEach { close($0) }
            }
            // More than are served at once, before the OOM, and more coming while it is handled.
            if hostile { for _ in 0..<3 { clients += Self.hostileClients(socket) } }
            let hog = try test.spawnHog("100M")
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(15)
            while clock.now < deadline && ProcessRunner.wait(for: hog, timeout: .milliseconds(1)) == nil {
                if hostile && clients.count < 200 { clients += Self.hostileClients(socket) }
                usleep(1000)
            }
            #expect(watch.waitFor { _ in kills().count > before }, "\(watch.output)")
            let finished = kills()
            guard finished.count > before, let last = finished.last else { return -1 }
            return Int64(last["duration_usec"] ?? "") ?? -1
        }
        var quiet: [Int64] = []
        var hostile: [Int64] = []
        for _ in 0..<3 {
            quiet.append(try handle(hostile: false))
            usleep(300_000)
            hostile.append(try handle(hostile: true))
            usleep(300_000)
        }
        print("handling time, µs: without hostile clients \(quiet), with \(connected) of them \(hostile)")
        #expect(connected >= 3 * 4, "the hostile clients did connect")
        #expect(quiet.allSatisfy { $0 > 0 } && hostile.allSatisfy { $0 > 0 })
        // A loop blocked on one client would wait at least its time-out (2 s) before the kill.
        let slowestQuiet = quiet.max() ?? 0
        #expect(hostile.allSatisfy { $0 < slowestQuiet + 500_000 }, "quiet \(quiet), hostile \(hostile)")
        // And the watch still answers afterwards (every hostile client was dropped).
        usleep(2_200_000)
        let handled = watch.records.filter { $0["outcome"] != nil }.count
        #expect(try status(of: watch).recent.count == min(handled, StatusRecorder.recentLimit))
    }

    /// One of each: connects and sends nothing; asks and never reads (its receive buffer shrunk);
    /// sends garbage without a newline; sends a huge line.
    private static func hostileClients(_ socket: String) -> [Int32] {
        var clients: [Int32] = []
        for kind in 0..<4 {
            let descriptor = ControlClient.connect(socket, timeout: .milliseconds(50))
            guard descriptor >= 0 else { continue }
            clients.append(descriptor)
            switch kind {
            case 1:
                var size: Int32 = 1
                setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
                _ = send(descriptor, "status\n", 7, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            case 2:
                let garbage = (0..<4096).map { _ in UInt8.random(in: 0...255) }.filter { $0 != 10 }
                _ = send(descriptor, garbage, garbage.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            case 3:
                let huge = [UInt8](repeating: UInt8(ascii: "s"), count: 1 << 20) + [10]
                _ = send(descriptor, huge, huge.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            default: break
            }
        }
        return clients
    }
}
