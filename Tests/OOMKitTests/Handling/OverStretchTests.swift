import OOMKitCore
import Testing

@testable import OOMKit

/// ``OverStretch``, the one rule of when an OOM is over for good, and the guardian's verdict at an OOM's
/// deadline that uses it (``GuardianSession/deadlineVerdict(_:stretch:lookingSince:at:)``), on scripted
/// looks: a real cgroup cannot be made to read over at the very moment a deadline passes.
struct OverStretchTests {
    let start = ContinuousClock().now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    @Test func aStretchLastsWhileEveryLookFindsItOver() {
        var stretch = OverStretch()
        #expect(stretch.look(over: false, at: at(0)) == nil)
        #expect(stretch.look(over: true, at: at(10)) == .zero, "the first look that finds it over")
        #expect(stretch.look(over: true, at: at(30)) == .milliseconds(20))
        #expect(stretch.look(over: false, at: at(40)) == nil, "not over: the stretch ends")
        #expect(stretch.look(over: true, at: at(50)) == .zero, "and starts again")
        stretch.interrupt()
        #expect(stretch.look(over: true, at: at(60)) == .zero, "an interruption (notified again) ends it")
    }

    @Test func aGapLongerThanTheMaximumStartsItAgain() {
        var stretch = OverStretch()
        #expect(stretch.look(over: true, at: at(0), maximumGap: .milliseconds(25)) == .zero)
        #expect(stretch.look(over: true, at: at(20), maximumGap: .milliseconds(25)) == .milliseconds(20))
        #expect(stretch.look(over: true, at: at(60), maximumGap: .milliseconds(25)) == .zero, "unseen for 40 ms")
        #expect(stretch.look(over: true, at: at(160)) == .milliseconds(100), "no maximum: any gap counts")
    }

    static func control(underOOM: Bool, killerDisabled: Bool = true) -> OOMControl {
        OOMControl(oomKillDisable: killerDisabled, underOOM: underOOM, oomKill: 0)
    }

    /// Looks every 5 ms from the deadline (at 0) with the given under_oom readings; the verdicts.
    func verdicts(_ readings: [Bool?], notifiedAt notified: Int? = nil) -> [GuardianSession.DeadlineVerdict] {
        var stretch = OverStretch()
        var result: [GuardianSession.DeadlineVerdict] = []
        for (index, reading) in readings.enumerated() {
            if index == notified { stretch.interrupt() }
            let control = reading.map { Self.control(underOOM: $0) }
            let verdict = GuardianSession.deadlineVerdict(
                control, stretch: &stretch, lookingSince: at(0), at: at(index * 5))
            result.append(verdict)
            if verdict != .lookAgain { break }
        }
        return result
    }

    @Test func anOOMStillHeldAtItsDeadlineGoesToTheKernelAtOnce() {
        #expect(verdicts([true]) == [.handBack])
    }

    /// Before, the guardian looked once: a look at the moment a woken task retried its charge found the
    /// OOM over, and a stopped watch held it for another whole --delay.
    @Test func anOOMOverForAMomentAtItsDeadlineStillGoesToTheKernel() {
        #expect(verdicts([false, false, true]) == [.lookAgain, .lookAgain, .handBack])
    }

    @Test func anOOMOverForTheSettleTimeIsLeftAlone() {
        let readings = [Bool](repeating: false, count: 20)
        let result = verdicts(readings)
        #expect(result.last == .done && result.dropLast().allSatisfy { $0 == .lookAgain })
        #expect(result.count == 11, "over at 0 ms, settled at 50 ms (looks every 5 ms)")
    }

    @Test func aNotificationWhileLookingStartsTheSettleTimeAgain() {
        let result = verdicts([Bool](repeating: false, count: 40), notifiedAt: 8)
        #expect(result.count == 19, "settled 50 ms after the notification at 40 ms: \(result.count)")
        #expect(result.last == .done)
    }

    @Test func theKillerBackOrNothingToReadEndsIt() {
        #expect(verdicts([nil]) == [.done])
        var stretch = OverStretch()
        let handedBack = GuardianSession.deadlineVerdict(
            Self.control(underOOM: true, killerDisabled: false), stretch: &stretch, lookingSince: at(0), at: at(0))
        #expect(handedBack == .done, "watch handed it back itself")
    }

    @Test func theLookingIsBounded() {
        // Every look 30 ms after the last: over at each, but never seen for 50 ms without a gap.
        var stretch = OverStretch()
        var verdict = GuardianSession.DeadlineVerdict.lookAgain
        var looks = 0
        while verdict == .lookAgain && looks < 100 {
            verdict = GuardianSession.deadlineVerdict(
                Self.control(underOOM: false), stretch: &stretch, lookingSince: at(0), at: at(looks * 30))
            looks += 1
        }
        #expect(verdict == .done && looks == 8, "four settle times (200 ms) from the first look: \(looks) looks")
    }
}
