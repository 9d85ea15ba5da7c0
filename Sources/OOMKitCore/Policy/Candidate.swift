/// One possible victim, where a policy ranked it, and why.
public struct Candidate: Sendable, Codable {
    /// What a kill of this candidate ends.
    public enum Target: Sendable, Codable, Hashable, CustomStringConvertible {
        /// A whole cgroup, with everything below it.
        case cgroup(CgroupPath)
        /// One process.
        case process(pid: Int32, name: String, cgroup: CgroupPath)

        /// The cgroup the target is, or is in.
        public var cgroup: CgroupPath {
            switch self {
            case .cgroup(let path): path
            case .process(_, _, let cgroup): cgroup
            }
        }

        /// `cgroup /a/b` or `process 123 (name) in /a/b`, control characters made visible.
        public var description: String {
            switch self {
            case .cgroup(let path): "cgroup \(path.shown)"
            case .process(let pid, let name, let cgroup):
                "process \(pid) (\(name.visibleControlCharacters)) in \(cgroup.shown)"
            }
        }

        // JSON: {"kind":"cgroup","cgroup":"/a"} or {"kind":"process","pid":1,"name":"x","cgroup":"/a"}.
        private enum CodingKeys: String, CodingKey { case kind, cgroup, pid, name }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .cgroup(let path):
                try container.encode(VictimKind.cgroup, forKey: .kind)
                try container.encode(path, forKey: .cgroup)
            case .process(let pid, let name, let cgroup):
                try container.encode(VictimKind.process, forKey: .kind)
                try container.encode(pid, forKey: .pid)
                try container.encode(name, forKey: .name)
                try container.encode(cgroup, forKey: .cgroup)
            }
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let cgroup = try container.decode(CgroupPath.self, forKey: .cgroup)
            switch try container.decode(VictimKind.self, forKey: .kind) {
            case .cgroup:
                self = .cgroup(cgroup)
            case .process:
                self = .process(
                    pid: try container.decode(Int32.self, forKey: .pid),
                    name: try container.decode(String.self, forKey: .name), cgroup: cgroup)
            }
        }
    }

    public var target: Target
    /// Usage of the cgroup (everything a cgroup kill frees), or the process's resident set plus swap.
    public var memory: ByteCount
    /// The effective priority, where the policy uses it.
    public var priority: Int?
    /// The process's oom_score, for `oom-score`.
    public var score: Int?
    /// 1 = chosen first.
    public var rank: Int
    /// Why it ranks where it does, for people: the policy's comparisons, then filters and notes.
    public var reasons: [String]
    /// `priority`: whether its kill frees what the OOM of the search root needs (``ResolutionNeed``);
    /// nil when the policy does not ask (another policy, or a root without a limit).
    public var canResolve: Bool?

    public init(
        target: Target, memory: ByteCount, priority: Int? = nil, score: Int? = nil, rank: Int = 0,
        reasons: [String] = []
    ) {
        self.target = target
        self.memory = memory
        self.priority = priority
        self.score = score
        self.rank = rank
        self.reasons = reasons
    }
}

/// A cgroup or process that was not ranked at all, and why ("protected: PID 1", "user.oomd_omit", …).
public struct ExcludedCandidate: Sendable, Codable {
    public var target: Candidate.Target
    public var reason: String

    public init(target: Candidate.Target, reason: String) {
        self.target = target
        self.reason = reason
    }
}
