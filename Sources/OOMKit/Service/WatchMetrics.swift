import CoreMetrics

/// What a ``WatchService`` did, recorded through swift-metrics (`CoreMetrics`), so that a program linking
/// OOMKit renders it with whatever backend it bootstraps (`MetricsSystem.bootstrap`); without one, every
/// call is swift-metrics' no-op. The service makes one when ``WatchConfiguration/metrics`` is set and feeds
/// it every event, ``HandlingStep`` and change of its gauges; `oomctl watch --metrics-file` renders it with
/// swift-prometheus.
///
/// The names follow Prometheus's conventions: an `oomctl_` prefix, base units (seconds, bytes), `_total`
/// on counters; `oomctl_kernel_oom_kills_total` lines up with cAdvisor's `container_oom_events_total` and
/// node_exporter's `node_vmstat_oom_kill`. Counters are per cgroup (label `cgroup`, the hierarchy-relative
/// path): the first ``cgroupLimit`` cgroups seen have series of their own for the life of the watch, every
/// later one is folded into ``otherCgroups``, so a total is always `sum without (cgroup)` and the number of
/// series stays bounded however many cgroups come and go. Histograms and gauges are the watch's, without a
/// cgroup label.
///
/// Counters (label `cgroup`, plus the one named):
/// - `oomctl_events_total{kind}`: events the kernel reported on a watched cgroup, as it counted them
///   (`oom`, `oom-kill`, `high`, `max`, `pressure`; v1 notifies every watched cgroup below the one whose
///   limit was hit: each counts it);
/// - `oomctl_wakeups_not_in_distress_total{kind}`: v2 wake-ups that found the cgroup not in distress;
/// - `oomctl_handlings_total{outcome}`: finished handlings (`killed`, `resolved_by_hook`, `resolved`,
///   `fell_back_to_kernel`, `reported`, `dry_run`, `removed`, `failed`, …);
/// - `oomctl_kills_total`, `oomctl_killed_processes_total`, `oomctl_freed_bytes_total` (usage before minus
///   after the kill);
/// - `oomctl_hook_runs_total{status}` (``hookStatus(_:)``: `succeeded`, `failed`, `killed`, `timed_out`),
///   `oomctl_hook_timeouts_total`;
/// - `oomctl_kernel_fallbacks_total`: the kernel killer re-enabled for a handling;
/// - `oomctl_reserve_grants_total`;
/// - `oomctl_kernel_oom_kills_total`: the kernel's own OOM kills (v2 memory.events `oom_kill`, read when
///   watched for `oom-kill`).
///
/// Histograms (swift-metrics `Timer`, seconds): `oomctl_detection_to_hook_start_seconds`,
/// `oomctl_detection_to_victim_dead_seconds`, `oomctl_hook_duration_seconds`. Gauges: `oomctl_watched_cgroups`,
/// `oomctl_handlings_in_progress`, `oomctl_armed_cgroups` (v1, kernel killer disabled),
/// `oomctl_resident_memory_bytes` and `oomctl_locked_memory_bytes` (the watch process's VmRSS and VmLck).
///
/// Single-threaded, like the service: call it from the service's thread.
public final class WatchMetrics {
    /// Per-cgroup series for this many cgroups by default.
    public static let defaultCgroupLimit = 100
    /// The `cgroup` label of every cgroup beyond ``cgroupLimit``.
    public static let otherCgroups = "(other)"

    /// How many cgroups have series of their own.
    public let cgroupLimit: Int
    /// Called after anything was recorded (a backend that writes its figures out schedules that here).
    public var onChange: () -> Void = {}

    private let factory: any MetricsFactory
    private let procfs: ProcFS
    /// The cgroups that have series of their own, and their label.
    private var labels: [CgroupPath: String] = [:]
    /// When each handling in progress was detected (its `detected` step), for the kill's latency.
    private var detected: [Int: ContinuousClock.Instant] = [:]
    private let clock = ContinuousClock()
    private var lastGauges: Gauges?

    /// The service's gauges at one moment.
    public struct Gauges: Sendable, Equatable {
        public var watchedCgroups: Int
        public var handlingsInProgress: Int
        public var armedCgroups: Int
        public var resident: ByteCount?
        public var locked: ByteCount?

        public init(
            watchedCgroups: Int, handlingsInProgress: Int, armedCgroups: Int, resident: ByteCount? = nil,
            locked: ByteCount? = nil
        ) {
            self.watchedCgroups = watchedCgroups
            self.handlingsInProgress = handlingsInProgress
            self.armedCgroups = armedCgroups
            self.resident = resident
            self.locked = locked
        }
    }

    /// Records into `factory` (by default the one bootstrapped, `MetricsSystem.factory`); the watch's own
    /// memory is read from `procfs`.
    public init(
        cgroupLimit: Int = WatchMetrics.defaultCgroupLimit, factory: (any MetricsFactory)? = nil,
        procfs: ProcFS = ProcFS()
    ) {
        self.cgroupLimit = max(0, cgroupLimit)
        self.factory = factory ?? MetricsSystem.factory
        self.procfs = procfs
    }

    /// The `cgroup` label of `path`: its own while fewer than ``cgroupLimit`` cgroups have one, else
    /// ``otherCgroups``.
    public func label(for path: CgroupPath) -> String {
        if let label = labels[path] { return label }
        guard labels.count < cgroupLimit else { return Self.otherCgroups }
        let label = path.description.visibleControlCharacters
        labels[path] = label
        return label
    }

