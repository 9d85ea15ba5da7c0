import OOMKit

/// The human rendering of a decision: the victim, then the ranking with the reasons, then what was
/// excluded and why.
struct DecisionSummary {
    var decision: Decision

    func render(limit: Int) -> String {
        var lines: [String] = []
        let kind = decision.kind == .process ? "process" : "cgroup"
        lines.append(
            "policy \(decision.policy.rawValue) under \(decision.root.description.visibleControlCharacters), "
                + "choosing a \(kind):")
        if decision.victim != nil {
            lines.append("  " + decision.summary.visibleControlCharacters)
        }
        let small = decision.ranked.filter { $0.canResolve == false }.count
        if let need = decision.need, small > 0 {
            lines.append(
                "  \(small) candidate\(small == 1 ? "" : "s") too small to resolve an OOM here (\(need.description)), "
                    + (small == decision.ranked.count ? "none can: ranked by priority alone" : "ranked last"))
        }
        var table = TextTable(["RANK", "MEMORY", "PRIO", "SCORE", "CANDIDATE", "WHY"], leftAligned: [4, 5])
        for candidate in decision.ranked.prefix(limit) {
            table.append([
                String(candidate.rank), candidate.memory.description, candidate.priority.map(String.init) ?? "-",
                candidate.score.map(String.init) ?? "-", candidate.target.description.visibleControlCharacters,
                candidate.reasons.joined(separator: "; ").visibleControlCharacters,
            ])
        }
        lines += table.render()
        if decision.ranked.count > limit {
            lines.append("  … and \(decision.ranked.count - limit) more")
        }
        if !decision.excluded.isEmpty {
            lines.append("excluded:")
            for excluded in decision.excluded.prefix(limit) {
                lines.append(
                    "  \(excluded.target.description.visibleControlCharacters): "
                        + excluded.reason.visibleControlCharacters)
            }
            if decision.excluded.count > limit {
                lines.append("  … and \(decision.excluded.count - limit) more")
            }
        }
        return lines.joined(separator: "\n")
    }
}
