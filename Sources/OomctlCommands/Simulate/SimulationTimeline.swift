import OOMKit

/// One line of a sandbox run's timeline: what happened, when (since the sandbox was created), and the
/// figures that go with it. The JSON form of `oomctl simulate --json` (`timeline[]`).
struct TimelineEntry: Codable, Sendable {
    /// Milliseconds since the sandbox was created.
    var atMilliseconds: Double
    /// What happened: created, reserve, started and exited (--exec commands), hog-started, detected, reserve-granted, snapshot, hook-started,
    /// hook-finished, decided, killed, fell-back, reserve-restored, handled, failed, hog-exited,
    /// timed-out, interrupted, removed.
    var event: String
    /// The line a person reads.
    var message: String
    var cgroup: String?
    var pid: Int32?
    var exitStatus: Int32?
    var signal: Int32?
    /// Usage (detected), the reserve (reserve, reserve-granted), or freed bytes (killed).
    var bytes: UInt64?
    var durationMilliseconds: Double?
    var hook: String?
    var output: String?
    var outcome: String?
    var victim: String?
    /// Who ended a hog (hog-exited): oomctl, the kernel OOM killer, or nobody (it finished).
    var killedBy: String?
}

/// A whole sandbox run: the sandbox, the hogs, the timeline, and what came of it.
struct SimulationResult: Codable, Sendable {
    /// The sandbox cgroup, hierarchy-relative, and its directory.
    var sandbox: String
    var sandboxDirectory: String
    var cgroupVersion: Int
    var limitBytes: UInt64
    var reserveBytes: UInt64?
    var swapDisabled: Bool
    var hogs: Int
    var hogSizeBytes: UInt64
    var hogRateBytesPerSecond: UInt64?
    var timeline: [TimelineEntry] = []
    /// From the first hog's start to the first OOM event, when one came.
    var detectedAfterMilliseconds: Double?
    /// The outcome of each handling, in order (e.g. "killed", "fell back to the kernel").
    var outcomes: [String] = []
    /// Whether a handling fell back to the kernel OOM killer.
    var fellBack = false
    /// Hogs killed by oomctl, by the kernel, and hogs that finished.
    var hogsKilledByOomctl = 0
    var hogsKilledByKernel = 0
    var hogsFinished = 0
    /// cgroup v2: wake-ups (high, max, pressure) whose verdict was "not in distress": nothing ran.
    var wakeUpsNotInDistress = 0
    var timedOut = false
    /// The signal that interrupted the run (SIGINT for Ctrl-C), if one did.
    var interruptedBy: Int32?
    /// Whether everything the run created is gone.
    var removed = false
    /// What could not be cleaned up, if anything.
    var cleanupProblems: [String] = []

    init(sandbox: MemorySandbox, limit: ByteCount, hogs: Int, hogSize: ByteCount, hogRate: ByteCount?) {
        self.sandbox = sandbox.memory.path.description
        sandboxDirectory = sandbox.memory.cgroup.filesystemPath
        cgroupVersion = sandbox.memory.version == .v1 ? 1 : 2
        limitBytes = limit.bytes
        swapDisabled = sandbox.swapDisabled
        self.hogs = hogs
        hogSizeBytes = hogSize.bytes
        hogRateBytesPerSecond = hogRate?.bytes
    }

    /// The last line of a readable run: what happened, in one sentence.
    var summary: String {
        var parts: [String] = []
        if let detectedAfterMilliseconds {
            parts.append("OOM detected \(Self.milliseconds(detectedAfterMilliseconds)) after the hog started")
        } else {
            parts.append("no OOM event was detected")
        }
        if !outcomes.isEmpty { parts.append("handled: " + outcomes.joined(separator: ", ")) }
        if wakeUpsNotInDistress > 0 { parts.append("\(wakeUpsNotInDistress) wake-up(s) not in distress") }
        var hogParts: [String] = []
        if hogsKilledByOomctl > 0 { hogParts.append("\(hogsKilledByOomctl) killed by oomctl") }
        if hogsKilledByKernel > 0 { hogParts.append("\(hogsKilledByKernel) killed by the kernel") }
        if hogsFinished > 0 { hogParts.append("\(hogsFinished) finished") }
        if !hogParts.isEmpty { parts.append("hogs: " + hogParts.joined(separator: ", ")) }
        parts.append(fellBack ? "fell back to the kernel OOM killer" : "no fallback to the kernel")
        if timedOut { parts.append("timed out") }
        if let interruptedBy { parts.append("interrupted by signal \(interruptedBy)") }
        parts.append(removed ? "sandbox removed" : "SANDBOX LEFT BEHIND: \(sandboxDirectory)")
        return parts.joined(separator: "; ")
    }

    static func milliseconds(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) ms"
    }
}

extension TimelineEntry {
    /// The readable line: `  +312.4 ms  detected     oom in … `.
    var line: String {
        let time = "+" + SimulationResult.milliseconds(atMilliseconds)
        let padded = String(repeating: " ", count: max(0, 12 - time.count)) + time
        let label = event + String(repeating: " ", count: max(0, 17 - event.count))
        return "\(padded)  \(label)\(message)"
    }
}
