import OOMKit

/// One line saying what a kill did.
struct KillSummary {
    var report: KillReport

    func render() -> String {
        let what =
            report.pid.map { "process \($0)" + (report.cgroup.map { " in \($0)" } ?? "") }
            ?? "cgroup \(report.cgroup?.description.visibleControlCharacters ?? "?")"
        let count = report.signalledPIDs.count
        let processes = "\(count) process\(count == 1 ? "" : "es")"
        var text: String
        switch report.method {
        case .cgroupKill:
            // The kernel killed the whole subtree; oomctl saw only those still there after the write.
            let tasks = report.tasksBefore.map { "\($0) task\($0 == 1 ? "" : "s") in it at the write, " } ?? ""
            text = "killed \(what): every process in it and below (cgroup.kill; \(tasks)\(processes) seen exiting)"
        case .pidfdLoop:
            text = "killed \(what): \(processes) (pidfd loop, \(report.rounds) round\(report.rounds == 1 ? "" : "s"))"
        case .pidfd:
            text = "killed \(what): \(processes) (pidfd)"
        }
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
