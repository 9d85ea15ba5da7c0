/// The virtual memory counters of /proc/vmstat (`oom_kill`, `pgscan_direct`, `nr_free_pages`…).
public struct VMStat: Sendable, Hashable, Codable {
    /// Every counter, keyed by the kernel's name.
    public var counters: [String: UInt64]

    public init(counters: [String: UInt64]) {
        self.counters = counters
    }

    /// Parses the text of /proc/vmstat: one `name value` pair per line.
    public init(parsing text: String) throws(ParseError) {
        var counters: [String: UInt64] = [:]
        for line in ProcfsText.lines(text) {
            let parts = ProcfsText.fields(line)
            guard parts.count == 2, let value = ProcfsText.decimal(parts[1]) else {
                throw ParseError(
                    "/proc/vmstat", input: line, reason: "expected 'name value' with a non-negative number")
            }
            counters[String(parts[0])] = value
        }
        guard !counters.isEmpty else {
            throw ParseError("/proc/vmstat", input: text, reason: "no counters")
        }
        self.init(counters: counters)
    }

    /// The counter named `name`, e.g. `oom_kill`; nil if this kernel does not have it.
    public subscript(name: String) -> UInt64? { counters[name] }

    /// `oom_kill`: kernel OOM kills since boot.
    public var oomKill: UInt64? { counters["oom_kill"] }
}
