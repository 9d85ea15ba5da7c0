import Glibc

/// What a running ``WatchService`` is doing, as `oomctl status` shows it: who it is, the options in
/// force, every watched cgroup, the handlings in progress (phase and age), the last finished ones, and
/// its guardian. A value made in one go by ``WatchService/status()`` in the loop's thread; encoded as
/// JSON (``JSONOutput``) for the control socket and `oomctl status --json`.
///
/// A new field: add it here (optional, so that a client reads an older watch's reply), fill it in
/// ``WatchService/status()``, and show it in the CLI's `StatusSummary`.
public struct WatchStatus: Sendable, Codable, Equatable {
    /// The watch process.
    public var pid: Int32
    /// Its effective uid: the only user besides root whose `oomctl status` it answers.
    public var uid: UInt32
    /// The version of the program that runs the service (``ControlSocketOptions/version``).
    public var version: String
    /// When the service started (RFC 3339, UTC).
    public var startedAt: String
    public var uptimeMilliseconds: Int64
    public var options: Options
    /// Every watched cgroup (all of them are counted in ``cgroupCount``; the list stops at
    /// ``listedCgroupLimit``, so that a reply stays small for a `--recursive` watch of a big tree).
    public var cgroups: [WatchedCgroup]
    public var cgroupCount: Int
    public var handlings: [HandlingInProgress]
    /// The last ``StatusRecorder/recentLimit`` finished handlings, oldest first.
    public var recent: [FinishedHandling]
    /// Handlings finished since the start, the ones no longer in ``recent`` included.
    public var finishedCount: Int
    /// The guardian (nil: none runs, e.g. a dry run or a v2 watch without reserves).
    public var guardian: GuardianStatus?
    /// Whether the watch answers `metrics`.
    public var metricsEnabled: Bool

    /// At most this many cgroups are listed in one reply.
    public static let listedCgroupLimit = 512

    /// The options in force.
    public struct Options: Sendable, Codable, Equatable {
        /// `cgroups` or `system`.
        public var scope: String
        public var targets: [CgroupPath]
        public var recursive: Bool
        /// The event kinds watched, for the cgroup version in use ("1" or "2").
        public var events: [String: [OOMEvent.Kind]]
        /// `none`, `kill POLICY cgroup|process` or `panic MODE`.
        public var action: String
        public var delayMilliseconds: Int64
        public var hookTimeoutMilliseconds: Int64
        public var hooks: [String]
        public var postKillHooks: [String]
        /// `none` or `freeze`.
        public var hold: String
        public var dryRun: Bool
        public var snapshotDirectory: String?
        public var minimumIntervalMilliseconds: Int64
        /// Whether watch locks its memory and lowers its oom_score_adj.
        public var selfProtection: Bool
        /// `--self-reserve`, bytes.
        public var selfReserve: ByteCount?
    }

    /// One watched cgroup.
    public struct WatchedCgroup: Sendable, Codable, Equatable {
        public var path: CgroupPath
        public var version: CgroupVersion
        /// v1: watch disabled the kernel OOM killer here (memory.oom_control), so an OOM waits for it.
        public var armed: Bool
        /// A reserve granted now (the limit is raised by it until the handling gives it back).
        public var reserveGranted: ByteCount?
    }

    /// A handling that has not finished.
    public struct HandlingInProgress: Sendable, Codable, Equatable {
        public var id: Int
        public var cgroup: CgroupPath
        public var event: OOMEvent.Kind
        /// Where it is: `detected`, `snapshot`, `hook`, `deciding`, `killing`, `post-kill hook`,
        /// `awaiting resolution`, `fallen back`, `panicking`.
        public var phase: String
        /// The hook running (in `hook` and `post-kill hook`), the victim (in `killing`).
        public var detail: String?
        /// Since detection.
        public var ageMilliseconds: Int64
    }

    /// A handling that finished.
    public struct FinishedHandling: Sendable, Codable, Equatable {
        public var id: Int
        public var cgroup: CgroupPath
        public var event: OOMEvent.Kind
        public var outcome: HandlingOutcome
        /// RFC 3339, UTC.
        public var finishedAt: String
        /// From detection to the end of the handling.
        public var durationMilliseconds: Int64
        /// What was killed, as the pipeline reported it (nil: nothing).
        public var killed: String?
    }

