/// What a hook is told about the handling it runs in: the OOMCTL_* environment and the same as one
/// JSON document on its stdin. Context only: nothing of it is ever interpolated into the command.
struct HookContext {
    var event: OOMEvent.Kind
    var memory: MemoryCgroup
    var report: HandlingReport
    var dryRun: Bool

    /// The hook's environment.
    var environment: [String: String] {
        var environment: [String: String] = [
            "OOMCTL_EVENT": event.rawValue,
            "OOMCTL_CGROUP": memory.path.description,
            "OOMCTL_CGROUP_PATH": memory.cgroup.filesystemPath,
            "OOMCTL_CGROUP_VERSION": String(memory.version.rawValue),
            "OOMCTL_HANDLING_ID": String(report.id),
            "OOMCTL_COUNT": String(report.count),
            "OOMCTL_DRY_RUN": dryRun ? "1" : "0",
        ]
        if let usage = try? memory.usage() { environment["OOMCTL_USAGE"] = String(usage.bytes) }
        if let limit = report.limit {
            environment["OOMCTL_LIMIT"] = limit.isUnlimited ? "max" : String(limit.bytes)
        }
        if let reserve = report.reserve { environment["OOMCTL_RESERVE"] = String(reserve.bytes) }
        if let distress = report.distress { environment["OOMCTL_DISTRESS"] = distress.summary }
        if report.held { environment["OOMCTL_HOLD"] = "freeze" }
        if let snapshot = report.snapshotPath { environment["OOMCTL_SNAPSHOT"] = snapshot }
        if let kill = report.kill {
            environment["OOMCTL_VICTIM_CGROUP"] = kill.cgroup?.description
            environment["OOMCTL_VICTIM_PIDS"] = kill.signalledPIDs.map(String.init).joined(separator: " ")
            environment["OOMCTL_FREED_BYTES"] = kill.freed.map { String($0.bytes) }
            if let pid = kill.pid { environment["OOMCTL_VICTIM_PID"] = String(pid) }
        }
        return environment
    }

    /// The JSON document on the hook's stdin.
    var input: [UInt8] {
        JSONOutput.encode(
            Input(
                event: event, cgroup: memory.path, cgroupPath: memory.cgroup.filesystemPath,
                version: memory.version.rawValue, handlingID: report.id, count: report.count,
                usage: try? memory.usage(), limit: report.limit, distress: report.distress, reserve: report.reserve,
                snapshot: report.snapshotPath, decision: report.decision, kill: report.kill, dryRun: dryRun),
            pretty: false)
    }

    private struct Input: Encodable {
        var event: OOMEvent.Kind
        var cgroup: CgroupPath
        var cgroupPath: String
        var version: Int
        var handlingID: Int
        var count: UInt64
        var usage: ByteCount?
        var limit: ByteCount?
        /// v2: the verdict that started the handling (OOMCTL_DISTRESS is its summary).
        var distress: DistressVerdict?
        /// v1: the reserve granted for this OOM (OOMCTL_RESERVE).
        var reserve: ByteCount?
        var snapshot: String?
        var decision: Decision?
        var kill: KillReport?
        var dryRun: Bool
    }
}