    /// An event the kernel reported on a watched cgroup.
    public func record(_ event: OOMEvent) {
        guard event.kind != .removed, event.count > 0 else { return }
        let cgroup = label(for: event.cgroup)
        count("oomctl_events_total", [("cgroup", cgroup), ("kind", event.kind.rawValue)], by: event.count)
        if event.kind == .oomKill { count("oomctl_kernel_oom_kills_total", [("cgroup", cgroup)], by: event.count) }
        onChange()
    }

    /// A step of a handling.
    public func record(_ step: HandlingStep) {
        switch step {
        case .detected(let report):
            detected[report.id] = clock.now
        case .notInDistress(let cgroup, let kind, let count, _):
            self.count(
                "oomctl_wakeups_not_in_distress_total", [("cgroup", label(for: cgroup)), ("kind", kind.rawValue)],
                by: count)
        case .hookFinished(_, let cgroup, let result):
            let label = label(for: cgroup)
            count("oomctl_hook_runs_total", [("cgroup", label), ("status", Self.hookStatus(result))])
            if result.timedOut { count("oomctl_hook_timeouts_total", [("cgroup", label)]) }
            time("oomctl_detection_to_hook_start_seconds", microseconds: result.startLatencyMicroseconds)
            time("oomctl_hook_duration_seconds", microseconds: result.durationMicroseconds)
        case .killed(let id, let cgroup, let report):
            let label = label(for: cgroup)
            count("oomctl_kills_total", [("cgroup", label)])
            count("oomctl_killed_processes_total", [("cgroup", label)], by: UInt64(report.signalledPIDs.count))
            if let before = report.usageBefore?.bytes, let after = report.usageAfter?.bytes, before > after {
                count("oomctl_freed_bytes_total", [("cgroup", label)], by: before - after)
            }
            if let since = detected[id] {
                Timer(label: "oomctl_detection_to_victim_dead_seconds", dimensions: [], factory: factory)
                    .recordNanoseconds((clock.now - since).totalNanoseconds)
            }
        case .fellBack(_, let cgroup, _):
            count("oomctl_kernel_fallbacks_total", [("cgroup", label(for: cgroup))])
        case .reserveGranted(_, let grant):
            count("oomctl_reserve_grants_total", [("cgroup", label(for: grant.cgroup))])
        case .finished(let report):
            detected[report.id] = nil
            count(
                "oomctl_handlings_total",
                [("cgroup", label(for: report.cgroup)), ("outcome", Self.label(for: report.outcome))])
        default:
            return
        }
        onChange()
    }

    /// The service's gauges, and the watch's own memory read now (`readingOwnMemory`; otherwise the
    /// figures read last stand); ``onChange`` only when a figure changed.
    public func update(_ gauges: Gauges, readingOwnMemory: Bool = true) {
        var gauges = gauges
        if readingOwnMemory, let status = try? procfs.ownStatus() {
            gauges.resident = status.residentSet
            gauges.locked = status.lockedMemory
        } else if !readingOwnMemory {
            gauges.resident = lastGauges?.resident
            gauges.locked = lastGauges?.locked
        }
        guard gauges != lastGauges else { return }
        lastGauges = gauges
        set("oomctl_watched_cgroups", gauges.watchedCgroups)
        set("oomctl_handlings_in_progress", gauges.handlingsInProgress)
        set("oomctl_armed_cgroups", gauges.armedCgroups)
        if let resident = gauges.resident { set("oomctl_resident_memory_bytes", Int(clamping: resident.bytes)) }
        if let locked = gauges.locked { set("oomctl_locked_memory_bytes", Int(clamping: locked.bytes)) }
        onChange()
    }

    /// The `status` label of a hook run, one of four: `succeeded` (exit 0), `failed` (another exit
    /// status), `killed` (by a signal, not at its timeout), `timed_out`. The exit status and the signal
    /// are in the hook's log line: as label values they would make up to 320 series per cgroup.
    public static func hookStatus(_ result: HookResult) -> String {
        if result.timedOut { return "timed_out" }
        guard let exitStatus = result.exitStatus else { return "killed" }
        return exitStatus == 0 ? "succeeded" : "failed"
    }

    /// The `outcome` label of a handling: its outcome in snake case.
    public static func label(for outcome: HandlingOutcome) -> String {
        switch outcome {
        case .resolvedByHook: "resolved_by_hook"
        case .resolved: "resolved"
        case .killed: "killed"
        case .fellBackToKernel: "fell_back_to_kernel"
        case .reported: "reported"
        case .panicTriggered: "panic_triggered"
        case .panicRehearsed: "panic_rehearsed"
        case .dryRun: "dry_run"
        case .removed: "removed"
        case .failed: "failed"
        }
    }

    private func count(_ name: String, _ dimensions: [(String, String)], by amount: UInt64 = 1) {
        Counter(label: name, dimensions: dimensions, factory: factory).increment(by: Int64(clamping: amount))
    }

    private func time(_ name: String, microseconds: Int64) {
        Timer(label: name, dimensions: [], factory: factory).recordMicroseconds(max(0, microseconds))
    }

    private func set(_ name: String, _ value: Int) {
        Gauge(label: name, dimensions: [], factory: factory).record(value)
    }
}
