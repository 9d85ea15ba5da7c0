import Glibc

/// When a cgroup v2 memory cgroup counts as in distress: the thresholds of ``MemoryDistress``.
///
/// The defaults come from measurements in the project's VM (kernels 6.1 and 6.12, see the README's
/// "cgroup v2: distress, not fullness"): page-cache workloads at their ceiling never reach them; an
/// anonymous hog reaches the first at once.
public struct DistressThresholds: Sendable, Hashable, Codable {
    /// Unreclaimable memory at or above this share of the ceiling is distress: reclaim has nothing left
    /// to take (0.95: the last 5% are kernel memory that moves with the workload and rounding of the
    /// kernel's per-CPU counters).
    public var unreclaimableShare: Double
    /// "full" stall time (every task of the cgroup stalled on memory at once) at or above this share of
    /// the sampling interval is distress: reclaim is failing to keep up.
    public var fullStallShare: Double
    /// Working-set refaults (memory.stat workingset_restore_*) at or above this share of the ceiling
    /// per second, with "some" stall time at or above ``thrashingSomeStallShare``, is thrashing: what
    /// reclaim frees is needed again at once.
    public var thrashingShare: Double
    /// The stall that must come with the refaults for them to count as thrashing.
    public var thrashingSomeStallShare: Double

    public init(
        unreclaimableShare: Double = 0.95, fullStallShare: Double = 0.40, thrashingShare: Double = 0.25,
        thrashingSomeStallShare: Double = 0.10
    ) {
        self.unreclaimableShare = unreclaimableShare
        self.fullStallShare = fullStallShare
        self.thrashingShare = thrashingShare
        self.thrashingSomeStallShare = thrashingSomeStallShare
    }

    public static let `default` = DistressThresholds()
}

/// Whether a cgroup v2 memory cgroup is in distress, with the evidence as figures.
///
/// A cgroup at its limit is usually fine: the kernel keeps it there by dropping page cache, and
/// memory.events `high`/`max` count those reclaims. Only evidence that reclaim is failing is distress
/// (``Reason``). Made by ``MemoryDistress/assess(previous:current:thresholds:)``.
public struct DistressVerdict: Sendable, Hashable, Codable {
    /// A piece of evidence that reclaim is failing.
    public enum Reason: String, Sendable, Hashable, Codable, CaseIterable {
        /// What the cgroup holds is (nearly) all unreclaimable and fills the ceiling.
        case unreclaimableAtCeiling = "unreclaimable-at-ceiling"
        /// Every task stalled on memory for a large share of the interval (PSI full).
        case reclaimStalls = "reclaim-stalls"
        /// Working-set pages are refaulted as fast as reclaim takes them, with tasks stalling.
        case thrashing
        /// The kernel found nothing to reclaim at memory.max and invoked its OOM killer
        /// (memory.events `oom` rose).
        case kernelOOM = "kernel-oom"
    }

    /// The evidence found; empty: not in distress.
    public var reasons: [Reason]
    /// The figures the verdict was made from.
    public var figures: DistressFigures

    public init(reasons: [Reason], figures: DistressFigures) {
        self.reasons = reasons
        self.figures = figures
    }

    public var inDistress: Bool { !reasons.isEmpty }

    /// One line for people: the verdict and its figures, e.g. "in distress (unreclaimable-at-ceiling):
    /// unreclaimable 61.2M of ceiling 64M; full stall 380ms in 1s; working-set refaults 2.1k/s".
    public var summary: String {
        let verdict =
            inDistress ? "in distress (\(reasons.map(\.rawValue).joined(separator: ", ")))" : "not in distress"
        return verdict + ": " + figures.description
    }
}

/// The figures behind a ``DistressVerdict``.
public struct DistressFigures: Sendable, Hashable, Codable, CustomStringConvertible {
    /// memory.high, else memory.max (nil: unlimited).
    public var ceiling: ByteCount?
    public var current: ByteCount
    public var unreclaimable: ByteCount
    public var reclaimable: ByteCount
    /// Dirty and writeback file pages (within ``reclaimable``).
    public var dirty: ByteCount
    /// The time between the two samples (nil: one sample only, no rates).
    public var intervalMicroseconds: UInt64?
    /// PSI stall time in the interval.
    public var someStallMicroseconds: UInt64?
    public var fullStallMicroseconds: UInt64?
    /// Working-set refaults per second in the interval (pages).
    public var workingSetRestoresPerSecond: Double?
    /// memory.events `oom` in the interval.
    public var oomEvents: UInt64?

    /// Unreclaimable memory as a share of the ceiling (nil without a ceiling).
    public var unreclaimableShare: Double? {
        guard let ceiling, ceiling.bytes > 0 else { return nil }
        return Double(unreclaimable.bytes) / Double(ceiling.bytes)
    }

