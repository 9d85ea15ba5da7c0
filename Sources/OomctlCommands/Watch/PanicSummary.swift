import OOMKit

/// The line that announces a panic (or, in a dry run or a rehearsal, what it would do): the event, the
/// snapshot with its size and whether it is on disk, and what is written where.
struct PanicSummary: CustomStringConvertible {
    let report: PanicReport
    let cgroup: CgroupPath

    init(_ report: PanicReport, cgroup: CgroupPath) {
        self.report = report
        self.cgroup = cgroup
    }

    var description: String {
        let condition = report.event == .oom ? "OOM" : "memory \(report.event.rawValue)"
        let subject =
            "panic (\(report.mode.rawValue)) for the unresolved \(condition) in "
            + cgroup.description.visibleControlCharacters
        let command = "'\(report.mode.sysrqText)' to \(report.trigger)"
        if report.dryRun {
            return "dry run: would \(subject): \(snapshot); would sync file systems and write \(command); "
                + "nothing was synced or written"
        }
        switch report.triggerKind {
        case .rehearsal:
            return "rehearsal: would \(subject): \(snapshot); would sync file systems and write \(command); "
                + "nothing was written"
        case .standIn:
            return "\(subject): \(snapshot); syncing file systems, then writing \(command) (a stand-in)"
        case .kernel:
            return "\(subject): \(snapshot); syncing file systems, then writing \(command)"
        }
    }

    /// `snapshot PATH (N bytes, synced)`, or what is missing.
    private var snapshot: String {
        guard let path = report.snapshotPath else { return "no snapshot (\(report.snapshotProblem ?? "none"))" }
        if report.snapshotSynced, let bytes = report.snapshotBytes {
            return "snapshot \(path) (\(bytes) bytes, synced)"
        }
        return "snapshot \(path) (not synced: \(report.snapshotProblem ?? "unknown"))"
    }
}
