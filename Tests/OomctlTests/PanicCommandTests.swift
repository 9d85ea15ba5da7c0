import Glibc
import OOMKit
import OOMTestSupport
import Testing

/// `watch --panic` end to end, with its SysRq command sent to a stand-in (a FIFO or a file in a temporary
/// directory, given with the private --sysrq-trigger-stand-in): never to /proc/sysrq-trigger. Every
/// run here either has a stand-in or is a dry run or a rehearsal.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct PanicCommandTests {
    /// A FIFO whose pipe is full: a write to it blocks until the test drains it, so the test can look at
    /// everything watch did before its trigger write, while that write waits.
    final class FullFIFO {
        let path: String
        let reader: Int32
        /// The filler bytes in the pipe.
        private(set) var filled = 0

        init(in directory: FixtureTree) throws {
            path = directory.root + "/sysrq-trigger"
            guard mkfifo(path, 0o600) == 0 else { throw SystemCallError("mkfifo", path: path, errno: errno) }
            reader = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            let writer = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
            defer { close(writer) }
            var byte = UInt8(ascii: ".")
            while write(writer, &byte, 1) == 1 { filled += 1 }
        }

        deinit { close(reader) }

        /// How many bytes the pipe holds now.
        var pending: Int32 {
            var count: Int32 = 0
            _ = ioctl(reader, UInt(FIONREAD), &count)
            return count
        }

        /// Drains the pipe until `expected` bytes came, up to `timeout`; returns what came after the filler.
        func drain(expecting expected: Int, timeout: Duration = .seconds(5)) -> [UInt8] {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            let clock = ContinuousClock()
            let end = clock.now + timeout
            while received.count < expected && clock.now < end {
                let count = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
                if count > 0 { received += buffer.prefix(count) } else { usleep(5_000) }
            }
            return Array(received.dropFirst(filled))
        }
    }

    /// Whether `pid` is blocked in write(2) on the file `path` (/proc/PID/syscall and /proc/PID/fd).
    static func isWriting(_ pid: pid_t, to path: String) -> Bool {
        let fields = ProcessRunner.readText("/proc/\(pid)/syscall").split(separator: " ")
        guard fields.count > 1, fields[0] == "1", let fd = Int(fields[1].dropFirst(2), radix: 16) else { return false }
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/\(pid)/fd/\(fd)", &buffer, buffer.count - 1)
        return count > 0 && String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self) == path
    }

    static func fileSize(_ path: String) -> Int? {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : nil
    }

    static func modified(_ path: String) -> timespec? {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mtim : nil
    }

    /// A fixture directory with a snapshots/ folder, and the path of a stand-in trigger file in it.
    static func standInTrigger() -> (FixtureTree, String) {
        let directory = FixtureTree()
        directory.directory("snapshots")
        return (directory, directory.root + "/sysrq-trigger")
    }

    /// watch --system with thresholds that fire at once and `panic` options, snapshots into the fixture.
    static func systemPanic(_ panic: [String], in directory: FixtureTree, trigger: String) throws -> RunningWatch {
        try RunningWatch(
            ["--system", "--min-available", "100%,100%"] + panic + [
                "--snapshot-dir", directory.root + "/snapshots", "--sysrq-trigger-stand-in", trigger, "--json",
                "--no-self-protection",
            ])
    }

    @Test func theSnapshotIsOnDiskAndTheReasonJournaledBeforeTheTriggerIsWritten() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let directory = FixtureTree()
        directory.directory("snapshots")
        let snapshots = directory.root + "/snapshots"
        let trigger = try FullFIFO(in: directory)
        let watch = try RunningWatch([
            test.path.description, "--panic", "crash", "--confirm-panic", "--snapshot-dir", snapshots,
            "--sysrq-trigger-stand-in", trigger.path, "--json", "--no-self-protection",
        ])
        #expect(watch.output.contains("PANIC crash through \(trigger.path)"), "\(watch.output)")
        let hog = try test.spawnHog("100M")

        // 1. The announcement: after the snapshot was flushed, before anything is written to the trigger.
        #expect(watch.waitFor { $0.records.contains { $0["messageID"] == MessageID.panicking.rawValue } })
        let record = try #require(watch.records.first { $0["messageID"] == MessageID.panicking.rawValue })
        #expect(record["level"] == "critical", "\(record)")
        #expect(record["panic"] == "crash" && record["sysrq"] == "c" && record["trigger"] == trigger.path)
        #expect(record["event"] == "oom" && record["cgroup"] == test.path.description)
        #expect(record["snapshot_synced"] == "1" && record["dry_run"] == "0", "\(record)")
        let snapshot = try #require(record["snapshot"])
        // The panicking handling's own snapshot, whatever its number. CI once saw handling 2 panic: a look
        // at under_oom 0 while the woken hog retried its charge had ended handling 1 as resolved (fixed:
        // a v1 OOM is over once it stays so for Handler.v1SettleTime with no new notification).
        let id = try #require(record["handling_id"])
        #expect(snapshot.hasPrefix(snapshots + "/oomctl-\(id)-"), "\(record)")
        let message = try #require(record["message"])
        #expect(message.contains("panic (crash) for the unresolved OOM in \(test.path)"), "\(message)")
        #expect(message.contains("snapshot \(snapshot) (\(record["snapshot_bytes"] ?? "?") bytes, synced)"))

        // 2. watch now waits in its write to the (full) trigger: the snapshot is complete on disk, and the
        // trigger has nothing of watch's yet.
        #expect(watch.waitFor(.seconds(5)) { Self.isWriting($0.pid, to: trigger.path) }, "blocked writing the trigger")
        #expect(Self.fileSize(snapshot).map(String.init) == record["snapshot_bytes"], "the announced size is on disk")
        let decoded = try Snapshot(json: Array(ProcessRunner.readText(snapshot).utf8), source: snapshot)
        #expect(decoded.root == test.path, "a complete snapshot of the cgroup")
        #expect(trigger.pending == Int32(trigger.filled), "not a byte from watch in the trigger yet")

        // 3. Then the command arrives, exactly one 'c'.
        #expect(trigger.drain(expecting: trigger.filled + 1) == [UInt8(ascii: "c")])

        // The stand-in crashed nothing: the deadline hands the OOM to the kernel, the kernel kills.
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
        #expect(watch.waitFor { $0.records.contains { $0["outcome"] == "panic triggered" } }, "\(watch.output)")
        #expect(watch.stop() == 0)
        #expect(try !MemoryCgroup.open(test.path, in: CgroupSystem()).oomControl().oomKillDisable)
    }

    /// watch --system, thresholds that fire at once: reboot, the snapshot older than the command.
    @Test func theSystemScopePanicsWithReboot() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let (directory, trigger) = Self.standInTrigger()
        let watch = try Self.systemPanic(["--panic", "reboot", "--confirm-panic"], in: directory, trigger: trigger)
        #expect(watch.waitFor { $0.records.contains { $0["outcome"] == "panic triggered" } }, "\(watch.output)")
        #expect(ProcessRunner.readText(trigger) == "b")
        let record = try #require(watch.records.first { $0["messageID"] == MessageID.panicking.rawValue })
        #expect(record["panic"] == "reboot" && record["event"] == "pressure", "\(record)")
        #expect(record["message"]?.contains("panic (reboot) for the unresolved memory pressure in /") == true)
        let snapshot = try #require(record["snapshot"])
        let (written, triggered) = (try #require(Self.modified(snapshot)), try #require(Self.modified(trigger)))
        #expect(
            (written.tv_sec, written.tv_nsec) <= (triggered.tv_sec, triggered.tv_nsec),
            "the snapshot was written before the command")
        #expect(watch.stop() == 0)
    }

    @Test func aDryRunSaysWhatItWouldDoAndWritesNoTrigger() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let (directory, trigger) = Self.standInTrigger()
        // No --confirm-panic: a dry run takes nothing down.
        let watch = try Self.systemPanic(["--panic", "crash", "--dry-run"], in: directory, trigger: trigger)
        #expect(watch.waitFor { $0.records.contains { $0["outcome"] == "dry run" } }, "\(watch.output)")
        let record = try #require(watch.records.first { $0["messageID"] == MessageID.panicking.rawValue })
        #expect(record["dry_run"] == "1" && record["level"] == "notice", "\(record)")
        #expect(record["message"]?.hasPrefix("dry run: would panic (crash)") == true, "\(record)")
        #expect(record["message"]?.contains("nothing was synced or written") == true)
        usleep(300_000)
        #expect(ProcessRunner.readText(trigger) == "", "the stand-in got nothing")
        #expect(watch.stop() == 0)
    }

    @Test func withoutTheConfirmationNothingStartsAndNothingChanges() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let directory = FixtureTree()
        directory.directory("snapshots")
        let trigger = directory.root + "/sysrq-trigger"
        let result = ProcessRunner.oomctl([
            "watch", test.path.description, "--panic", "crash", "--snapshot-dir", directory.root + "/snapshots",
            "--sysrq-trigger-stand-in", trigger,
        ])
        #expect(result.status == 64, "\(result)")
        #expect(result.standardError.contains("--panic crash takes this machine down"), "\(result)")
        #expect(result.standardError.contains("add --confirm-panic"), "\(result)")
        #expect(access(trigger, F_OK) != 0, "no stand-in was made")
        #expect(try !MemoryCgroup.open(test.path, in: CgroupSystem()).oomControl().oomKillDisable)
        #expect(ProcessRunner.run("/bin/ls", ["-A", directory.root + "/snapshots"]).standardOutput.isEmpty)
    }

    @Test func aSnapshotDirectoryThatCannotBeWrittenIsRefusedAtStartUp() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let directory = FixtureTree()
        let trigger = directory.root + "/sysrq-trigger"
        let result = ProcessRunner.oomctl([
            "watch", test.path.description, "--panic", "crash", "--confirm-panic", "--snapshot-dir", "/sys",
            "--sysrq-trigger-stand-in", trigger,
        ])
        #expect(result.status == 73, "\(result)")
        #expect(result.standardError.contains("--panic cannot keep its evidence in --snapshot-dir"), "\(result)")
        #expect(access(trigger, F_OK) != 0, "nothing was opened")
        #expect(try !MemoryCgroup.open(test.path, in: CgroupSystem()).oomControl().oomKillDisable)
    }

    /// simulate rehearses: the real pipeline up to the trigger, which it never writes.
    @Test func simulateRehearsesAndFallsBackToTheKernel() throws {
        let directory = FixtureTree()
        let result = ProcessRunner.oomctl([
            "simulate", "--panic", "crash", "--snapshot-dir", directory.root, "--delay", "300ms", "--json",
        ])
        #expect(result.status == 0, "\(result)")
        struct Run: Decodable {
            struct Entry: Decodable {
                var event: String
                var message: String
                var bytes: UInt64?
            }
            var timeline: [Entry]
            var outcomes: [String]
            var hogsKilledByKernel: Int
        }
        let run = try JSONOutput.decode(Run.self, from: Array(result.standardOutput.utf8)).get()
        let rehearsed = try #require(run.timeline.first { $0.event == "panic-rehearsed" })
        #expect(rehearsed.message.hasPrefix("rehearsal: would panic (crash) for the unresolved OOM"), "\(rehearsed)")
        #expect(rehearsed.message.contains("would sync file systems and write 'c' to /proc/sysrq-trigger"))
        #expect(run.outcomes == ["panic rehearsed"] && run.hogsKilledByKernel == 1)
        let files = ProcessRunner.run("/bin/ls", [directory.root]).standardOutput.split(separator: "\n")
        #expect(
            files.count == 1
                && Self.fileSize(directory.root + "/" + (files.first ?? "")).map(UInt64.init) == rehearsed.bytes)
    }
}

