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

    /// A guardian that dies and cannot be started again: the service restores everything and stops with
    /// a ``GuardianLostError`` (the CLI exits 1 with it). The launch is a script that runs the guardian
    /// the first time and exits at once afterwards (a restarted guardian that dies again at once), or is
    /// gone (no new one can be started).
    @Test(arguments: [false, true]) func aGuardianThatCannotBeRestartedStopsTheServiceRestored(removed: Bool) throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let directory = FixtureTree()
        let script = directory.root + "/guardian.sh"
        let once = directory.root + "/started"
        directory.file(
            "guardian.sh",
            "#!/bin/sh\nif [ -e '\(once)' ]; then exit 3; fi\n: > '\(once)'\nexec '\(ProcessRunner.oomctlPath)' guardian\n"
        )
        chmod(script, 0o755)
        var handling = HandlingOptions()
        handling.delay = .seconds(5)
        let service = try WatchService(
            system: test.system,
            configuration: WatchConfiguration(
                scope: .cgroups([test.path], recursive: false), handling: handling, selfProtection: nil,
                guardian: GuardianLaunch(executable: script, arguments: [script]), handlesSignals: false))
        var notices: [String] = []
        service.onNotice = { notices.append("\($0)") }
        try service.start()
        #expect(try killerDisabled(test))
        let first = try #require(service.guardianPID)
        // Until the script has become the guardian (it exec'd oomctl).
        for _ in 0..<500 where !ProcessRunner.readText("/proc/\(first)/cmdline").contains("guardian\0") {
            usleep(2_000)
        }
        #expect(ProcessRunner.readText("/proc/\(first)/cmdline").contains("guardian\0"))
        if removed { unlink(script) }
        // Killed once: restarted (the script exits at once then); killed again or not startable: lost.
        kill(first, SIGKILL)
        let clock = ContinuousClock()
        let start = clock.now
        while service.failure == nil && clock.now - start < .seconds(5) {
            service.loop.runOnce(timeout: .milliseconds(50))
        }
        let failure = try #require(service.failure as? GuardianLostError, "\(notices)")
        #expect(failure.pid != 0 && failure.kind == .actionFailed)
        #expect(failure.description.contains("watch stopped and restored everything"), "\(failure.description)")
        if removed {
            #expect(failure.reason != .diedAgain(after: .zero) && failure.pid == first)
        } else {
            #expect(notices.contains { $0.contains("guardianRestarted") }, "\(notices)")
        }
        #expect(notices.contains { $0.contains("guardianLost") })
        #expect(try !killerDisabled(test), "everything restored before the service stopped")
        service.run()  // returns at once: the service has stopped
    }
}
