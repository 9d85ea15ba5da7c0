import Glibc
import OOMKit
import OOMTestSupport
import Testing

/// The user the tests drop to (nobody); its own processes are started with util-linux setpriv.
private let userID = 65534
private let setpriv = "/usr/bin/setpriv"
private let dropped = ["--reuid=\(userID)", "--regid=\(userID)", "--clear-groups"]

/// Why the refusal tests cannot run here, or nil when they can: they need root (to make the cgroups and
/// drop to another user) and setpriv.
private let unprivilegedUnavailable: String? = {
    if let reason = TestCgroup.unavailableReason { return reason }
    if geteuid() != 0 { return "needs root to make test cgroups and start processes as uid \(userID)" }
    if access(setpriv, X_OK) != 0 { return "no \(setpriv) (util-linux) to drop privileges" }
    return nil
}()

/// Runs oomctl as uid 65534; with `in`, the process first joins that cgroup (as root), as a login puts a
/// user's session into their delegated subtree.
private func asUser(_ arguments: [String], in directory: String? = nil) -> CommandResult {
    guard let directory else {
        return ProcessRunner.run(setpriv, dropped + [ProcessRunner.oomctlPath] + arguments)
    }
    let script = #"echo $$ > "$OOMCTL_TEST_CGROUP/cgroup.procs" && exec "$@""#
    return ProcessRunner.run(
        "/bin/sh", ["-c", script, "sh", setpriv] + dropped + [ProcessRunner.oomctlPath] + arguments,
        environment: ["OOMCTL_TEST_CGROUP": directory])
}

private func chown(_ path: String) throws {
    guard Glibc.chown(path, uid_t(userID), gid_t(userID)) == 0 else {
        throw SystemCallError("chown", path: path, errno: errno)
    }
}

/// Refusals of an unprivileged caller outside what is delegated to them, on the host's real cgroup v1
/// memory hierarchy (they need no v2: ownership is file permissions on either). Each is exit 77, names
/// the owner and the caller's delegation point (or that there is none), and changes nothing. The v2
/// behaviour inside a delegated subtree is tested in the VM (Tests/vm/90-unprivileged.sh).
@Suite(.enabled(if: unprivilegedUnavailable == nil, "\(unprivilegedUnavailable ?? "")"), .serialized)
struct UnprivilegedTests {
    @Test func outsideAnyDelegationEverythingIsRefusedAndNothingChanges() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let path = test.path.description
        let sleeper = try test.spawn(["/bin/sleep", "60"])
        let memory = try MemoryCgroup.open(test.path, in: CgroupSystem())
        let nobody = "uid \(userID)"
        let noDelegation = "no cgroup subtree is delegated to you"

        let reserve = asUser(["reserve", path, "16M"])
        #expect(reserve.status == 77, "\(reserve)")
        #expect(
            reserve.standardError.contains(
                "cannot set a reserve on \(path): its memory.limit_in_bytes belongs to root (uid 0)"), "\(reserve)")
        #expect(reserve.standardError.contains(nobody) && reserve.standardError.contains(noDelegation), "\(reserve)")
        #expect(memory.cgroup.extendedAttributeNames().filter { $0.contains("oomctl") }.isEmpty, "nothing recorded")

        let process = asUser(["kill", "--pid", String(sleeper)])
        #expect(process.status == 77, "\(process)")
        #expect(
            process.standardError.contains("cannot signal process \(sleeper) in \(path): it belongs to root (uid 0)"),
            "\(process)")
        let cgroup = asUser(["kill", path])
        #expect(cgroup.status == 77 && cgroup.standardError.contains("belongs to root (uid 0)"), "\(cgroup)")
        let dryRun = asUser(["kill", path, "--dry-run"])
        #expect(dryRun.status == 77, "a dry run fails where the kill would: \(dryRun)")
        #expect(kill(sleeper, 0) == 0, "the process lives")

        let simulate = asUser(["simulate", "--parent", path, "--kill", "largest"])
        #expect(simulate.status == 77, "\(simulate)")
        #expect(
            simulate.standardError.contains(
                "cannot create a sandbox in \(path): its directory belongs to root (uid 0)"), "\(simulate)")
        #expect(try memory.children().isEmpty, "no sandbox was made")

        let watch = asUser(["watch", path, "--kill", "largest"])
        #expect(watch.status == 77, "\(watch)")
        #expect(
            watch.standardError.contains("cannot handle OOMs in \(path)") && watch.standardError.contains(noDelegation),
            "\(watch)")
        #expect(try memory.limit() == ByteCount(32 << 20))
    }

    @Test func theDelegationPointIsNamedAndWhatIsBelowItWorks() throws {
        let test = try TestCgroup(limit: ByteCount(64 << 20))
        defer { test.destroy() }
        // Delegated as the kernel's cgroup-v2.rst describes (the directory and its process files; v1 has
        // `tasks` where v2 has cgroup.threads): the user's own processes start in it.
        for file in ["", "/cgroup.procs", "/tasks"] { try chown(test.directory + file) }
        let path = test.path.description

        let point = asUser(["reserve", path, "16M"], in: test.directory)
        #expect(point.status == 77, "\(point)")
        #expect(point.standardError.contains("belongs to root (uid 0)"), "\(point)")
        #expect(point.standardError.contains("\(path) is the delegation point of your subtree"), "\(point)")

        // A child the user makes is theirs, files and all: a reserve there is recorded.
        let made = ProcessRunner.run(setpriv, dropped + ["/bin/mkdir", test.directory + "/app"])
        #expect(made.status == 0, "\(made)")
        try test.setLimit(ByteCount(32 << 20), on: test.path.appending("app"))
        let child = asUser(["reserve", "\(path)/app", "8M"], in: test.directory)
        #expect(child.status == 0, "\(child)")
        #expect(child.standardOutput.contains("in attribute user.oomctl.reserve"), "\(child)")

        // Outside the subtree (the test's parent), the message names the subtree that is the user's.
        let outside = try #require(test.path.parent)
        let refused = asUser(["reserve", outside.description, "8M"], in: test.directory)
        #expect(refused.status == 77, "\(refused)")
        #expect(refused.standardError.contains("your delegated subtree is \(path)"), "\(refused)")
        let moved = ProcessRunner.oomctl(["reserve", "\(path)/app", "--clear"])
        #expect(moved.status == 0, "root clears it: \(moved)")
    }
}