@Suite struct PanicInputTests {
    @Test(arguments: [
        (["watch", "/x", "--panic", "crash"], "--panic needs --snapshot-dir DIR"),
        (["watch", "/x", "--panic", "crash", "--snapshot-dir", "/tmp"], "add --confirm-panic"),
        (["watch", "/x", "--panic", "halt"], "Please provide one of 'crash' and 'reboot'"),
        (["watch", "/x", "--panic", "crash", "--kill", "largest", "--confirm-panic"], "drop --kill"),
        (["watch", "/x", "--panic", "crash", "--kill", "none", "--snapshot-dir", "/tmp"], "drop --kill"),
        (
            ["watch", "--system", "--panic", "crash", "--post-kill", "true", "--snapshot-dir", "/tmp"],
            "drop --post-kill"
        ),
        (["watch", "/x", "--panic", "reboot", "--process", "--snapshot-dir", "/tmp"], "--panic kills none"),
        (["watch", "/x", "--panic", "crash", "--dry-run", "--snapshot-dir", "/no/such"], "is not a directory"),
        (["watch", "--system", "--panic", "crash", "--under", "/a", "--snapshot-dir", "/tmp"], "drop --under"),
        (["watch", "/x", "--confirm-panic"], "--confirm-panic goes with --panic"),
        (["watch", "/x", "--sysrq-trigger-stand-in", "/tmp/x"], "--sysrq-trigger-stand-in goes with --panic"),
        (
            ["simulate", "--panic", "crash", "--snapshot-dir", "/tmp", "--confirm-panic"],
            "--confirm-panic does nothing in a sandbox run"
        ),
        (["simulate", "--panic", "crash"], "--panic needs --snapshot-dir DIR"),
        (["simulate", "--from", "x.json", "--panic", "crash"], "--panic goes with a sandbox run"),
    ])
    func badInputIsAUsageError(arguments: [String], message: String) {
        let result = ProcessRunner.oomctl(arguments)
        #expect(result.status == 64, "\(result)")
        #expect(result.standardError.contains(message), "\(result)")
    }

    /// On cgroup v2 (a fixture tree), the default events are wake-ups and the kernel's own kills: a panic
    /// on them would never come, so watch refuses to start and says what to add.
    @Test func onV2APanicNeedsOOMOrPressureEvents() {
        let tree = FixtureTree.unifiedV2()
        tree.v2Cgroup("/app", usage: 1 << 20, max: 64 << 20)
        let result = ProcessRunner.oomctl(
            ["watch", "/app", "--panic", "crash", "--dry-run", "--snapshot-dir", tree.root],
            environment: [CgroupSystem.rootEnvironmentVariable: tree.root])
        #expect(result.status == 64, "\(result)")
        #expect(result.standardError.contains("add --on oom or --on pressure"), "\(result)")
    }

    @Test func theStandInOptionIsNotAdvertised() {
        let help = ProcessRunner.oomctl(["watch", "--help"]).standardOutput
        #expect(help.contains("--panic <MODE>") && help.contains("--confirm-panic"))
        #expect(!help.contains("stand-in"))
    }
}
