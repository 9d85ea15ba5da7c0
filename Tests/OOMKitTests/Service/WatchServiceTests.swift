import Glibc
import OOMTestSupport
import Testing

@testable import OOMKit

/// WatchService on the real v1 hierarchy, as a program would use it: a real OOM, and a stop from inside
/// a callback that must leave nothing running and nothing disabled.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct WatchServiceTests {
    private func killerDisabled(_ test: TestCgroup) throws -> Bool {
        try MemoryCgroup.open(test.path, in: test.system).oomControl().oomKillDisable
    }

    private func service(on test: TestCgroup, hooks: [String]) throws -> WatchService {
        var handling = HandlingOptions()
        handling.hooks = hooks
        handling.delay = .seconds(5)
        let oomctl = ProcessRunner.oomctlPath
        return try WatchService(
            system: test.system,
            configuration: WatchConfiguration(
                scope: .cgroups([test.path], recursive: false), handling: handling, selfProtection: nil,
                guardian: GuardianLaunch(executable: oomctl, arguments: [oomctl, "guardian"]), handlesSignals: false))
    }

    @Test func aStopFromInsideACallbackEndsEverythingAtOnce() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let service = try service(on: test, hooks: ["sleep 30"])
        var steps: [String] = []
        var stoppedAt: ContinuousClock.Instant?
        let clock = ContinuousClock()
        service.onStep = { step in
            steps.append("\(step)".prefix { $0 != "(" }.description)
            if case .hookStarted = step {
                stoppedAt = clock.now
                service.stop()
            }
        }
        try service.start()
        #expect(try killerDisabled(test), "the kernel waits for the service")
        let hog = try test.spawnHog("100M")
        service.run()
        let returnedAt = clock.now
        #expect(steps == ["detected", "hookStarted"], "nothing after the stop: \(steps)")
        #expect(try !killerDisabled(test), "the kernel killer is back")
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 128 + SIGKILL, "the kernel killed the hog")
        if let stoppedAt { #expect(returnedAt - stoppedAt < .milliseconds(500), "run() returned at once") }
        // The loop is still there (a program may run it again): nothing of the service runs in it.
        let again = try test.spawnHog("100M")
        for _ in 0..<10 { service.loop.runOnce(timeout: .milliseconds(30)) }
        #expect(steps == ["detected", "hookStarted"], "\(steps)")
        #expect(ProcessRunner.wait(for: again, timeout: .seconds(10)) == 128 + SIGKILL)
    }
}
