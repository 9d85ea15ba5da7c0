import Glibc
import OOMKit
import OOMTestSupport
import Testing

/// `oomctl snapshot` end to end: the built binary, spawned as a user would run it.
@Suite struct SnapshotCommandTests {
    private func decode(_ result: CommandResult) throws -> Snapshot {
        try Snapshot(json: Array(result.standardOutput.utf8), source: "stdout")
    }

    // MARK: Real cgroups

    @Test(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"))
    func humanOutputShowsTheTestCgroup() throws {
        let test = try TestCgroup(limit: ByteCount(64 << 20))
        defer { test.destroy() }
        _ = try test.spawn(["/bin/sleep", "30"])
        let result = ProcessRunner.oomctl(["snapshot", test.path.description])
        #expect(result.status == 0, "\(result)")
        #expect(result.standardOutput.contains(test.path.description))
        #expect(result.standardOutput.contains("64M"), "the limit is shown")
        #expect(result.standardOutput.contains("sleep 30"), "the process is listed with its command line")
        #expect(result.standardError.isEmpty)
    }

    @Test(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"))
    func jsonCarriesTheSchemaFields() throws {
        let test = try TestCgroup(limit: ByteCount(48 << 20))
        defer { test.destroy() }
        let child = try test.makeChild("inner", limit: ByteCount(16 << 20))
        let sleeper = try test.spawn(["/bin/sleep", "30"], in: child)
        let result = ProcessRunner.oomctl(["snapshot", test.directory, "--json", "--top", "5"])
        #expect(result.status == 0, "\(result)")
        let snapshot = try decode(result)
        #expect(snapshot.schemaVersion == 1)
        #expect(snapshot.root == test.path)
        #expect(snapshot.cgroups.map(\.path) == [test.path, child])
        let inner = try #require(snapshot.cgroups.last)
        #expect(inner.limit == ByteCount(16 << 20))
        #expect(inner.processIDs == [sleeper])
        #expect(inner.usage.bytes > 0)
        #expect(snapshot.processes.map(\.pid) == [sleeper])
        #expect(snapshot.processes.first?.commandLine == ["/bin/sleep", "30"])
        #expect(snapshot.system.memInfo?.total != nil && snapshot.system.vmStat != nil)
        if inner.oomControl == nil && inner.events == nil { Issue.record("no OOM state in \(inner)") }
        for key in ["\"takenAt\"", "\"hierarchy\"", "\"processCount\"", "\"notes\"", "\"memInfo\"", "\"zones\""] {
            #expect(result.standardOutput.contains(key), "JSON lacks \(key)")
        }
    }

    @Test(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"))
    func pidSelectsTheProcessCgroupAndShowsOOMKills() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let hog = try test.spawnHog("200M")
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(30)) == 128 + SIGKILL)
        let sleeper = try test.spawn(["/bin/sleep", "30"])
        let result = ProcessRunner.oomctl(["snapshot", "--pid", String(sleeper), "--json"])
        #expect(result.status == 0, "\(result)")
        let snapshot = try decode(result)
        #expect(snapshot.root == test.path)
        #expect(snapshot.cgroups.first?.oomKills == 1)
        let human = ProcessRunner.oomctl(["snapshot", "--pid", String(sleeper)])
        let row = human.standardOutput.split(separator: "\n").first { $0.hasSuffix(test.path.description) }
        #expect(row.map { $0.split(separator: " ").contains("1") } == true, "the KILLS column shows the kill")
    }

    // MARK: Output files

    @Test func outputFileIsWrittenWithMode0600() throws {
        let tree = FixtureTree()
        let path = tree.root + "/snap.json"
        let result = ProcessRunner.oomctl(["snapshot", "-o", path])
        #expect(result.status == 0, "\(result)")
        var info = stat()
        #expect(lstat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(result.standardOutput.isEmpty)
        #expect(result.standardError.contains("wrote snapshot of"))
        _ = try Snapshot(json: Array(ProcessRunner.readText(path).utf8), source: path)
    }

