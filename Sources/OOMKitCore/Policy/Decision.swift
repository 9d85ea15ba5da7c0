/// What a policy chose under a root: the victim, the full order a kill would follow, what was left out.
public struct Decision: Sendable, Codable {
    public var policy: PolicyName
    public var kind: VictimKind
    /// The cgroup searched below.
    public var root: CgroupPath
    /// The first of ``ranked``; nil only in a decision built by hand (the engine throws instead).
    public var victim: Candidate?
    /// Victim first, then what would be chosen next.
    public var ranked: [Candidate]
    /// Candidates never ranked, with the reason.
    public var excluded: [ExcludedCandidate]
    /// `priority`: what a victim must free to resolve an OOM of the root (nil for the other policies and
    /// for a root without a limit).
    public var need: ResolutionNeed?
    /// One line for people: "kill cgroup /a/b (uses 300M): priority 0, the lowest …".
    public var summary: String

    public init(
        policy: PolicyName, kind: VictimKind, root: CgroupPath, ranked: [Candidate], excluded: [ExcludedCandidate],
        summary: String, need: ResolutionNeed? = nil
    ) {
        self.policy = policy
        self.kind = kind
        self.root = root
        self.victim = ranked.first
        self.ranked = ranked
        self.excluded = excluded
        self.summary = summary
        self.need = need
    }
}
