import Glibc
import OOMKit
import OOMTestSupport
import Testing

private func memory(_ path: CgroupPath) throws -> MemoryCgroup {
    try MemoryCgroup.open(path, in: CgroupSystem())
}

private func limit(_ test: TestCgroup) throws -> ByteCount { try memory(test.path).limit() }

/// The reserve attribute of a test cgroup (nil when none is recorded there).
private func recorded(_ test: TestCgroup) throws -> String? {
    try memory(test.path).cgroup.extendedAttribute("trusted.oomctl.reserve").map { String(decoding: $0, as: UTF8.self) }
}

/// `oomctl reserve` on the real v1 hierarchy, and v1 grants by `oomctl watch` on real OOMs in test cgroups
/// below the test's own.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct ReserveCommandTests {
    // MARK: The command

    @Test func setShowIdempotentListJSONAndClear() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let path = test.path.description
        let first = ProcessRunner.oomctl(["reserve", path, "16M"])
        #expect(first.status == 0, "\(first)")
        #expect(first.standardOutput.contains("\(path): reserve 16M\n"))
        #expect(first.standardOutput.contains("in attribute trusted.oomctl.reserve"))
        #expect(first.standardOutput.contains("pending: watch raises the limit 32M by 16M on OOM; not granted now"))
        let stored = try recorded(test)

        let again = ProcessRunner.oomctl(["reserve", path, "16M"])
        #expect(again.status == 0 && again.standardOutput.contains("reserve 16M (unchanged)"), "\(again)")
        #expect(try recorded(test) == stored, "nothing rewritten")
        let quiet = ProcessRunner.oomctl(["reserve", path, "16M", "-q"])
        #expect(quiet.status == 0 && quiet.standardOutput.isEmpty && quiet.standardError.isEmpty)

        struct Shown: Decodable {
            var cgroup: String
            var reserve: ReserveStatus?
        }
        let json = ProcessRunner.oomctl(["reserve", path, "--json"])
        let shown = try JSONOutput.decode(Shown.self, from: Array(json.standardOutput.utf8)).get()
        #expect(shown.cgroup == path)
        #expect(shown.reserve?.bytes == ByteCount(16 << 20) && shown.reserve?.granted == false)
        #expect(shown.reserve?.storage == "attribute trusted.oomctl.reserve" && shown.reserve?.version == 1)

        let other = try test.makeChild("b", limit: ByteCount(64 << 20))
        #expect(ProcessRunner.oomctl(["reserve", other.description, "25%"]).status == 0)
        let list = ProcessRunner.oomctl(["reserve", "--list", "--under", path, "--json"])
        let all = try JSONOutput.decode([ReserveStatus].self, from: Array(list.standardOutput.utf8)).get()
        #expect(all.map(\.cgroup) == [test.path, other], "\(list)")
        #expect(all.last?.bytes == ByteCount(16 << 20) && all.last?.size == "25%")
        let table = ProcessRunner.oomctl(["reserve", "--list", "--under", path])
        #expect(table.standardOutput.hasPrefix("RESERVE  LIMIT  APPLIED"), "\(table)")
        #expect(table.standardOutput.contains("    25%    64M  on OOM   attribute trusted.oomctl.reserve  \(other)"))

        let cleared = ProcessRunner.oomctl(["reserve", path, "--clear"])
        #expect(cleared.status == 0 && cleared.standardOutput == "\(path): reserve 16M cleared\n", "\(cleared)")
        #expect(try recorded(test) == nil)
        let clearedAgain = ProcessRunner.oomctl(["reserve", path, "--clear"])
        #expect(clearedAgain.status == 0 && clearedAgain.standardOutput == "\(path): no reserve\n")
        #expect(try limit(test) == ByteCount(32 << 20), "v1: the limit is untouched until an OOM")
    }

    @Test(arguments: [
        (["-5M"], "a reserve cannot be negative", Int32(64)),
        (["lots"], "unknown unit 'LOTS'", 64),
        (["0"], "a reserve must be larger than 0", 64),
        (["max"], "a reserve must be a finite size", 64),
        (["150%"], "more than 0% and less than 100% of the limit", 64),
        (["32M"], "the reserve 32M is not less than the cgroup's limit 32M", 64),
        (["1T"], "is not less than the cgroup's limit", 64),
    ])
    func badSizesAreRefusedAndNothingChanges(size: [String], message: String, status: Int32) throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let result = ProcessRunner.oomctl(["reserve", test.path.description, "--"] + size)
        #expect(result.status == status, "\(result)")
        #expect(result.standardError.contains(message), "\(result)")
        #expect(try recorded(test) == nil)
    }

    @Test func noLimitUnknownCgroupNoPermissionAndTooMuchForTheParent() throws {
        let test = try TestCgroup(limit: ByteCount(64 << 20))
        defer { test.destroy() }
        let unlimited = try test.makeChild("open")
        let none = ProcessRunner.oomctl(["reserve", unlimited.description, "16M"])
        #expect(none.status == 64 && none.standardError.contains("has no memory limit"), "\(none)")

        let child = try test.makeChild("child", limit: ByteCount(48 << 20))
        let hog = try test.spawnHog("40M", in: try test.makeChild("busy"))
        for _ in 0..<200 where (try memory(test.path).usage()) < ByteCount(40 << 20) { usleep(10_000) }
        let parent = ProcessRunner.oomctl(["reserve", child.description, "32M"])
        #expect(parent.status == 64, "\(parent)")
        #expect(parent.standardError.contains("is more than \(test.path) can give (limit 64M"), "\(parent)")
        kill(hog, SIGKILL)

        let gone = ProcessRunner.oomctl(["reserve", test.path.appending("nope").description, "16M"])
        #expect(gone.status == 66 && gone.standardError.contains("no such cgroup"), "\(gone)")

        let denied = ProcessRunner.run(
            "/usr/bin/setpriv",
            [
                "--reuid=65534", "--regid=65534", "--clear-groups", ProcessRunner.oomctlPath, "reserve",
                test.path.description, "16M",
            ])
        #expect(denied.status == 77, "\(denied)")
        #expect(denied.standardError.contains("belongs to root (uid 0)"), "\(denied)")
        #expect(try recorded(test) == nil)

        let usage = ProcessRunner.oomctl(["reserve"])
        #expect(usage.status == 64 && usage.standardError.contains("give a CGROUP (or --pid PID), or --list"))
        let both = ProcessRunner.oomctl(["reserve", test.path.description, "16M", "--clear"])
        #expect(both.status == 64 && both.standardError.contains("give a SIZE or --clear, not both"))
    }

    @Test func v2SetsMemoryHighAndClearRestoresIt() throws {
        let tree = FixtureTree.unifiedV2()
        tree.addCapturedSystemFiles()
        tree.v2Cgroup("/app", usage: 20 << 20, max: 64 << 20, high: 60 << 20)
        let environment = ["OOMCTL_ROOT": tree.root]
        let high = tree.root + "/sys/fs/cgroup/app/memory.high"
        let set = ProcessRunner.oomctl(["reserve", "/app", "8M"], environment: environment)
        #expect(set.status == 0, "\(set)")
        #expect(set.standardOutput.contains("applied   memory.high 56M = memory.max 64M − 8M, was 60M"), "\(set)")
        #expect(ProcessRunner.readText(high).hasPrefix("\(56 << 20)\n"))
        let again = ProcessRunner.oomctl(["reserve", "/app", "8M"], environment: environment)
        #expect(again.standardOutput.contains("(unchanged)") && again.standardOutput.contains("was 60M"), "\(again)")
        let cleared = ProcessRunner.oomctl(["reserve", "/app", "--clear"], environment: environment)
        #expect(cleared.standardOutput == "/app: reserve 8M cleared; memory.high 60M again\n", "\(cleared)")
        #expect(ProcessRunner.readText(high).hasPrefix("\(60 << 20)\n"))
    }

    // MARK: v1 grants in watch

    @Test func grantedReserveLetsTheHogFinishThenTheLimitComesBack() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        #expect(ProcessRunner.oomctl(["reserve", test.path.description, "16M", "-q"]).status == 0)
        let watch = try RunningWatch(
            [test.path.description, "--hook", "echo reserve $OOMCTL_RESERVE", "--json", "--no-self-protection"])
        let hog = try test.spawnHog("40M", extra: ["--hold", "300ms"])
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 0, "the hog completes, not killed")
        #expect(
            watch.waitFor { $0.records.contains { $0["messageID"] == MessageID.reserveRestored.rawValue } },
            "\(watch.output)")
        let records = watch.records
        let granted = try #require(records.firstIndex { $0["messageID"] == MessageID.reserveGranted.rawValue })
        #expect(records[granted]["reserve_bytes"] == String(16 << 20))
        #expect(records[granted]["raised_limit_bytes"] == String(48 << 20))
        let hook = try #require(records.firstIndex { $0["messageID"] == MessageID.hookFinished.rawValue })
        #expect(granted < hook, "granted before the hook runs")
        #expect(records[hook]["output"] == "reserve \(16 << 20)\n")
        #expect(!watch.output.contains("killed"))
        #expect(try limit(test) == ByteCount(32 << 20), "the original limit is back")
        #expect(try memory(test.path).cgroup.extendedAttribute(ReserveGrantMarker.attribute) == nil)
        #expect(watch.stop() == 0)
    }

    @Test func aSetMemswLimitIsRaisedAndRestoredToo() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        guard (try memory(test.path).memswLimit()) != nil else {
            try skip("no swap accounting here (memory.memsw.limit_in_bytes)")
            return
        }
        try test.write("memory.memsw.limit_in_bytes", String(32 << 20))
        #expect(ProcessRunner.oomctl(["reserve", test.path.description, "16M", "-q"]).status == 0)
        let watch = try RunningWatch([test.path.description, "--json", "--no-self-protection"])
        // The hog holds its memory long enough for the raised limits to be read under a loaded machine.
        let hog = try test.spawnHog("40M", extra: ["--hold", "2s"])
        #expect(
            watch.waitFor { $0.records.contains { $0["messageID"] == MessageID.reserveGranted.rawValue } },
            "\(watch.output)")
        #expect(
            try memory(test.path).memswLimit() == ByteCount(48 << 20), "memsw raised with the limit: \(watch.output)")
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 0, "the hog completes")
        // Every grant taken back, not only the first: the hog may OOM again between two handlings.
        #expect(
            watch.waitFor { watch in
                let ids = watch.records.map { $0["messageID"] }
                let grants = ids.count { $0 == MessageID.reserveGranted.rawValue }
                return grants > 0 && ids.count { $0 == MessageID.reserveRestored.rawValue } == grants
            },
            "\(watch.output)")
        #expect(try limit(test) == ByteCount(32 << 20), "\(watch.output)")
        #expect(try memory(test.path).memswLimit() == ByteCount(32 << 20), "memsw back too")
        #expect(watch.stop() == 0)
    }

    @Test func beyondTheReserveTheDeadlineFallsBackAndTheLimitIsRestored() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        #expect(ProcessRunner.oomctl(["reserve", test.path.description, "16M", "-q"]).status == 0)
        let watch = try RunningWatch(
            [test.path.description, "--hook", "true", "--delay", "500ms", "--json", "--no-self-protection"])
        let hog = try test.spawnHog("100M")
        #expect(
            ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 128 + SIGKILL, "the kernel kills at the deadline")
        #expect(
            watch.waitFor { $0.records.contains { $0["messageID"] == MessageID.reserveRestored.rawValue } },
            "\(watch.output)")
        let records = watch.records
        #expect(records.contains { $0["messageID"] == MessageID.reserveGranted.rawValue })
        #expect(records.contains { $0["messageID"] == MessageID.hookFinished.rawValue })
        #expect(records.contains { $0["messageID"] == MessageID.fallbackToKernel.rawValue })
        #expect(try limit(test) == ByteCount(32 << 20), "nothing left raised")
        #expect(watch.stop() == 0)
        #expect(try !memory(test.path).oomControl().oomKillDisable)
    }

    @Test func watchSIGKILLedWhileGrantedTheGuardianRestoresTheLimit() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        #expect(ProcessRunner.oomctl(["reserve", test.path.description, "16M", "-q"]).status == 0)
        let watch = try RunningWatch(
            [test.path.description, "--hook", "sleep 5", "--delay", "10s", "--json", "--no-self-protection"])
        let hog = try test.spawnHog("40M", extra: ["--hold", "500ms"])
        #expect(
            watch.waitFor { $0.records.contains { $0["messageID"] == MessageID.reserveGranted.rawValue } },
            "\(watch.output)")
        #expect(try limit(test) == ByteCount(48 << 20))
        kill(watch.pid, SIGKILL)
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < .seconds(3), (try limit(test)) != ByteCount(32 << 20) { usleep(20_000) }
        #expect(try limit(test) == ByteCount(32 << 20), "the guardian wrote the original limit back")
        #expect(clock.now - start < .seconds(2), "within about a second of usage allowing it")
        #expect(try !memory(test.path).oomControl().oomKillDisable)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(5)) == 0, "the hog was not killed")
        watch.stop()
    }

    @Test func watchPrefaultsASelfReserve() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch([test.path.description, "--self-reserve", "16M", "--protect-self"])
        #expect(watch.output.contains("self reserve 16M pre-faulted"), "\(watch.output)")
        #expect(watch.output.contains("--protect-self needs watch in its own cgroup v2 (not the root); ignored"))
        let status = try ProcFS().process(watch.pid).status()
        #expect((status.residentSet ?? .zero) >= ByteCount(16 << 20))
        #expect(watch.stop() == 0)
        let percent = ProcessRunner.oomctl(["watch", test.path.description, "--self-reserve", "10%"])
        #expect(percent.status == 64 && percent.standardError.contains("not a percentage"))
    }

    @Test func aLimitLeftRaisedByADeadWatchIsRestoredAtTheNextStart() throws {
        let test = try TestCgroup(limit: ByteCount(48 << 20))
        defer { test.destroy() }
        // What a watch killed together with its guardian leaves: the raised limit and the marker naming a
        // PID that no longer exists.
        let dead = ProcessRunner.spawn("/bin/true", [])
        let deadPID = try #require(dead)
        _ = ProcessRunner.wait(for: deadPID)
        try memory(test.path).cgroup.setExtendedAttribute(
            ReserveGrantMarker.attribute, Array("\(deadPID) \(32 << 20) -".utf8))
        let watch = try RunningWatch([test.path.description, "--no-self-protection"])
        #expect(watch.output.contains("restored the memory limit that a previous watch left raised"), "\(watch.output)")
        #expect(try limit(test) == ByteCount(32 << 20))
        #expect(try memory(test.path).cgroup.extendedAttribute(ReserveGrantMarker.attribute) == nil)
        #expect(watch.stop() == 0)
    }
}

@Suite struct ReserveCommandInputTests {
    @Test(arguments: [
        (["/x", "lots"], "The value 'lots' is invalid for '<SIZE>'"),
        (["/x", "100%"], "invalid for '<SIZE>': a reserve is more than 0% and less than 100%"),
        (["/x", "max"], "invalid for '<SIZE>': a reserve must be a finite size"),
        (["/x", "--json", "-q"], "give --json or --quiet, not both"),
        (["--list", "/x"], "--list takes no CGROUP"), (["/x", "--under", "/y"], "--under goes with --list"),
    ])
    func badInputIsAUsageError(arguments: [String], message: String) {
        let result = ProcessRunner.oomctl(["reserve"] + arguments)
        #expect(result.status == 64, "\(result)")
        #expect(result.standardError.contains(message), "\(result)")
    }
}
