/// The `--prefer` / `--avoid` regexes and the oomd xattrs, applied to candidates: preferred ones rank
/// before all others, avoided ones after all others, the order within each group left to the policy.
struct ProcessFilters {
    struct Pattern {
        var source: String
        var regex: Regex<AnyRegexOutput>
    }

    /// Where a candidate goes in the final order.
    enum Tier: Int, Comparable {
        case preferred = 0, normal, avoided
        static func < (lhs: Tier, rhs: Tier) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    var prefer: [Pattern]
    var avoid: [Pattern]

    /// The first pattern found in the process name or its command line joined with spaces (earlyoom).
    static func firstMatch(_ patterns: [Pattern], _ entry: ProcessEntry) -> Pattern? {
        let commandLine = entry.commandLine?.joined(separator: " ") ?? ""
        return patterns.first { pattern in
            (try? pattern.regex.firstMatch(in: entry.name)) != nil
                || (!commandLine.isEmpty && (try? pattern.regex.firstMatch(in: commandLine)) != nil)
        }
    }

    /// The tier of a candidate holding `pids` in `cgroups` (the cgroups the kill ends, or the process's
    /// cgroup), and the reasons for it. oomd xattrs count on those cgroups and their ancestors.
    func tier(pids: [Int32], cgroups: [CgroupPath], tree: PolicyTree) -> (Tier, [String]) {
        var preferReason: String?
        var avoidReason: String?
        for pid in pids {
            guard let entry = tree.entries[pid] else { continue }
            let who = "process \(pid) (\(entry.name.visibleControlCharacters))"
            if preferReason == nil, let match = Self.firstMatch(prefer, entry) {
                preferReason =
                    "preferred: \(who) matches the preferred pattern '\(match.source.visibleControlCharacters)'"
            }
            if avoidReason == nil, let match = Self.firstMatch(avoid, entry) {
                avoidReason = "avoided: \(who) matches the avoided pattern '\(match.source.visibleControlCharacters)'"
            }
        }
        var marked = Set<CgroupPath>()
        for cgroup in cgroups { marked.formUnion(tree.lineage(cgroup)) }
        for path in marked.sorted() {
            guard let oomd = tree.sample(path)?.oomd else { continue }
            let place = path.shown
            if preferReason == nil, oomd.prefer { preferReason = "preferred: user.oomd_prefer on \(place)" }
            if avoidReason == nil, oomd.avoid { avoidReason = "avoided: user.oomd_avoid on \(place)" }
        }
        switch (preferReason, avoidReason) {
        case (let prefer?, nil): return (.preferred, [prefer + ", ranks before the others"])
        case (nil, let avoid?): return (.avoided, [avoid + ", ranks after the others"])
        case (let prefer?, let avoid?): return (.normal, [prefer + "; " + avoid + ": the two cancel out"])
        case (nil, nil): return (.normal, [])
        }
    }
}
