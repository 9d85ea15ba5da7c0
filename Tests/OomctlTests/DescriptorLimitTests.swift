import Glibc
import OOMKit
import OOMTestSupport
import Testing

/// At its descriptor limit (a `--recursive` watch of a tree that grew past RLIMIT_NOFILE) watch used to
/// fail an OOM before any deadline was armed, and the fallback's write could not open memory.oom_control
/// either: the cgroup hung with no end (issue 13, item 2). Whatever fails on the handling path, the OOM
/// must end in the kernel's hands.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct DescriptorLimitTests {
    @Test func anOOMAtTheDescriptorLimitEndsAndDoesNotHang() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let target = try test.makeChild("c0", limit: ByteCount(32 << 20))
        let watch = try RunningWatch(
            [
                test.path.description, "--recursive", "--kill", "largest", "--delay", "1s", "--json",
                "--no-self-protection",
            ],
            launcher: ["/usr/bin/prlimit", "--nofile=40:40", "--"])
        // Children until watch cannot watch one more: its descriptors are used up.
        var made = 0
        while made < 80 && !watch.output.contains("Too many open files") {
            _ = try test.makeChild("x\(made)")
            made += 1
            usleep(10_000)
        }
        #expect(watch.waitFor { $0.output.contains("Too many open files") }, "watch reached its limit: \(watch.output)")
        let hog = try test.spawnHog("100M", in: target)
        #expect(
            ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL,
            "the OOM ended (watch's kill or, after the fallback, the kernel's): \(watch.output)")
        #expect(
            watch.waitFor { $0.records.contains { $0["cgroup"] == target.description && $0["outcome"] != nil } },
            "and its handling finished: \(watch.output)")
        #expect(watch.stop() == 0)
    }
}
