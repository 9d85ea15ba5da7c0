import CLinux
import Glibc

/// What the handler did to protect itself, for its start-up line.
public struct SelfProtectionReport: Sendable {
    /// Whether mlockall succeeded.
    public var memoryLocked: Bool
    /// Whether oom_score_adj -1000 took.
    public var scoreAdjusted: Bool
    /// Resident and locked memory after locking (VmRSS, VmLck).
    public var resident: ByteCount?
    public var locked: ByteCount?
    /// Why something did not work, phrased for the user.
    public var warnings: [String]
}

/// Makes the handler able to run when nothing else can: its memory locked (so it is never paged out
/// during an OOM) and the kernel OOM killer told never to pick it.
public enum SelfProtection {
    /// Locks current and future pages as they are touched (MCL_ONFAULT: about half the resident size of
    /// locking every mapped page, measured) and sets oom_score_adj to -1000. Call after start-up and a
    /// warm-up of the handling path, so that its code is resident and locked before an OOM needs it.
    public static func apply(lockMemory: Bool = true, adjustScore: Bool = true) -> SelfProtectionReport {
        var report = SelfProtectionReport(memoryLocked: false, scoreAdjusted: false, warnings: [])
        if lockMemory {
            let onFault: Int32 = 4  // MCL_ONFAULT, Linux 4.4
            if mlockall(MCL_CURRENT | MCL_FUTURE | onFault) == 0 {
                report.memoryLocked = true
            } else {
                let reason = String(cString: strerror(errno))
                report.warnings.append(
                    "cannot lock memory (\(reason)); raise RLIMIT_MEMLOCK (LimitMEMLOCK=infinity in a unit) "
                        + "or run as root, or the handler may be paged out during an OOM")
            }
        }
        if adjustScore {
            if FileIO.writeOOMScoreAdjustment(-1000) {
                report.scoreAdjusted = true
            } else {
                report.warnings.append(
                    "cannot set oom_score_adj to -1000 (needs CAP_SYS_RESOURCE); the kernel may kill the handler")
            }
        }
        if let status = try? ProcFS().process(getpid()).status() {
            report.resident = status.residentSet
            report.locked = (try? FileIO.readText(path: "/proc/self/status")).flatMap(Self.lockedMemory)
        }
        return report
    }

    /// Raises the soft limit on open files to the hard limit (a watched cgroup costs up to 3 descriptors).
    @discardableResult
    public static func raiseFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return Int(clamping: limit.rlim_cur)
    }

    static func lockedMemory(_ status: String) -> ByteCount? {
        for line in status.split(separator: "\n") where line.hasPrefix("VmLck:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            let digits = fields.dropFirst().first.map { $0.filter { $0.isNumber } }
            return digits.flatMap { UInt64($0) }.map { ByteCount.kibibytes($0) }
        }
        return nil
    }
}
