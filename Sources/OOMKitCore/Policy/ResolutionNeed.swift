/// What a victim must free, for the `priority` policy, to resolve an OOM of the search root: enough to bring
/// the root's usage down to its limit less a headroom.
///
///     headroom = limit / 32 (at least 1 MiB, at most the limit)
///     needed   = usage − (limit − headroom), never below 0
///
/// At an OOM usage sits at the limit, so `needed` is the headroom (3M of a 96M limit); on a granted reserve
/// it is the overdraft plus the headroom. A candidate "can resolve" the OOM when what its kill frees (its
/// ``Candidate/memory``) is at least `needed`. The headroom is what makes a kill help: freeing one page
/// ends the stall of the moment, and the workload that caused it stalls again at once (40 idle cgroups
/// of 180K each were killed one by one that way before the hog was).
public struct ResolutionNeed: Sendable, Codable, Equatable {
    /// The search root's usage.
    public var usage: ByteCount
    /// The limit to get under: the root's own, or ``PolicyOptions/resolutionLimit`` (the original limit
    /// while a reserve grant has raised it).
    public var limit: ByteCount
    public var headroom: ByteCount
    /// `usage − (limit − headroom)`, at least 0: 0 means any candidate can resolve it.
    public var needed: ByteCount

    /// The headroom is this share of the limit…
    public static let headroomDivisor: UInt64 = 32
    /// …and at least this.
    public static let minimumHeadroom = ByteCount(1 << 20)

    /// The need of a root using `usage` of `limit`; nil without a limit (nothing to get under).
    public init?(usage: ByteCount, limit: ByteCount) {
        guard !limit.isUnlimited else { return nil }
        self.usage = usage
        self.limit = limit
        headroom = ByteCount(min(max(limit.bytes / Self.headroomDivisor, Self.minimumHeadroom.bytes), limit.bytes))
        needed = usage - (limit - headroom)
    }

    /// Whether a kill that frees `memory` resolves it.
    public func isMet(by memory: ByteCount) -> Bool { memory >= needed }

    /// "usage 96M, limit 96M, headroom 3M: needs 3M".
    public var description: String { "usage \(usage) of \(limit), headroom \(headroom): needs \(needed)" }
}
