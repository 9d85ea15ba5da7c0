import Glibc
import OOMTestSupport
import Testing

@testable import OOMKit

/// Drives a ``Handler`` on a fixture tree with a real ``EventLoop``: records every step, and runs the
/// loop until the expected number of handlings finished or an overall bound passed.
final class HandlerHarness {
    /// The steps and re-arms seen, in order (a box of its own so that the handler's closures hold no
    /// reference to the harness).
    final class Log {
        var steps: [HandlingStep] = []
        var rearmed: [CgroupPath] = []
        /// Called for each step after it was recorded (to act as the kernel would, e.g. end an OOM).
        var react: ((HandlingStep) -> Void)?
    }

    let tree: FixtureTree
    let system: CgroupSystem
    let loop: EventLoop
    let log = Log()
    let handler: Handler
    let clock = ContinuousClock()

    init(
        tree: FixtureTree, options: HandlingOptions,
        reserves: (CgroupSystem, EventLoop) -> ReserveGrants? = { _, _ in nil }, holds: FreezeHolds? = nil
    )
        throws
    {
        self.tree = tree
        system = try CgroupSystem(root: tree.root)
        loop = try EventLoop()
        let log = self.log
        handler = Handler(
            system: system, loop: loop, options: options, reserves: reserves(system, loop), holds: holds,
            rearm: { log.rearmed.append($0.path) },
            onStep: { step in
                log.steps.append(step)
                log.react?(step)
            })
    }

    deinit {
        // Kill hooks still running and reap them, so that no test leaves a process behind.
        log.react = nil
        handler.cancelAll()
        let end = clock.now + .seconds(1)
        while clock.now < end {
            if loop.runOnce(timeout: .milliseconds(30)) == 0 { break }
        }
    }

    /// An event for a cgroup of the fixture, detected now.
    func event(_ kind: OOMEvent.Kind, _ path: String, count: UInt64 = 1) -> OOMEvent {
        OOMEvent(kind: kind, cgroup: cgroupPath(path), count: count, detectedAt: clock.now)
    }

    /// The reports of the handlings finished so far.
    var finished: [HandlingReport] {
        log.steps.compactMap { if case .finished(let report) = $0 { report } else { nil } }
    }

    /// Runs the loop until `count` handlings have finished (or `bound` passed); returns their reports.
    @discardableResult
    func runUntilFinished(count: Int = 1, bound: Duration = .seconds(2)) -> [HandlingReport] {
        let end = clock.now + bound
        while finished.count < count && clock.now < end {
            loop.runOnce(timeout: .milliseconds(50))
        }
        return finished
    }

    /// Runs the loop for a while, whatever happens (to show that nothing more does).
    func run(for duration: Duration) {
        let end = clock.now + duration
        while clock.now < end { loop.runOnce(timeout: end - clock.now) }
    }

    /// The steps, each reduced to a short name, for comparing timelines.
    var stepNames: [String] { log.steps.map(Self.name) }

    static func name(_ step: HandlingStep) -> String {
        switch step {
        case .detected: "detected"
        case .coalesced: "coalesced"
        case .notifiedOfOtherOOM: "notifiedOfOtherOOM"
        case .snapshotWritten: "snapshot"
        case .hookStarted: "hookStarted"
        case .hookFinished: "hookFinished"
        case .decided: "decided"
        case .victimSignalled: "signalled"
        case .killed: "killed"
        case .fellBack: "fellBack"
        case .panicking: "panicking"
        case .reserveGranted: "reserveGranted"
        case .reserveRestored: "reserveRestored"
        case .failed: "failed"
        case .notInDistress: "notInDistress"
        case .held: "held"
        case .released: "released"
        case .removed: "removed"
        case .finished: "finished"
        }
    }

    var hookResults: [HookResult] {
        log.steps.compactMap { if case .hookFinished(_, _, let result) = $0 { result } else { nil } }
    }

    /// The text of a fixture file.
    func read(_ relative: String) -> String { ProcessRunner.readText(tree.root + "/" + relative) }
}

/// A child process of the test (`/bin/sleep` and the like), killed and reaped when released.
final class TestChild {
    let pid: pid_t
    private var reaped = false

    init(_ arguments: [String]) throws {
        pid = try #require(ProcessRunner.spawn(arguments[0], Array(arguments.dropFirst())))
    }

    /// Whether the process still runs (not exited; a zombie counts as exited).
    var isRunning: Bool {
        guard !reaped else { return false }
        let stat = ProcessRunner.readText("/proc/\(pid)/stat")
        guard let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].first { $0 != " " }
        return state != nil && state != "Z" && state != "X"
    }

    /// Waits until the process runs `name` (after an exec), up to a second.
    func waitForExec(_ name: String) {
        let clock = ContinuousClock()
        let end = clock.now + .seconds(1)
        while ProcessRunner.readText("/proc/\(pid)/comm") != name + "\n" && clock.now < end { usleep(5_000) }
    }

    /// Waits for the exit; 128 + signal when killed, nil when it still runs after `timeout`.
    func waitForExit(timeout: Duration = .seconds(1)) -> Int32? {
        guard let status = ProcessRunner.wait(for: pid, timeout: timeout) else { return nil }
        reaped = true
        return status
    }

    deinit {
        guard !reaped else { return }
        kill(pid, SIGKILL)
        _ = ProcessRunner.wait(for: pid)
    }
}

/// Whether this process may set `trusted.*` extended attributes on the cgroup's directory (root on most
/// file systems; the markers of ``KillerDisabledMarker`` and ``ReserveGrantMarker`` are such).
func trustedAttributesWork(on cgroup: Cgroup) -> Bool {
    let name = "trusted.oomctl.test-probe"
    guard (try? cgroup.setExtendedAttribute(name, [0x31])) != nil else { return false }
    try? cgroup.removeExtendedAttribute(name)
    return true
}

/// The PID of a process that existed a moment ago and is gone now (reaped).
func deadPID() throws -> Int32 {
    let pid = try #require(ProcessRunner.spawn("/bin/true", []))
    _ = ProcessRunner.wait(for: pid)
    return pid
}

/// A v1 memory.oom_control as the kernel shows it.
func oomControlText(disabled: Bool, underOOM: Bool, kills: Int = 0) -> String {
    "oom_kill_disable \(disabled ? 1 : 0)\nunder_oom \(underOOM ? 1 : 0)\noom_kill \(kills)\n"
}

/// A shell-quoted word (for paths put into test hook commands; never a cgroup name from the kernel).
func shellQuoted(_ text: String) -> String {
    "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
}