    /// The guardian process.
    public struct GuardianStatus: Sendable, Codable, Equatable {
        public var pid: Int32
        public var alive: Bool
        /// How often it was started again after it died.
        public var restarts: Int
    }
}

/// Follows the steps of every handling, for ``WatchStatus``: the ones in progress and their phase, the
/// last ones finished. Costs a dictionary entry per running handling and a ring of
/// ``recentLimit`` reports.
package final class StatusRecorder {
    /// Finished handlings kept.
    package static let recentLimit = 16

    private struct Running {
        var cgroup: CgroupPath
        var event: OOMEvent.Kind
        var phase: String
        var detail: String?
        var since: ContinuousClock.Instant
        var acted = false
    }

    private var running: [Int: Running] = [:]
    private(set) var recent: [WatchStatus.FinishedHandling] = []
    private(set) var finishedCount = 0
    private let clock = ContinuousClock()

    package init() {}

    /// Takes one step into account.
    package func record(_ step: HandlingStep) {
        switch step {
        case .detected(let report):
            running[report.id] = Running(
                cgroup: report.cgroup, event: report.event, phase: "detected", since: clock.now)
        case .snapshotWritten(let id, _, _): set(id, "snapshot")
        case .reserveGranted(let id, _): set(id, "reserve granted")
        case .held(let id, _): set(id, "held")
        case .hookStarted(let id, _, let command):
            set(id, running[id]?.acted == true ? "post-kill hook" : "hook", detail: command)
        case .hookFinished(let id, _, _): set(id, running[id]?.acted == true ? "post-kill hook" : "hook")
        case .decided(let id, _, _): set(id, "deciding")
        case .victimSignalled(let id, _, let pids):
            running[id]?.acted = true
            set(id, "killing", detail: "pid " + pids.map(String.init).joined(separator: ","))
        case .killed(let id, _, _):
            running[id]?.acted = true
            set(id, "awaiting resolution")
        case .fellBack(let id, _, _): set(id, "fallen back")
        case .panicking(let id, _, _): set(id, "panicking")
        case .finished(let report): finished(report)
        case .coalesced, .reserveRestored, .failed, .released, .notInDistress, .removed, .notifiedOfOtherOOM: break
        }
    }

    private func set(_ id: Int, _ phase: String, detail: String? = nil) {
        running[id]?.phase = phase
        running[id]?.detail = detail
    }

    private func finished(_ report: HandlingReport) {
        running[report.id] = nil
        finishedCount += 1
        let killed = report.kill.map { kill in
            let count = kill.signalledPIDs.count
            let place = kill.cgroup.map { " in \($0)" } ?? ""
            return "\(count) process\(count == 1 ? "" : "es")\(place)"
        }
        recent.append(
            WatchStatus.FinishedHandling(
                id: report.id, cgroup: report.cgroup, event: report.event, outcome: report.outcome,
                finishedAt: SnapshotCollector.timestamp(), durationMilliseconds: report.durationMicroseconds / 1000,
                killed: killed))
        if recent.count > Self.recentLimit { recent.removeFirst(recent.count - Self.recentLimit) }
    }

    /// The handlings in progress, by id.
    package var inProgress: [WatchStatus.HandlingInProgress] {
        let now = clock.now
        return running.keys.sorted().compactMap { id in
            guard let entry = running[id] else { return nil }
            return WatchStatus.HandlingInProgress(
                id: id, cgroup: entry.cgroup, event: entry.event, phase: entry.phase, detail: entry.detail,
                ageMilliseconds: (now - entry.since).totalMilliseconds)
        }
    }
}

extension HandlingOptions {
    /// The action as `oomctl status` words it.
    var actionDescription: String {
        switch action {
        case .none: "none"
        case .kill(let policy): "kill \(policy.policy.rawValue) \(policy.kind.rawValue)"
        case .panic(let panic): "panic \(panic.mode.rawValue)"
        }
    }
}
