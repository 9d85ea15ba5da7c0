import Testing

@testable import OOMKit

/// What `oomctl status` says a handling is doing, step by step: every phase a handling goes through,
/// then its place among the finished ones. (The real test, StatusCommandTests, sees the hook phase and
/// the outcome of a real OOM; this one walks the phases it cannot time.)
@Suite struct StatusRecorderTests {
    @Test func everyStepOfAHandlingShowsAsItsPhase() throws {
        let recorder = StatusRecorder()
        let path = try CgroupPath("/batch")
        func phase() -> (String, String?)? { recorder.inProgress.first.map { ($0.phase, $0.detail) } }

        recorder.record(.detected(HandlingReport(id: 7, cgroup: path, event: .oom, count: 1)))
        #expect(phase()?.0 == "detected")
        recorder.record(.held(id: 7, cgroup: path))
        #expect(phase()?.0 == "held")
        recorder.record(.snapshotWritten(id: 7, cgroup: path, path: "/var/lib/oomctl/x.json"))
        #expect(phase()?.0 == "snapshot")
        recorder.record(.hookStarted(id: 7, cgroup: path, command: "dump-heap"))
        #expect(phase()?.0 == "hook" && phase()?.1 == "dump-heap")
        recorder.record(
            .hookFinished(
                id: 7, cgroup: path,
                result: HookResult(
                    command: "dump-heap", exitStatus: 1, signal: nil, timedOut: false, output: "",
                    droppedOutputBytes: 0, startLatencyMicroseconds: 900, durationMicroseconds: 20_000)))
        #expect(phase()?.0 == "hook")
        recorder.record(.victimSignalled(id: 7, cgroup: path, pids: [4242, 4243]))
        #expect(phase()?.0 == "killing" && phase()?.1 == "pid 4242,4243")
        recorder.record(.hookStarted(id: 7, cgroup: path, command: "notify-oncall"))
        #expect(phase()?.0 == "post-kill hook", "a hook after the kill is a post-kill hook")
        recorder.record(.fellBack(id: 7, cgroup: path, after: .seconds(5)))
        #expect(phase()?.0 == "fallen back")
        // Steps of other handlings, or of none, change nothing here.
        recorder.record(.hookStarted(id: 8, cgroup: path, command: "other"))
        recorder.record(.removed(cgroup: try CgroupPath("/gone")))
        #expect(recorder.inProgress.count == 1 && phase()?.0 == "fallen back")

        var report = HandlingReport(id: 7, cgroup: path, event: .oom, count: 1)
        report.outcome = .fellBackToKernel
        recorder.record(.finished(report))
        #expect(recorder.inProgress.isEmpty)
        #expect(recorder.finishedCount == 1)
        #expect(recorder.recent.first?.id == 7)
        #expect(recorder.recent.first?.outcome == .fellBackToKernel)
    }
}