    @Test func outputRefusesASymlink() throws {
        let tree = FixtureTree()
        tree.file("precious", "data")
        tree.symlink("snap.json", to: tree.root + "/precious")
        let result = ProcessRunner.oomctl(["snapshot", "-o", tree.root + "/snap.json"])
        #expect(result.status == 73, "\(result)")
        #expect(result.standardError.contains("symbolic link"))
        #expect(ProcessRunner.readText(tree.root + "/precious") == "data")
    }

    @Test(.enabled(if: getuid() == 0, "switching to nobody needs root"))
    func permissionDeniedLeavesNoFileAndUnprivilegedSnapshotsWork() throws {
        let tree = FixtureTree()
        tree.directory("locked")
        chmod(tree.root, 0o755)
        chmod(tree.root + "/locked", 0o755)
        let asNobody = ["--reuid=65534", "--regid=65534", "--clear-groups", ProcessRunner.oomctlPath, "snapshot"]
        let denied = ProcessRunner.run("/usr/bin/setpriv", asNobody + ["-o", tree.root + "/locked/x.json"])
        #expect(denied.status == 73, "\(denied)")
        #expect(denied.standardError.contains("Permission denied"))
        #expect(access(tree.root + "/locked/x.json", F_OK) != 0)

        let unprivileged = ProcessRunner.run("/usr/bin/setpriv", asNobody)
        #expect(unprivileged.status == 0, "\(unprivileged)")
        #expect(
            unprivileged.standardOutput.contains(
                "slabinfo: cannot open '/proc/slabinfo': Permission denied (root only)"))
        #expect(unprivileged.standardOutput.contains("cgroups "))
    }

    // MARK: Bad input

    @Test(arguments: [
        (["--top", "-1"], "--top"), (["--top", "abc"], "--top"), (["--top", "10001"], "--top must be between"),
        (["--pid", "0"], "--pid must be a positive"), (["--pid", "abc"], "--pid"), (["/a/../b"], "'..' is not allowed"),
        (["/x", "--pid", "1"], "not both"), (["-o", ""], "--output needs a file name"), (["--bogus"], "--bogus"),
        (["/sys/fs/cgroup/unified/x"], "no memory controller"),
    ])
    func badInputIsAUsageError(arguments: [String], message: String) {
        let result = ProcessRunner.oomctl(["snapshot"] + arguments)
        #expect(result.status == 64, "\(result)")
        #expect(result.standardError.contains(message), "\(result)")
        #expect(result.standardOutput.isEmpty)
    }

    @Test func unknownCgroupAndProcessAreNotFound() {
        let missing = ProcessRunner.oomctl(["snapshot", "/oomctl-no-such-cgroup"])
        #expect(missing.status == 66)
        #expect(
            missing.standardError.hasPrefix(
                "oomctl: error: no such cgroup '/oomctl-no-such-cgroup' in the memory hierarchy mounted at /"))
        let gone = ProcessRunner.oomctl(["snapshot", "--pid", "2147483646"])
        #expect(gone.status == 66)
        #expect(gone.standardError == "oomctl: error: no such process: 2147483646\n")
    }

    // MARK: Fixture roots

    @Test func runsOnAV2FixtureThroughTheEnvironment() throws {
        let tree = FixtureTree.unifiedV2()
        tree.addCapturedSystemFiles()
        tree.v2Cgroup(
            "/app", usage: 31 << 20, max: 32 << 20, procs: [], events: MemoryEvents(max: 40, oom: 2, oomKill: 1))
        let result = ProcessRunner.oomctl(["snapshot", "/app", "--json"], environment: ["OOMCTL_ROOT": tree.root])
        #expect(result.status == 0, "\(result)")
        let snapshot = try decode(result)
        #expect(snapshot.hierarchy.version == .v2)
        #expect(snapshot.cgroups.first?.events?.oomKill == 1 && snapshot.cgroups.first?.events?.oom == 2)
        let human = ProcessRunner.oomctl(["snapshot", "/app"], environment: ["OOMCTL_ROOT": tree.root])
        #expect(human.standardOutput.contains("cgroup v2"))
        #expect(human.standardOutput.contains("97"), "usage is 97% of the limit")
    }

    /// A diagnostics tool shows every figure it can read and notes the rest: the snapshot of a cgroup of
    /// an oomd-shaped fixture tree (no cgroup.procs, no memory.current) exits 0, as text and as JSON.
    @Test func aTreeWithMissingControlFilesIsShownWithNotes() throws {
        let tree = FixtureTree.oomdShaped()
        let environment = ["OOMCTL_ROOT": tree.root]
        let json = ProcessRunner.oomctl(["snapshot", "/C", "--json"], environment: environment)
        #expect(json.status == 0, "\(json)")
        let snapshot = try decode(json)
        #expect(snapshot.cgroups.map(\.path.description) == ["/C", "/C/C1", "/C/C2", "/C/C2/C21", "/C/nomem"])
        #expect(snapshot.notes.contains { $0.contains("cgroup /C:") && $0.contains("cgroup.procs") })
        let human = ProcessRunner.oomctl(["snapshot", "/C"], environment: environment)
        #expect(human.status == 0, "\(human)")
        let rows = human.standardOutput.split(separator: "\n")
        let top = try #require(rows.first { $0.hasSuffix(" /C") })
        #expect(top.split(separator: " ").prefix(6) == ["-", "-", "-", "-", "-", "-"], "unknown, not 0: \(top)")
        #expect(rows.contains { $0.hasSuffix("/C/nomem (no memory controller)") })
        #expect(!rows.contains { $0.hasSuffix(" /C (no memory controller)") })
        #expect(human.standardOutput.contains("could not read"))
    }

    @Test func noMemoryHierarchyIsUnavailable() {
        let tree = FixtureTree()
        tree.file("proc/self/mountinfo", "41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
        tree.file("sys/fs/cgroup/cgroup.controllers", "cpu\n")
        let result = ProcessRunner.oomctl(["snapshot"], environment: ["OOMCTL_ROOT": tree.root])
        #expect(result.status == 69, "\(result)")
        #expect(result.standardError.contains("no cgroup hierarchy with the memory controller"))
    }

    @Test func symlinkedCgroupIsRefused() {
        let tree = FixtureTree.hybridV1()
        tree.v1Cgroup("/real", usage: 1, limit: nil)
        tree.symlink("sys/fs/cgroup/memory/alias", to: tree.root + "/sys/fs/cgroup/memory/real")
        let result = ProcessRunner.oomctl(["snapshot", "/alias"], environment: ["OOMCTL_ROOT": tree.root])
        #expect(result.status == 64, "\(result)")
        #expect(result.standardError.contains("symbolic link"))
    }
}

@Suite struct CommandLineConventionTests {
    @Test func versionAndHelp() {
        let version = ProcessRunner.oomctl(["--version"])
        #expect(version.status == 0 && version.standardOutput == "0.1.0\n")
        let help = ProcessRunner.oomctl(["--help"])
        #expect(help.status == 0 && help.standardOutput.contains("snapshot"))
        #expect(!help.standardOutput.contains("hog"), "the test helper stays hidden")
        let snapshotHelp = ProcessRunner.oomctl(["snapshot", "--help"])
        #expect(snapshotHelp.standardOutput.contains("EXAMPLES"))
        #expect(snapshotHelp.standardOutput.contains("EXIT STATUS"))
    }

    @Test func unknownSubcommandIsAUsageError() {
        let result = ProcessRunner.oomctl(["frobnicate"])
        #expect(result.status == 64)
    }
}
