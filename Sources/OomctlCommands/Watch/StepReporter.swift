import Logging
import OOMKit

/// Turns the steps of a handling into log lines (console, JSON lines or journal entries, depending on
/// how logging was bootstrapped), each with its stable message id and fields.
struct StepReporter {
    let log = Logger(label: "oomctl.watch")

    func report(_ step: HandlingStep) {
        func base(_ id: Int, _ cgroup: CgroupPath) -> Logger.Metadata {
            ["cgroup": .string(cgroup.description), "handling_id": .stringConvertible(id)]
        }
        switch step {
        case .detected(let report):
            var metadata = base(report.id, report.cgroup)
            metadata["event"] = .string(report.event.rawValue)
            if let usage = report.usage { metadata["usage_bytes"] = .stringConvertible(usage.bytes) }
            if let limit = report.limit { metadata["limit"] = .string(limit.description) }
            var level = report.event == .oom || report.event == .oomKill ? "" : " (\(report.count)x)"
            if report.event == .oomKill {
                level = " (\(report.count) process\(report.count == 1 ? "" : "es") killed by the kernel"
                if report.count == 0 && report.groupKills > 0 {
                    // --recursive: the unit counts the group kill, the cgroups below it their processes.
                    level =
                        " (memory.oom.group: the whole unit killed by the kernel, its processes counted in the cgroups below"
                    metadata["group_kills"] = .stringConvertible(report.groupKills)
                } else if report.groupKills > 0 {
                    level +=
                        "; memory.oom.group: the whole unit, \(report.groupKills) group kill\(report.groupKills == 1 ? "" : "s")"
                    metadata["group_kills"] = .stringConvertible(report.groupKills)
                }
                level += ")"
                metadata["processes_killed"] = .stringConvertible(report.count)
            }
            var text =
                "\(report.event.rawValue) in \(Self.shown(report.cgroup))\(level): usage \(report.usage?.description ?? "?") of \(report.limit?.description ?? "?")"
            if let distress = report.distress {
                metadata["distress"] = .string(distress.summary)
                metadata["unreclaimable_percent"] = .stringConvertible(
                    Self.percent(distress.figures.unreclaimableShare))
                metadata["distress_reasons"] = .string(distress.reasons.map(\.rawValue).joined(separator: " "))
                text += "; \(distress.summary)"
            }
            log.log(.oomDetected, "\(text)", metadata: metadata)
        case .coalesced(let cgroup, let event, let total):
            log.debug(
                "coalesced \(event.rawValue) event (\(total) so far)",
                metadata: ["cgroup": .string(cgroup.description), "coalesced": .stringConvertible(total)])
        case .held(let id, let cgroup):
            log.info("\(Self.shown(cgroup)) frozen while the snapshot and hooks run", metadata: base(id, cgroup))
        case .released(let id, let cgroup, let problem):
            if let problem {
                log.log(.warning, "cannot thaw \(Self.shown(cgroup)): \(problem)", metadata: base(id, cgroup))
            } else {
                log.info("\(Self.shown(cgroup)) thawed", metadata: base(id, cgroup))
            }
        case .notInDistress(let cgroup, let event, let count, let verdict):
            log.debug(
                "\(event.rawValue) in \(Self.shown(cgroup)) (\(count)x), nothing to do: \(verdict.summary)",
                metadata: [
                    "cgroup": .string(cgroup.description), "event": .string(event.rawValue),
                    "distress": .string(verdict.summary),
                    "unreclaimable_percent": .stringConvertible(Self.percent(verdict.figures.unreclaimableShare)),
                    "full_stall_percent": .stringConvertible(Self.percent(verdict.figures.fullStallShare)),
                ])
        case .snapshotWritten(let id, let cgroup, let path):
            log.info(
                "snapshot written to \(path)", metadata: base(id, cgroup).merging(["snapshot": .string(path)]) { $1 })
        case .hookStarted(let id, let cgroup, let command):
            log.log(
                .hookStarted, "hook started: \(command)",
                metadata: base(id, cgroup).merging(["hook": .string(command)]) { $1 })
        case .hookFinished(let id, let cgroup, let result):
            var metadata = base(id, cgroup)
            metadata["hook"] = .string(result.command)
            metadata["latency_usec"] = .stringConvertible(result.startLatencyMicroseconds)
            metadata["duration_usec"] = .stringConvertible(result.durationMicroseconds)
            if let status = result.exitStatus { metadata["exit_status"] = .stringConvertible(status) }
            if !result.output.isEmpty { metadata["output"] = .string(result.output) }
            let id: MessageID = result.timedOut ? .hookTimedOut : .hookFinished
            let text =
                "hook \(result.outcome) after \(Self.milliseconds(result.durationMicroseconds)) "
                + "(started \(Self.milliseconds(result.startLatencyMicroseconds)) after detection): \(result.command)"
            log.log(id, "\(text)", metadata: metadata)
        case .decided(let id, let cgroup, let decision):
            var metadata = base(id, cgroup)
            metadata["policy"] = .string(decision.policy.rawValue)
            if let victim = decision.victim { metadata["victim"] = .string(victim.target.description) }
            log.log(.victimChosen, "\(decision.summary)", metadata: metadata)
        case .victimSignalled(let id, let cgroup, let pids):
            log.debug(
                "signalled \(pids.count) process(es) of the victim",
                metadata: base(id, cgroup).merging([
                    "victim_pids": .string(pids.map(String.init).joined(separator: " "))
                ]) {
                    $1
                })
        case .killed(let id, let cgroup, let kill):
            var metadata = base(id, cgroup)
            metadata["victim_cgroup"] = kill.cgroup.map { .string($0.description) }
            metadata["victim_pid"] = kill.pid.map { .stringConvertible($0) }
            metadata["victim_pids"] = .string(kill.signalledPIDs.map(String.init).joined(separator: " "))
            metadata["freed_bytes"] = kill.freed.map { .stringConvertible($0.bytes) }
            metadata["latency_usec"] = .stringConvertible(kill.elapsedMicroseconds)
            log.log(.victimKilled, "\(KillSummary(report: kill).render())", metadata: metadata)
        case .fellBack(let id, let cgroup, let after):
            log.log(
                .fallbackToKernel,
                "\(HandlingStep.fallbackSummary(after: after)) for \(Self.shown(cgroup))",
                metadata: base(id, cgroup))
        case .panicking(let id, let cgroup, let panic):
            var metadata = base(id, cgroup)
            metadata["event"] = .string(panic.event.rawValue)
            metadata["panic"] = .string(panic.mode.rawValue)
            metadata["sysrq"] = .string(panic.mode.sysrqText)
            metadata["trigger"] = .string(panic.trigger)
            metadata["dry_run"] = .stringConvertible(panic.dryRun ? 1 : 0)
            if let path = panic.snapshotPath { metadata["snapshot"] = .string(path) }
            if let bytes = panic.snapshotBytes { metadata["snapshot_bytes"] = .stringConvertible(bytes) }
            metadata["snapshot_synced"] = .stringConvertible(panic.snapshotSynced ? 1 : 0)
            let quiet = panic.dryRun || panic.triggerKind == .rehearsal
            log.log(
                .panicking, level: quiet ? .notice : nil, "\(PanicSummary(panic, cgroup: cgroup))", metadata: metadata)
        case .reserveGranted(let id, let grant):
            var metadata = base(id, grant.cgroup)
            metadata["reserve_bytes"] = .stringConvertible(grant.bytes.bytes)
            metadata["limit"] = .string(grant.originalLimit.description)
            metadata["limit_bytes"] = .stringConvertible(grant.originalLimit.bytes)
            metadata["raised_limit_bytes"] = .stringConvertible(grant.raisedLimit.bytes)
            let memsw = grant.originalMemsw.map { " (memsw \($0) → \($0 + grant.bytes))" } ?? ""
            log.log(
                .reserveGranted,
                "reserve \(grant.bytes) granted to \(Self.shown(grant.cgroup)): limit \(grant.originalLimit) → \(grant.raisedLimit)\(memsw)",
                metadata: metadata)
        case .reserveRestored(let id, let grant, let problem):
            var metadata = base(id, grant.cgroup)
            metadata["reserve_bytes"] = .stringConvertible(grant.bytes.bytes)
            metadata["limit"] = .string(grant.originalLimit.description)
            metadata["limit_bytes"] = .stringConvertible(grant.originalLimit.bytes)
            if let problem {
                log.log(
                    .warning, "cannot take back the reserve of \(Self.shown(grant.cgroup)): \(problem)",
                    metadata: metadata)
            } else {
                log.log(
                    .reserveRestored,
                    "reserve taken back from \(Self.shown(grant.cgroup)): limit \(grant.originalLimit) again",
                    metadata: metadata)
            }
        case .failed(let id, let cgroup, let message):
            log.log(.warning, "\(message)", metadata: base(id, cgroup))
        case .notifiedOfOtherOOM(let cgroup, let owner, let handledThere):
            var metadata: Logger.Metadata = ["cgroup": .string(cgroup.description), "event": "oom"]
            let text: String
            if let owner {
                metadata["owner"] = .string(owner.description)
                text =
                    "oom notified in \(Self.shown(cgroup)) is the OOM of \(Self.shown(owner)), at its limit: "
                    + (handledThere ? "handled there" : "not watched here, nothing done")
            } else {
                text =
                    "oom notified in \(Self.shown(cgroup)), which is at no limit of its own, nor is an ancestor in OOM "
                    + "at one: nothing to do"
            }
            log.debug("\(text)", metadata: metadata)
        case .removed(let cgroup):
            log.log(
                .cgroupRemoved, "cgroup removed, no longer watched: \(Self.shown(cgroup))",
                metadata: ["cgroup": .string(cgroup.description), "event": "removed"])
        case .finished(let report):
            var metadata = base(report.id, report.cgroup)
            metadata["outcome"] = .string(report.outcome.rawValue)
            metadata["duration_usec"] = .stringConvertible(report.durationMicroseconds)
            metadata["coalesced"] = .stringConvertible(report.coalesced)
            let coalesced = report.coalesced > 0 ? ", \(report.coalesced) more events coalesced" : ""
            var kills = ""
            if report.event == .oomKill {
                // The whole kill as the kernel counted it, read to its end (the detection gives the first read).
                metadata["processes_killed"] = .stringConvertible(report.count)
                kills = " (the kernel counted \(report.count) oom kill\(report.count == 1 ? "" : "s")"
                if report.groupKills > 0 {
                    metadata["group_kills"] = .stringConvertible(report.groupKills)
                    kills +=
                        " in \(report.groupKills) memory.oom.group kill\(report.groupKills == 1 ? "" : "s") of the whole unit"
                }
                kills += ")"
            }
            log.log(
                .oomResolved,
                "\(report.outcome.rawValue) in \(Self.milliseconds(report.durationMicroseconds))\(coalesced): \(Self.shown(report.cgroup))\(kills)",
                metadata: metadata)
        }
    }

    private static func shown(_ path: CgroupPath) -> String { path.description.visibleControlCharacters }

    /// A share as a whole percentage (0 when unknown).
    static func percent(_ share: Double?) -> Int { Int(((share ?? 0) * 100).rounded()) }

    private static func milliseconds(_ microseconds: Int64) -> String {
        let tenths = microseconds / 100
        return "\(tenths / 10).\(tenths % 10) ms"
    }
}
