/// The virtual memory counters of /proc/vmstat (`oom_kill`, `pgscan_direct`, `nr_free_pages`…).
public struct VMStat: Sendable, Hashable, Codable {
    /// Every counter, keyed by the kernel's name.
    public var counters: [String: UInt64]

    public init(counters: [String: UInt64]) {
        self.counters = counters
    }

    /// Parses the text of /proc/vmstat: one `name value` pair per line.
    public init(parsing text: String) throws(ParseError) {
        let bytes = text.utf8.span
        var counters: [String: UInt64] = [:]
        var failure: ParseError?
        ProcfsBytes.forEachLine(bytes) { line, isASCII in
            if !isASCII {
                // Non-ASCII text: by Characters, as this parser always did.
                let line = Substring(ProcfsBytes.text(bytes, line))
                let parts = ProcfsText.fields(line)
                guard parts.count == 2, let value = ProcfsText.decimal(parts[1]) else {
                    failure = ParseError("/proc/vmstat", input: line, reason: Self.lineReason)
                    return false
                }
                counters[String(parts[0])] = value
                return true
            }
            var position = line.lowerBound
            guard let name = ProcfsBytes.nextField(bytes, in: line, from: &position),
                let number = ProcfsBytes.nextField(bytes, in: line, from: &position),
                ProcfsBytes.nextField(bytes, in: line, from: &position) == nil,
                let value = ProcfsBytes.decimal(bytes, number)
            else {
                failure = ParseError("/proc/vmstat", input: ProcfsBytes.text(bytes, line), reason: Self.lineReason)
                return false
            }
            counters[ProcfsBytes.text(bytes, name)] = value
            return true
        }
        if let failure { throw failure }
        guard !counters.isEmpty else {
            throw ParseError("/proc/vmstat", input: text, reason: "no counters")
        }
        self.init(counters: counters)
    }

    private static let lineReason = "expected 'name value' with a non-negative number"

    /// The counter named `name`, e.g. `oom_kill`; nil if this kernel does not have it.
    public subscript(name: String) -> UInt64? { counters[name] }

    /// `oom_kill`: kernel OOM kills since boot.
    public var oomKill: UInt64? { counters["oom_kill"] }
}
