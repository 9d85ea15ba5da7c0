import Testing

@testable import OOMKit

/// The metrics' label values stay few, whatever hooks do.
struct WatchMetricsTests {
    static func result(exit: Int32? = nil, signal: Int32? = nil, timedOut: Bool = false) -> HookResult {
        HookResult(
            command: "true", exitStatus: exit, signal: signal, timedOut: timedOut, output: "", droppedOutputBytes: 0,
            startLatencyMicroseconds: 0, durationMicroseconds: 0)
    }

    /// Four `status` values for any exit status or signal (they used to be `exit_N` and `signal_N`: up to
    /// 320 series per cgroup).
    @Test func aHookRunsStatusIsOneOfFour() {
        var seen = Set<String>()
        for code in Int32(0)...255 { seen.insert(WatchMetrics.hookStatus(Self.result(exit: code))) }
        for signal in Int32(1)...64 { seen.insert(WatchMetrics.hookStatus(Self.result(signal: signal))) }
        seen.insert(WatchMetrics.hookStatus(Self.result(signal: 9, timedOut: true)))
        #expect(seen == ["succeeded", "failed", "killed", "timed_out"])
        #expect(WatchMetrics.hookStatus(Self.result(exit: 0)) == "succeeded")
        #expect(WatchMetrics.hookStatus(Self.result(exit: 3)) == "failed")
        #expect(WatchMetrics.hookStatus(Self.result(signal: 15)) == "killed")
        #expect(WatchMetrics.hookStatus(Self.result(exit: 0, timedOut: true)) == "timed_out")
    }
}
