/// The v2 memory.events / memory.events.local counters.
public struct MemoryEvents: Sendable, Hashable, Codable {
    /// Times usage went below memory.low protection and was reclaimed anyway.
    public var low: UInt64
    /// Times usage went over memory.high and was throttled.
    public var high: UInt64
    /// Times usage was about to go over memory.max.
    public var max: UInt64
    /// Times the cgroup hit its limit and the OOM killer was invoked.
    public var oom: UInt64
    /// Processes killed by the OOM killer in this cgroup.
    public var oomKill: UInt64
    /// Times a whole group was killed (memory.oom.group); 0 on kernels without the counter.
    public var oomGroupKill: UInt64

    public init(
        low: UInt64 = 0, high: UInt64 = 0, max: UInt64 = 0, oom: UInt64 = 0, oomKill: UInt64 = 0,
        oomGroupKill: UInt64 = 0
    ) {
        self.low = low
        self.high = high
        self.max = max
        self.oom = oom
        self.oomKill = oomKill
        self.oomGroupKill = oomGroupKill
    }

    /// Parses memory.events; unknown keys (added by newer kernels) are ignored, absent ones are 0.
    public init(parsing text: String) throws(ParseError) {
        self.init()
        let values = try KeyValueFile.parse(text, subject: "memory.events")
        guard !values.isEmpty else { throw ParseError("memory.events", input: text, reason: "no counters") }
        low = values["low"] ?? 0
        high = values["high"] ?? 0
        max = values["max"] ?? 0
        oom = values["oom"] ?? 0
        oomKill = values["oom_kill"] ?? 0
        oomGroupKill = values["oom_group_kill"] ?? 0
    }
}

/// The v1 memory.oom_control file.
public struct OOMControl: Sendable, Hashable, Codable {
    /// Whether the kernel OOM killer is disabled for the cgroup (tasks stall in OOM instead).
    public var oomKillDisable: Bool
    /// Whether the cgroup is in OOM now.
    public var underOOM: Bool
    /// Processes killed by the OOM killer in this cgroup (kernels from 4.13); nil when not shown.
    public var oomKill: UInt64?

    public init(oomKillDisable: Bool, underOOM: Bool, oomKill: UInt64?) {
        self.oomKillDisable = oomKillDisable
        self.underOOM = underOOM
        self.oomKill = oomKill
    }

    /// Parses memory.oom_control.
    public init(parsing text: String) throws(ParseError) {
        let values = try KeyValueFile.parse(text, subject: "memory.oom_control")
        guard let disable = values["oom_kill_disable"], let under = values["under_oom"] else {
            throw ParseError("memory.oom_control", input: text, reason: "expected oom_kill_disable and under_oom")
        }
        self.init(oomKillDisable: disable != 0, underOOM: under != 0, oomKill: values["oom_kill"])
    }
}

/// memory.stat: the kernel's breakdown of a cgroup's memory (anon, file, slab, …) by raw key.
public struct MemoryStat: Sendable, Hashable, Codable {
    /// Every counter by its kernel name (bytes for sizes; event counts for pgfault and the like).
    public var counters: [String: UInt64]

    public init(counters: [String: UInt64]) { self.counters = counters }

    public init(parsing text: String) throws(ParseError) {
        counters = try KeyValueFile.parse(text, subject: "memory.stat")
    }

    public subscript(_ key: String) -> UInt64? { counters[key] }

    /// Anonymous memory: v2 `anon`, v1 `total_rss` (hierarchical) or `rss`.
    public var anonymous: UInt64? { counters["anon"] ?? counters["total_rss"] ?? counters["rss"] }
    /// Page cache: v2 `file`, v1 `total_cache` or `cache`.
    public var pageCache: UInt64? { counters["file"] ?? counters["total_cache"] ?? counters["cache"] }
}

/// Parsing of the "key value" line files of cgroupfs (memory.stat, memory.events, memory.oom_control).
public enum KeyValueFile {
    /// Parses lines of `key value`; a line with another shape is an error naming the file.
    ///
    /// Works on the UTF-8 bytes (memory.stat is read for every cgroup of a snapshot): one pass, no
    /// per-line arrays.
    public static func parse(_ text: String, subject: String) throws(ParseError) -> [String: UInt64] {
        var values: [String: UInt64] = [:]
        let bytes = text.utf8
        var lineStart = bytes.startIndex
        while lineStart < bytes.endIndex {
            let lineEnd = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
            defer { lineStart = lineEnd < bytes.endIndex ? bytes.index(after: lineEnd) : lineEnd }
            let line = bytes[lineStart..<lineEnd]
            if line.allSatisfy({ $0 == UInt8(ascii: " ") }) { continue }
            guard let space = line.firstIndex(of: UInt8(ascii: " ")), space > line.startIndex,
                let value = decimal(line[bytes.index(after: space)...])
            else {
                throw ParseError(
                    subject, input: Substring(line), reason: "expected 'key value' with a non-negative integer")
            }
            values[String(Substring(line[..<space]))] = value
        }
        return values
    }

    /// Digits only, no overflow; nil otherwise.
    static func decimal(_ digits: Substring.UTF8View.SubSequence) -> UInt64? {
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (shifted, overflowMultiply) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowAdd) = shifted.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflowMultiply, !overflowAdd else { return nil }
            value = sum
        }
        return value
    }
}