    /// "full" stall time as a share of the interval (nil without two samples or PSI).
    public var fullStallShare: Double? {
        guard let interval = intervalMicroseconds, interval > 0, let full = fullStallMicroseconds else { return nil }
        return Double(full) / Double(interval)
    }

    public var description: String {
        var parts = ["unreclaimable \(unreclaimable) of ceiling \(ceiling?.description ?? "none")"]
        parts.append("reclaimable \(reclaimable)" + (dirty.bytes > 0 ? " (\(dirty) dirty or under writeback)" : ""))
        if let interval = intervalMicroseconds {
            let window = Self.duration(interval)
            if let full = fullStallMicroseconds { parts.append("full stall \(Self.duration(full)) in \(window)") }
            if let some = someStallMicroseconds { parts.append("some stall \(Self.duration(some)) in \(window)") }
            if let restores = workingSetRestoresPerSecond {
                parts.append("working-set refaults \(Self.rate(restores))/s")
            }
            if let oom = oomEvents, oom > 0 { parts.append("kernel oom \(oom)") }
        }
        return parts.joined(separator: "; ")
    }

    private static func duration(_ microseconds: UInt64) -> String {
        microseconds >= 1_000_000
            ? "\(Double(microseconds / 10_000) / 100)s" : "\(microseconds / 1000)ms"
    }

    private static func rate(_ value: Double) -> String {
        value >= 1000 ? "\((value / 100).rounded() / 10)k" : "\(Int(value.rounded()))"
    }
}

/// The distress verdict: one pure function over two successive samples of a cgroup v2 memory cgroup.
///
/// watch, simulate, the system mode, tests and reports all use it. The evidence, any of which is
/// distress:
/// - unreclaimable memory (swap-backed pages beyond the swap room, unevictable, unreclaimable slab and
///   other kernel memory; ``MemorySample/unreclaimable``) at ``DistressThresholds/unreclaimableShare``
///   of the ceiling (memory.high if set, else memory.max): from one sample;
/// - PSI "full" stall time at ``DistressThresholds/fullStallShare`` of the interval;
/// - thrashing: working-set refaults at ``DistressThresholds/thrashingShare`` of the ceiling per second
///   while tasks stall;
/// - memory.events `oom` rising: the kernel has already given up.
/// Page cache (clean, dirty or under writeback), reclaimable slab and swap-backed pages with swap room
/// are never distress by themselves, however full the cgroup is.
public enum MemoryDistress {
    public static func assess(
        previous: MemorySample?, current: MemorySample, thresholds: DistressThresholds = .default
    ) -> DistressVerdict {
        var figures = DistressFigures(
            ceiling: current.ceiling, current: current.current, unreclaimable: current.unreclaimable,
            reclaimable: current.reclaimable, dirty: current.dirty)
        var reasons: [DistressVerdict.Reason] = []
        let ceiling = current.ceiling.map { Double($0.bytes) }
        if let ceiling, Double(figures.unreclaimable.bytes) >= ceiling * thresholds.unreclaimableShare {
            reasons.append(.unreclaimableAtCeiling)
        }
        if let previous, current.takenAtNanoseconds > previous.takenAtNanoseconds {
            let interval = (current.takenAtNanoseconds - previous.takenAtNanoseconds) / 1000
            figures.intervalMicroseconds = interval
            let seconds = Double(interval) / 1_000_000
            if let now = current.pressure, let before = previous.pressure {
                let some = delta(now.some.totalMicroseconds, before.some.totalMicroseconds)
                figures.someStallMicroseconds = some
                if let full = now.full, let fullBefore = before.full {
                    let stalled = delta(full.totalMicroseconds, fullBefore.totalMicroseconds)
                    figures.fullStallMicroseconds = stalled
                    if Double(stalled) >= Double(interval) * thresholds.fullStallShare {
                        reasons.append(.reclaimStalls)
                    }
                }
                let restores = Double(delta(current.workingSetRestores, previous.workingSetRestores)) / seconds
                figures.workingSetRestoresPerSecond = restores
                if let ceiling, restores * Double(pageSize) >= ceiling * thresholds.thrashingShare,
                    Double(some) >= Double(interval) * thresholds.thrashingSomeStallShare
                {
                    reasons.append(.thrashing)
                }
            }
            if let now = current.events, let before = previous.events {
                let oom = delta(now.oom, before.oom)
                figures.oomEvents = oom
                if oom > 0 { reasons.append(.kernelOOM) }
            }
        }
        return DistressVerdict(reasons: reasons, figures: figures)
    }

    /// The counters only grow; a smaller value means a new cgroup of the same name (counted from 0).
    private static func delta(_ now: UInt64, _ before: UInt64) -> UInt64 { now >= before ? now - before : now }

    /// memory.stat counts refaults in pages.
    private static let pageSize = UInt64(Swift.max(4096, sysconf(Int32(_SC_PAGESIZE))))
}
