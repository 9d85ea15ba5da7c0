import OOMKit

/// One line saying what a kill did.
struct KillSummary {
    var report: KillReport

    func render() -> String {
        let what =
            report.pid.map { "process \($0)" + (report.cgroup.map { " in \($0)" } ?? "") }
            ?? "cgroup \(report.cgroup?.description.visibleControlCharacters ?? "?")"
        let count = report.signalledPIDs.count
        var text = "killed \(what): \(count) process\(count == 1 ? "" : "es") (\(report.method.rawValue)"
        if report.method == .pidfdLoop { text += ", \(report.rounds) round\(report.rounds == 1 ? "" : "s")" }
        text += ")"
        if let before = report.usageBefore, let after = report.usageAfter, let freed = report.freed {
            text += ", memory \(before) → \(after) (freed \(freed))"
        }
        let milliseconds = Double(report.elapsedMicroseconds) / 1000
        text += ", in \(Int(milliseconds.rounded())) ms"
        if !report.spared.isEmpty {
            let pids = report.spared.map(String.init).joined(separator: " ")
            text += "; the condition ended within the grace: no SIGKILL for \(pids), which outlived the first signal"
        }
        return text
    }
}
