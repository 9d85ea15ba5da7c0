/// Why no victim could be chosen. Every message says what to do.
public enum PolicyError: OOMKitError, Equatable {
    /// A `--prefer` or `--avoid` pattern is not a regular expression.
    case invalidRegex(String, reason: String)
    /// Nothing below the root can be killed; `reasons` holds the first few exclusions, as "target: reason".
    case noCandidates(under: CgroupPath, excluded: Int, reasons: [String] = [])
    /// The cgroup named is not part of the snapshot.
    case notInSnapshot(CgroupPath)
    /// The triggering cgroup lies outside the search root.
    case notUnderRoot(CgroupPath, root: CgroupPath)

    public var kind: FailureKind {
        switch self {
        case .invalidRegex, .notUnderRoot: .badInput
        case .notInSnapshot: .notFound
        case .noCandidates: .actionFailed
        }
    }

    public var description: String {
        switch self {
        case .invalidRegex(let pattern, let reason):
            return "invalid regular expression '\(pattern.visibleControlCharacters)': \(reason); "
                + "preferred and avoided names are regular expressions such as '^(chrome|firefox)$'"
        case .noCandidates(let root, let excluded, let reasons):
            let place = root.shown
            if excluded == 0 {
                return "nothing to kill under \(place): no cgroup below it holds a process; "
                    + "choose a cgroup that contains the workload"
            }
            let shownReasons = reasons.isEmpty ? "" : " (" + reasons.joined(separator: "; ") + ")"
            return "nothing to kill under \(place): all \(excluded) candidate(s) are excluded\(shownReasons); "
                + "check the protected processes and cgroups and the user.oomd_omit xattrs, or choose another cgroup"
        case .notInSnapshot(let path):
            return "cgroup \(path.shown) is not in the snapshot; "
                + "take the snapshot at it or at one of its ancestors, or name a cgroup the snapshot contains"
        case .notUnderRoot(let path, let root):
            return "the triggering cgroup \(path.shown) is not at or below \(root.shown); "
                + "give a triggering cgroup inside the tree searched"
        }
    }
}

extension CgroupPath {
    /// The path for messages, with control characters made visible.
    var shown: String { description.visibleControlCharacters }
}
