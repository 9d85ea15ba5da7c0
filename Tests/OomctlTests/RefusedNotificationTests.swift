import Glibc
import OOMKit
import OOMTestSupport
import Testing

/// strace, which injects the kernel's refusal into the one write that registers the eventfd.
private let strace: String? = ["/usr/bin/strace", "/bin/strace"].first { (path: String) in access(path, X_OK) == 0 }

/// `oomctl watch` on a kernel that refuses v1 OOM notifications (PREEMPT_RT kernels answer the write to
/// cgroup.event_control with EOPNOTSUPP). This kernel does not refuse, so strace makes exactly that write
/// fail with EOPNOTSUPP (`-P` limits the injection to the one file) on a real test cgroup.
@Suite(
    .enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"),
    .enabled(if: strace != nil, "strace is not installed (scripts/bootstrap installs it)"))
struct RefusedNotificationTests {
    @Test func watchExitsUnavailableNamesTheCauseAndLeavesNothingChanged() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let control = test.directory + "/cgroup.event_control"
        let result = ProcessRunner.run(
            "/usr/bin/timeout",
            [
                "20", strace ?? "strace", "-f", "-qq", "-o", "/dev/null", "-P", control, "-e", "trace=write", "-e",
                "inject=write:error=EOPNOTSUPP", ProcessRunner.oomctlPath, "watch", test.path.description,
                "--kill", "largest", "--no-self-protection",
            ])
        #expect(result.status == 69, "EX_UNAVAILABLE: \(result)")
        #expect(
            result.standardError.contains(
                "this kernel refuses v1 OOM notifications (EOPNOTSUPP): PREEMPT_RT kernels do"),
            "\(result)")
        #expect(result.standardError.contains("use cgroup v2"), "\(result)")
        #expect(result.standardError.contains(test.directory + "/memory.oom_control"), "names the file: \(result)")
        let memory = try MemoryCgroup.open(test.path, in: CgroupSystem())
        #expect(try !memory.oomControl().oomKillDisable, "the kernel killer is back: nothing waits for watch")
    }
}
