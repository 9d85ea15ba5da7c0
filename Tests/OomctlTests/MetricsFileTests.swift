import CoreMetrics
import Glibc
import OOMKit
import OOMTestSupport
import Prometheus
import Testing

@testable import OomctlCommands

/// The metrics file's samples, parsed (nil while it does not exist).
private func samples(_ path: String) throws -> [ExpositionSample]? {
    guard access(path, F_OK) == 0 else { return nil }
    return try ExpositionText.parse(ProcessRunner.readText(path))
}

private func fileStatus(_ path: String) -> stat? {
    var info = stat()
    return lstat(path, &info) == 0 ? info : nil
}

/// A field of /proc/PID/status, as a number.
private func statusField(_ pid: pid_t, _ field: String) -> Int? {
    for line in ProcessRunner.readText("/proc/\(pid)/status").split(separator: "\n")
    where line.hasPrefix(field + ":") {
        return Int(line.dropFirst(field.count + 1).split(whereSeparator: \.isWhitespace).first ?? "")
    }
    return nil
}

/// /proc/PID/schedstat: nanoseconds run on a CPU and the times it was put on one. Both stay the same
/// while a process sleeps, whether its wake-ups would have been voluntary (a timer) or not (a spin).
private func schedulerStatistics(_ pid: pid_t) -> [UInt64] {
    ProcessRunner.readText("/proc/\(pid)/schedstat").split(separator: " ").prefix(3).compactMap {
        UInt64($0.filter(\.isNumber))
    }
}

/// `oomctl watch --metrics-file` on the real v1 hierarchy.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct MetricsFileTests {
    /// One real OOM, killed: the counters move by exactly what happened; the file is replaced (a new
    /// inode, mode 0644) and then left alone while the watch is idle, which is never woken.
    @Test func aRealOOMMovesTheCountersExactlyAndAnIdleWatchNeverWrites() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let directory = FixtureTree()
        let file = directory.root + "/oomctl.prom"
        let watch = try RunningWatch([
            test.path.description, "--hook", "exit 3", "--kill", "largest", "--process", "--no-self-protection",
            "--metrics-file", file, "--metrics-interval", "100ms",
        ])
        #expect(watch.waitFor { _ in access(file, F_OK) == 0 }, "\(watch.output)")
        let first = try #require(fileStatus(file))
        let before = try #require(try samples(file))
        let cgroup = test.path.description
        #expect(before.value("oomctl_watched_cgroups") == 1)
        #expect(before.value("oomctl_armed_cgroups") == 1)
        #expect(before.value("oomctl_handlings_in_progress") == 0)
        #expect(before.sum("oomctl_handlings_total") == 0)

        let hog = try test.spawnHog("100M")
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
        #expect(
            watch.waitFor { _ in ((try? samples(file))??.sum("oomctl_handlings_total") ?? 0) > 0 },
            "\(watch.output)")
        // The handling is over once counted: what the file says now is what the watch counted.
        usleep(300_000)
        let after = try #require(try samples(file))
        #expect(after.value("oomctl_handlings_total", ["cgroup": cgroup, "outcome": "killed"]) == 1)
        #expect(after.sum("oomctl_handlings_total") == 1, "one handling, no other outcome")
        #expect(after.value("oomctl_kills_total", ["cgroup": cgroup]) == 1)
        #expect(after.value("oomctl_killed_processes_total", ["cgroup": cgroup]) == 1)
        #expect((after.value("oomctl_freed_bytes_total", ["cgroup": cgroup]) ?? 0) > 0)
        #expect(after.value("oomctl_hook_runs_total", ["cgroup": cgroup, "status": "failed"]) == 1, "exit 3")
        #expect(after.sum("oomctl_hook_runs_total") == 1)
        #expect(after.sum("oomctl_hook_timeouts_total") == 0)
        #expect(after.sum("oomctl_kernel_fallbacks_total") == 0)
        #expect((after.value("oomctl_events_total", ["cgroup": cgroup, "kind": "oom"]) ?? 0) >= 1)
        #expect(after.value("oomctl_detection_to_victim_dead_seconds_count") == 1)
        #expect(after.value("oomctl_detection_to_hook_start_seconds_count") == 1)
        #expect(after.value("oomctl_hook_duration_seconds_count") == 1)
        #expect(after.value("oomctl_handlings_in_progress") == 0)
        #expect(after.value("oomctl_armed_cgroups") == 1, "re-armed after the kill")
        #expect((after.value("oomctl_resident_memory_bytes") ?? 0) > 0)

        let replaced = try #require(fileStatus(file))
        #expect(replaced.st_ino != first.st_ino, "replaced by a rename, not rewritten in place")
        #expect(replaced.st_mode & 0o7777 == 0o644 && replaced.st_mode & S_IFMT == S_IFREG)
        let temporaries = ProcessRunner.run("/bin/sh", ["-c", "ls -A '\(directory.root)'"]).standardOutput
        #expect(temporaries == "oomctl.prom\n", "no temporary file is left behind")

        // Idle: no write, and no wake-up of the watch at all — once what the handling left has run (a
        // last write at most --metrics-interval after the last change; the kill's and hooks' timers).
        var settled = statusField(watch.pid, "voluntary_ctxt_switches")
        for _ in 0..<8 {
            usleep(1_500_000)
            let now = statusField(watch.pid, "voluntary_ctxt_switches")
            if now == settled { break }
            settled = now
        }
        let switches = try #require(statusField(watch.pid, "voluntary_ctxt_switches"))
        let scheduled = schedulerStatistics(watch.pid)
        #expect(scheduled.count == 3)
        let text = ProcessRunner.readText(file)
        let inode = fileStatus(file)?.st_ino
        usleep(2_000_000)
        #expect(fileStatus(file)?.st_ino == inode, "not rewritten while idle")
        #expect(ProcessRunner.readText(file) == text)
        #expect(statusField(watch.pid, "voluntary_ctxt_switches") == switches, "not woken while idle")
        let idle = schedulerStatistics(watch.pid)
        #expect(idle[0] == scheduled[0] && idle[2] == scheduled[2], "never on a CPU while idle: \(scheduled) → \(idle)")
        #expect(watch.stop() == 0)
    }

    /// A metrics file that is a symbolic link is refused (exit 73), its target left alone.
    @Test func aSymbolicLinkIsRefused() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let directory = FixtureTree()
        let target = directory.root + "/target"
        _ = ProcessRunner.run(
            "/bin/sh", ["-c", "echo theirs > '\(target)' && ln -s target '\(directory.root)/m.prom'"])
        let result = ProcessRunner.oomctl([
            "watch", test.path.description, "--no-self-protection", "--metrics-file", directory.root + "/m.prom",
        ])
        #expect(result.status == 73, "\(result)")
        #expect(result.standardError.contains("symbolic link"), "\(result)")
        #expect(ProcessRunner.readText(target) == "theirs\n")
        #expect(try !MemoryCgroup.open(test.path, in: CgroupSystem()).oomControl().oomKillDisable, "restored")
    }

    /// --metrics-cgroup-limit 1: the first cgroup with an OOM has series of its own, the next one is
    /// counted as cgroup="(other)", and the total is still the sum.
    @Test func cgroupsBeyondTheLimitAreFoldedIntoOther() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let first = try test.makeChild("a", limit: ByteCount(32 << 20))
        let second = try test.makeChild("b", limit: ByteCount(32 << 20))
        let directory = FixtureTree()
        let file = directory.root + "/oomctl.prom"
        let watch = try RunningWatch([
            test.path.description, "--recursive", "--kill", "largest", "--process", "--no-self-protection",
            "--metrics-file", file, "--metrics-interval", "0s", "--metrics-cgroup-limit", "1",
        ])
        for (index, cgroup) in [first, second].enumerated() {
            let hog = try test.spawnHog("100M", in: cgroup)
            #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
            #expect(
                watch.waitFor { _ in
                    ((try? samples(file))??.sum("oomctl_handlings_total", where: ["outcome": "killed"]) ?? 0)
                        == Double(index + 1)
                }, "\(watch.output)")
        }
        let after = try #require(try samples(file))
        #expect(after.value("oomctl_watched_cgroups") == 3)
        #expect(after.value("oomctl_handlings_total", ["cgroup": first.description, "outcome": "killed"]) == 1)
        #expect(after.value("oomctl_handlings_total", ["cgroup": "(other)", "outcome": "killed"]) == 1)
        #expect(!after.contains { $0.labels["cgroup"] == second.description }, "no series of its own")
        #expect(Set(after.compactMap { $0.labels["cgroup"] }) == [first.description, "(other)"])
        #expect(watch.stop() == 0)
    }
}

