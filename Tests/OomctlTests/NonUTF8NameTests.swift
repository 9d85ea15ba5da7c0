import Glibc
import OOMKit
import OOMTestSupport
import Testing

/// A cgroup name is bytes, not UTF-8 (issue 13, item 3): a name that is not valid UTF-8 must not hide a
/// cgroup from a snapshot, a kill or a recursive watch, and can be given on the command line as the
/// bytes it is.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct NonUTF8NameTests {
    /// `bad\xff\xfe<tag>`: two bytes that are not UTF-8.
    private func hostileName(_ tag: String) -> String {
        LosslessText.decode(Array("bad".utf8) + [0xFF, 0xFE] + Array(tag.utf8))
    }

    /// Two names Swift's `String` calls equal but the kernel tells apart (`é` precomposed, `e` + U+0301)
    /// are two cgroups: a recursive watch adopts both and handles an OOM in the second (a set of paths
    /// folded them into one, so the second was never watched and, with its inherited flag, hung).
    static func adoptions(_ watch: RunningWatch) -> Int {
        watch.output.split(separator: "\n").filter { $0.contains("watching new cgroup") }.count
    }

    @Test func canonicallyEquivalentNamesAreTwoCgroups() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        #expect(test.path.appending("\u{E9}") != test.path.appending("e\u{301}"))
        #expect(Set([test.path.appending("\u{E9}"), test.path.appending("e\u{301}")]).count == 2)
        let watch = try RunningWatch([
            test.path.description, "--recursive", "--kill", "largest", "--delay", "1s", "--no-self-protection",
        ])
        try test.makeChild("\u{E9}", limit: ByteCount(32 << 20))
        #expect(watch.waitFor { Self.adoptions($0) == 1 }, "\(watch.output)")
        let second = try test.makeChild("e\u{301}", limit: ByteCount(32 << 20))
        #expect(watch.waitFor { Self.adoptions($0) == 2 }, "\(watch.output)")
        let hog = try test.spawnHog("100M", in: second)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 128 + SIGKILL, "\(watch.output)")
        #expect(watch.stop() == 0)
    }

    @Test func aSnapshotShowsTheCgroupAndItsProcess() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let child = try test.makeChild(hostileName("s"))
        let sleeper = try test.spawn(["/bin/sleep", "300"], in: child)
        let text = ProcessRunner.oomctl(["snapshot", test.directory])
        #expect(text.status == 0, "\(text)")
        #expect(text.standardOutput.contains("/bad\\xff\\xfes"), "shown as a shell writes the bytes: \(text)")
        let json = ProcessRunner.oomctl(["snapshot", test.directory, "--json"])
        let snapshot = try Snapshot(json: LosslessText.encode(json.standardOutput), source: "stdout")
        #expect(snapshot.cgroups.map(\.path).contains(child), "the cgroup is in the snapshot")
        #expect(snapshot.processes.contains { $0.pid == sleeper && $0.cgroup == child }, "with its process")
        // The name given as the bytes it is.
        let direct = ProcessRunner.oomctl(["snapshot", test.filesystemPath(child), "--json"])
        #expect(direct.status == 0, "\(direct)")
        #expect(try Snapshot(json: LosslessText.encode(direct.standardOutput), source: "stdout").root == child)
        // And as JSON output writes it (U+EF00 + byte), as a script passes a path on.
        // (The argument's bytes are the UTF-8 of the escapes: EF BF BF for the byte 0xFF.)
        let asJSONWritesIt = LosslessText.decode(Array(test.filesystemPath(child).utf8))
        let again = ProcessRunner.oomctl(["snapshot", asJSONWritesIt, "--json"])
        #expect(again.status == 0, "\(again)")
        #expect(try Snapshot(json: LosslessText.encode(again.standardOutput), source: "stdout").root == child)
    }

    @Test func killingTheParentKillsWhatIsInside() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let child = try test.makeChild(hostileName("k"))
        let sleeper = try test.spawn(["/bin/sleep", "300"], in: child)
        let result = ProcessRunner.oomctl(["kill", test.directory])
        #expect(result.status == 0, "\(result)")
        #expect(ProcessRunner.wait(for: sleeper, timeout: .seconds(5)) == 128 + SIGKILL, "the process inside died")
        // And by its own name.
        let other = try test.spawn(["/bin/sleep", "300"], in: child)
        #expect(ProcessRunner.oomctl(["kill", test.filesystemPath(child)]).status == 0)
        #expect(ProcessRunner.wait(for: other, timeout: .seconds(5)) == 128 + SIGKILL)
    }

    @Test func aRecursiveWatchHandlesAnOOMInsideAndTheHookGetsTheBytes() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let seen = ProcessRunner.temporaryPath("hook-path")
        defer { unlink(seen) }
        let watch = try RunningWatch([
            test.path.description, "--recursive", "--kill", "triggering", "--json", "--no-self-protection",
            "--hook", #"printf %s "$OOMCTL_CGROUP_PATH" >"# + seen + "; exit 1",
        ])
        let child = try test.makeChild(hostileName("w"), limit: ByteCount(32 << 20))
        #expect(watch.waitFor { $0.records.contains { $0["message"] == "watching new cgroup" } }, "\(watch.output)")
        let hog = try test.spawnHog("100M", in: child)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 128 + SIGKILL)
        #expect(
            watch.waitFor { $0.records.contains { $0["cgroup"] == child.description && $0["outcome"] == "killed" } },
            "watch handled the OOM in the cgroup (not the kernel, not a hang): \(watch.output)")
        #expect(
            LosslessText.encode(ProcessRunner.readText(seen)) == LosslessText.encode(test.filesystemPath(child)),
            "the hook got the bytes")
        #expect(watch.stop() == 0)
    }
}
