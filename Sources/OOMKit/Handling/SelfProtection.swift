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
    /// The heap reserve pre-faulted (and locked with the rest) for the handler's own allocations.
    public var selfReserve: ByteCount?
    /// mlockall was refused (RLIMIT_MEMLOCK below what is mapped) and only the handling code was
    /// locked, this much of it (nil otherwise).
    public var handlingCodeLocked: ByteCount?
    /// Why something did not work, phrased for the user.
    public var warnings: [String]
}

/// Makes the handler able to run when nothing else can: its memory locked (so it is never paged out
/// during an OOM) and the kernel OOM killer told never to pick it.
package enum SelfProtection {
    /// Locks current and future pages as they are touched (MCL_ONFAULT: about half the resident size of
    /// locking every mapped page, measured) and sets oom_score_adj to -1000. Call after start-up and a
    /// warm-up of the handling path, so that its code is resident and locked before an OOM needs it.
    ///
    /// With `selfReserve`, that much heap is allocated, touched page by page (so it is resident and, after
    /// mlockall, locked) and freed back to the allocator, which is told to keep it (no trimming, no mmap
    /// for blocks below it): the handler's own allocations during an OOM are served from pages it has.
    package static func apply(
        lockMemory: Bool = true, adjustScore: Bool = true, selfReserve: ByteCount? = nil
    ) -> SelfProtectionReport {
        var report = SelfProtectionReport(memoryLocked: false, scoreAdjusted: false, warnings: [])
        if lockMemory {
            lock(into: &report)
        }
        if let selfReserve, selfReserve.bytes > 0, !selfReserve.isUnlimited {
            if prefaultHeap(Int(clamping: selfReserve.bytes)) {
                report.selfReserve = selfReserve
            } else {
                report.warnings.append("cannot allocate the self reserve of \(selfReserve)")
            }
        }
        if adjustScore {
            if FileIO.writeOOMScoreAdjustment(-1000) {
                report.scoreAdjusted = true
            } else {
                report.warnings.append(
                    "oom_score_adj not lowered to -1000 (it needs CAP_SYS_RESOURCE, or OOMScoreAdjust= in a system "
                        + "unit): the kernel's OOM killer may pick the handler")
            }
        }
        if let status = try? ProcFS().ownStatus() {
            report.resident = status.residentSet
            report.locked = status.lockedMemory
        }
        return report
    }

    /// mlockall, within what the caller may lock. With CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK:
    /// current and future pages, as they are touched. Without either (an unprivileged user, whose limit
    /// is typically 8 MiB): never MCL_FUTURE, which would make every later allocation past the limit fail
    /// (EAGAIN) in the very handler that must keep running; only what is mapped now, where it fits the
    /// limit (the kernel refuses MCL_CURRENT when the mapped size exceeds it), else the handling code
    /// alone where that fits, else nothing; said once.
    private static func lock(into report: inout SelfProtectionReport) {
        let onFault: Int32 = 4  // MCL_ONFAULT, Linux 4.4
        let limit = memoryLockLimit()
        if hasEffectiveCapability(ipcLock) || limit == nil {
            if mlockall(MCL_CURRENT | MCL_FUTURE | onFault) == 0 {
                report.memoryLocked = true
                StartupCode.lockHandlingCode()
            } else {
                let reason = String(cString: strerror(errno))
                report.warnings.append(
                    "not locked (mlockall: \(reason)): may be slow to act under pressure, its pages can be "
                        + "reclaimed; raise RLIMIT_MEMLOCK (LimitMEMLOCK=infinity in a system unit) or run as root")
            }
            return
        }
        let shown = limit.map { ByteCount($0).description } ?? "unlimited"
        if mlockall(MCL_CURRENT | onFault) == 0 {
            report.memoryLocked = true
            StartupCode.lockHandlingCode()
            report.warnings.append(
                "locked only what is mapped now (RLIMIT_MEMLOCK \(shown), no CAP_IPC_LOCK): memory allocated "
                    + "later can be reclaimed, so it may be slow to act under pressure")
        } else {
            // What fits the limit that matters most: the handling path's code, laid out together by the
            // release link (about 6 MiB; the usual limit is 8 MiB).
            let code = StartupCode.lockHandlingCode()
            let why =
                "RLIMIT_MEMLOCK \(shown) is less than what it has mapped, and without CAP_IPC_LOCK it never locks "
                + "beyond that limit); raise the limit (limits.conf memlock, or DefaultLimitMEMLOCK= for a user "
                + "manager) or run it as a system service"
            if code.bytes > 0 {
                report.handlingCodeLocked = code
                report.warnings.append(
                    "locked only its handling code (\(code)): the rest may be reclaimed, so it may be slow to act "
                        + "under pressure (\(why)")
            } else {
                report.warnings.append("not locked: may be slow to act under pressure (\(why)")
            }
        }
    }

    /// CAP_IPC_LOCK's bit in the capability sets.
    private static let ipcLock = 14

    /// The soft RLIMIT_MEMLOCK in bytes; nil when unlimited.
    static func memoryLockLimit() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(Int32(__RLIMIT_MEMLOCK.rawValue), &limit) == 0 else { return 0 }
        return limit.rlim_cur == rlim_t.max ? nil : UInt64(limit.rlim_cur)  // RLIM_INFINITY is ~0
    }

    /// Whether the process has capability `bit` in its effective set (the `CapEff:` line of
    /// /proc/self/status).
    package static func hasEffectiveCapability(_ bit: Int) -> Bool {
        guard let text = try? FileIO.readText(path: "/proc/self/status") else { return false }
        for line in text.split(separator: "\n") where line.hasPrefix("CapEff:") {
            let hex = line.dropFirst(7).trimmingASCIIWhitespace()
            guard let mask = UInt64(hex, radix: 16) else { return false }
            return mask & (1 << UInt64(bit)) != 0
        }
        return false
    }

    /// Touches `size` bytes of heap and frees them into an allocator told to keep them.
    static func prefaultHeap(_ size: Int) -> Bool {
        // 1 MiB blocks, below the mmap threshold, so the pages are the heap's and stay with it when freed.
        _ = mallopt(M_MMAP_THRESHOLD, 4 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, Int32(clamping: size * 2))
        var blocks: [UnsafeMutableRawPointer] = []
        blocks.reserveCapacity(size >> 20 + 1)
        var remaining = size
        while remaining > 0 {
            let chunk = min(remaining, 1 << 20)
            guard let block = malloc(chunk) else { break }
            var offset = 0
            while offset < chunk {
                block.storeBytes(of: 0, toByteOffset: offset, as: UInt8.self)
                offset += 4096
            }
            blocks.append(block)
            remaining -= chunk
        }
        blocks.forEach { free($0) }
        return remaining == 0
    }

    /// Raises the soft limit on open files to the hard limit (a watched cgroup costs up to 3 descriptors).
    @discardableResult
    package static func raiseFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return Int(clamping: limit.rlim_cur)
    }
}