/// ``WatchMetrics`` into a registry of its own: names, labels and folding without a kernel.
@Suite struct WatchMetricsTests {
    @Test func stepsBecomeSeriesAndTheLabelCapHolds() throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = WatchMetrics(cgroupLimit: 2, factory: PrometheusMetricsFactory(registry: registry))
        var changes = 0
        metrics.onChange = { changes += 1 }
        let paths = try ["/a", "/b", "/c", "/d"].map { try CgroupPath($0) }
        for (index, path) in paths.enumerated() {
            var report = HandlingReport(id: index + 1, cgroup: path, event: .oom, count: 1)
            report.outcome = index == 0 ? .killed : .fellBackToKernel
            metrics.record(OOMEvent(kind: .oom, cgroup: path, count: 2, detectedAt: ContinuousClock().now))
            metrics.record(.detected(report))
            metrics.record(.finished(report))
        }
        metrics.record(
            OOMEvent(kind: .oomKill, cgroup: paths[1], count: 3, detectedAt: ContinuousClock().now))
        metrics.update(WatchMetrics.Gauges(watchedCgroups: 4, handlingsInProgress: 0, armedCgroups: 1))
        let samples = try ExpositionText.parse(registry.emitToString())
        #expect(samples.value("oomctl_handlings_total", ["cgroup": "/a", "outcome": "killed"]) == 1)
        #expect(samples.value("oomctl_handlings_total", ["cgroup": "/b", "outcome": "fell_back_to_kernel"]) == 1)
        #expect(samples.value("oomctl_handlings_total", ["cgroup": "(other)", "outcome": "fell_back_to_kernel"]) == 2)
        #expect(samples.sum("oomctl_events_total", where: ["kind": "oom"]) == 8, "the kernel's count")
        #expect(samples.value("oomctl_events_total", ["cgroup": "(other)", "kind": "oom"]) == 4)
        #expect(samples.value("oomctl_kernel_oom_kills_total", ["cgroup": "/b"]) == 3)
        #expect(samples.value("oomctl_watched_cgroups") == 4)
        #expect(samples.value("oomctl_armed_cgroups") == 1)
        #expect(Set(samples.compactMap { $0.labels["cgroup"] }) == ["/a", "/b", "(other)"])
        #expect(changes == 4 * 3 + 1 + 1, "every event, step recorded and gauge change")
    }
}
