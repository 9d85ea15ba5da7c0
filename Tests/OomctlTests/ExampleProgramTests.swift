import Glibc
import OOMKit
import OOMTestSupport
import Testing

/// Examples/oomkit-example, the program on OOMKit's public API alone: it handles a real v1 OOM, and the
/// kernel killer comes back whether it is stopped or killed.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct ExampleProgramTests {
    /// The example built beside oomctl.
    static var examplePath: String {
        let oomctl = ProcessRunner.oomctlPath
        return String(oomctl.dropLast("oomctl".count)) + "oomkit-example"
    }

    /// The example, started on a test cgroup, once it has announced itself.
    final class RunningExample {
        let pid: pid_t
        let outputPath = ProcessRunner.temporaryPath("example.out")

        init(_ arguments: [String]) throws {
            guard
                let pid = ProcessRunner.spawn(
                    ExampleProgramTests.examplePath, arguments, standardOutput: outputPath, standardError: outputPath)
            else { throw SystemCallError("spawn", path: ExampleProgramTests.examplePath, errno: errno) }
            self.pid = pid
            waitFor { $0.contains("watching ") || ProcessRunner.wait(for: pid, timeout: .milliseconds(1)) != nil }
        }

        deinit {
            kill(pid, SIGKILL)
            _ = ProcessRunner.wait(for: pid, timeout: .seconds(5))
            unlink(outputPath)
        }

        var output: String { ProcessRunner.readText(outputPath) }

        @discardableResult
        func waitFor(_ timeout: Duration = .seconds(10), _ condition: (String) -> Bool) -> Bool {
            let clock = ContinuousClock()
            let deadline = clock.now + timeout
            while clock.now < deadline {
                if condition(output) { return true }
                usleep(20_000)
            }
            return condition(output)
        }
    }

    private func killerDisabled(_ test: TestCgroup) throws -> Bool {
        try MemoryCgroup.open(test.path, in: test.system).oomControl().oomKillDisable
    }

    @Test func itHandlesARealOOMAndRestoresTheKillerOnSIGTERM() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let example = try RunningExample([test.path.description, "echo looked; exit 1", "largest"])
        #expect(example.output.contains("watching 1 cgroup(s), guardian "), "\(example.output)")
        #expect(try killerDisabled(test), "the kernel waits for the example")
        let hog = try test.spawnHog("100M")
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL, "the hog was killed")
        #expect(example.waitFor { $0.contains("handled: killed") }, "\(example.output)")
        #expect(example.output.contains("oom in \(test.path)"))
        #expect(example.output.contains("hook exit 1: looked"))
        kill(example.pid, SIGTERM)
        #expect(ProcessRunner.wait(for: example.pid, timeout: .seconds(5)) == 0)
        #expect(example.output.contains("stopped by signal 15"))
        #expect(try !killerDisabled(test), "the example gave the kernel killer back")
    }

    @Test func whenItIsSIGKILLedItsGuardianRestoresTheKiller() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let example = try RunningExample([test.path.description, "true"])
        #expect(try killerDisabled(test), "\(example.output)")
        kill(example.pid, SIGKILL)
        _ = ProcessRunner.wait(for: example.pid, timeout: .seconds(5))
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < .seconds(3), try killerDisabled(test) { usleep(10_000) }
        #expect(try !killerDisabled(test), "the guardian re-enabled the kernel killer")
        // And an OOM now is the kernel's: the hog dies without anyone handling it.
        let hog = try test.spawnHog("100M")
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
    }

    @Test func aBadPolicyIsAUsageError() throws {
        let result = ProcessRunner.run(Self.examplePath, ["/", "true", "biggest"])
        #expect(result.status == 64)
        #expect(result.standardOutput.contains("unknown policy 'biggest'"))
    }
}
