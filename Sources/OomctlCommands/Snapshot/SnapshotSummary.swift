import OOMKit

/// The human summary of a snapshot: what a person diagnosing a box reads at a glance.
struct SnapshotSummary {
    var snapshot: Snapshot
    /// How many cgroups to list (the largest by usage; the root is always first).
    var cgroupLimit: Int

    func render() -> String {
        var lines: [String] = []
        let root = snapshot.root.description.visibleControlCharacters
        lines.append(
            "oomctl snapshot of \(root) on cgroup \(snapshot.hierarchy.version) at \(snapshot.hierarchy.mountPoint)")
        var taken = "taken \(snapshot.takenAt)"
        if let host = snapshot.hostname { taken += " on \(host)" }
        if let kernel = snapshot.kernel { taken += " (kernel \(kernel))" }
        lines.append(taken)
        lines.append("")
        lines += memoryLines()
        lines.append("")
        lines += cgroupLines()
        lines.append("")
        lines += processLines()
        lines += kernelLines()
        if !snapshot.notes.isEmpty {
            lines.append("")
            lines.append("notes:")
            lines += snapshot.notes.map { "  " + $0.visibleControlCharacters }
        }
        return lines.joined(separator: "\n")
    }

    private func memoryLines() -> [String] {
        guard let info = snapshot.system.memInfo else { return ["memory    not read (see notes)"] }
        func figure(_ label: String, _ value: ByteCount?) -> String? { value.map { "\(label) \($0)" } }
        let first = [
            figure("total", info.total), figure("available", info.available), figure("free", info.free),
            figure("page cache", info.cached), figure("anon", info.anonPages), figure("shmem", info.shmem),
        ].compactMap { $0 }
        var second: [String] = []
        if let total = info.swapTotal, let free = info.swapFree {
            second.append(total.bytes == 0 ? "no swap" : "swap used \(total - free) of \(total)")
        }
        if let slab = info.slab {
            second.append("slab \(slab)" + (info.slabReclaimable.map { " (\($0) reclaimable)" } ?? ""))
        }
        second += [figure("vmalloc", info.vmallocUsed), figure("page tables", info.pageTables)].compactMap { $0 }
        var lines = ["memory    " + first.joined(separator: "  ")]
        if !second.isEmpty { lines.append("          " + second.joined(separator: "  ")) }
        if let pressure = snapshot.system.pressure {
            var text = "pressure  some \(Self.averages(pressure.some))"
            if let full = pressure.full { text += "  full \(Self.averages(full))" }
            lines.append(text + "  (% of time stalled, avg10/avg60/avg300)")
        }
        return lines
    }

    private static func averages(_ line: Pressure.Line) -> String {
        [line.avg10, line.avg60, line.avg300].map { format($0) }.joined(separator: "/")
    }

    private static func format(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }

    private func cgroupLines() -> [String] {
        let cgroups = snapshot.cgroups
        guard let first = cgroups.first else { return [] }
        let largest = cgroups.dropFirst().sorted { $0.usage > $1.usage }.prefix(max(cgroupLimit - 1, 0))
        let shown = [first] + largest
        let header =
            cgroups.count > shown.count
            ? "cgroups   \(cgroups.count) in the tree; the root and the \(largest.count) largest by usage:"
            : "cgroups   \(cgroups.count) in the tree:"
        var table = TextTable(["USAGE", "LIMIT", "USE%", "OOM", "KILLS", "PROCS", "PRIO", "CGROUP"], leftAligned: [7])
        for cgroup in shown {
            let noController = cgroup.memoryController == false
            let unreadable = Set(cgroup.unreadable ?? [])
            let usageUnknown =
                noController || unreadable.contains("memory.current") || unreadable.contains("memory.usage_in_bytes")
            let limitUnknown =
                noController || unreadable.contains("memory.max") || unreadable.contains("memory.limit_in_bytes")
            let percent =
                usageUnknown || limitUnknown || cgroup.limit.isUnlimited || cgroup.limit.bytes == 0
                ? "-" : "\(Int((Double(cgroup.usage.bytes) / Double(cgroup.limit.bytes) * 100).rounded()))"
            let oom = cgroup.isUnderOOM ? "now" : cgroup.ooms.map(String.init) ?? "-"
            var name = cgroup.path.description.visibleControlCharacters
            if cgroup.frozen == true { name += " (frozen)" }
            if noController { name += cgroup.threaded == true ? " (threaded)" : " (no memory controller)" }
            table.append([
                usageUnknown ? "-" : cgroup.usage.description, limitUnknown ? "-" : cgroup.limit.description, percent,
                oom, cgroup.oomKills.map(String.init) ?? "-",
                unreadable.contains("cgroup.procs") ? "-" : String(cgroup.processIDs.count),
                cgroup.priority.map(String.init) ?? "-", name,
            ])
        }
        return [header] + table.render()
    }

    private func processLines() -> [String] {
        guard !snapshot.processes.isEmpty else { return ["processes \(snapshot.processCount) in the tree"] }
        var lines = [
            "processes \(snapshot.processCount) in the tree; the \(snapshot.processes.count) largest by resident + swap:"
        ]
        var table = TextTable(["PID", "RSS", "SWAP", "SCORE", "ADJ", "CGROUP", "COMMAND"], leftAligned: [5, 6])
        for process in snapshot.processes {
            let command = process.commandLine.flatMap { $0.isEmpty ? nil : $0.joined(separator: " ") } ?? process.name
            table.append([
                String(process.pid), process.residentSet.description, process.swap.description,
                process.oomScore.map(String.init) ?? "-", process.oomScoreAdj.map(String.init) ?? "-",
                process.cgroup.description.visibleControlCharacters,
                String(command.visibleControlCharacters.prefix(60)),
            ])
        }
        lines += table.render()
        return lines
    }

    private func kernelLines() -> [String] {
        var lines: [String] = []
        if let slab = snapshot.system.slab {
            let top = slab.top.prefix(4).map { "\($0.name) \($0.bytes)" }.joined(separator: ", ")
            lines.append("slab      \(slab.totalBytes) in \(slab.cacheCount) caches; largest: \(top)")
        }
        if let vmalloc = snapshot.system.vmalloc {
            let top = vmalloc.topCallers.prefix(4).map { "\($0.name) \($0.bytes)" }.joined(separator: ", ")
            lines.append("vmalloc   \(vmalloc.totalBytes) in \(vmalloc.allocations) allocations; largest: \(top)")
        }
        return lines.isEmpty ? [] : [""] + lines
    }
}
