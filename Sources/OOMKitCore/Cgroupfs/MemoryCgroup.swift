/// The memory view of one cgroup, the same over cgroup v1 and v2.
///
/// Figures both versions have (usage, limit, stat, processes) have one method each; figures only one
/// version has return nil on the other (``high()`` on v1), and operations only one version has
/// (``setOOMKillDisabled(_:)``, ``events(local:)``) throw ``CgroupError/unsupported(_:version:)``.
public struct MemoryCgroup: Sendable {
    /// The open cgroup directory.
    public let cgroup: Cgroup

    /// Wraps an open cgroup of a hierarchy that carries the memory controller.
    public init(_ cgroup: Cgroup) throws(CgroupError) {
        guard cgroup.hierarchy.hasMemoryController else {
            throw .wrongHierarchy(cgroup.filesystemPath, actual: cgroup.hierarchy, memory: cgroup.hierarchy)
        }
        self.cgroup = cgroup
    }

    /// Opens the memory cgroup at `path` in the system's memory hierarchy.
    public static func open(_ path: CgroupPath, in system: CgroupSystem) throws(CgroupError) -> MemoryCgroup {
        try MemoryCgroup(Cgroup.open(path, in: system.memoryHierarchy()))
    }

    /// Whether the cgroup has the memory files: always on v1 and for the v2 root; on v2 only when the
    /// parent enables the memory controller for its children and the cgroup is not threaded. The kernel
    /// then always gives memory.current (one check); a tree without it but with other memory files (a
    /// fixture, a copy of a cgroup tree) has the controller too, with that figure missing. Not
    /// memory.pressure: PSI gives it to every cgroup, with the controller or without.
    public var hasMemoryController: Bool {
        version == .v1 || path.isRoot || cgroup.hasFile("memory.current")
            || cgroup.fileNames().contains { $0.hasPrefix("memory.") && $0 != "memory.pressure" }
    }

    /// Throws ``CgroupError/memoryControllerNotEnabled(_:parent:hierarchy:threaded:)`` when the cgroup has
    /// no memory files (see ``hasMemoryController``), with what to enable and where.
    public func requireMemoryController() throws(CgroupError) {
        guard !hasMemoryController else { return }
        throw .memoryControllerNotEnabled(
            path, parent: path.parent ?? .root, hierarchy: cgroup.hierarchy, threaded: cgroup.isThreaded)
    }

    public var version: CgroupVersion { cgroup.hierarchy.version }
    public var path: CgroupPath { cgroup.path }

    // MARK: Figures

    /// Memory charged to the cgroup and its descendants (v1 memory.usage_in_bytes, v2 memory.current).
    ///
    /// The v2 root cgroup has no memory.current: its usage is the sum of `anon`, `file`, `kernel` and
    /// `sock` in its memory.stat.
    public func usage() throws(CgroupError) -> ByteCount {
        if isV2Root && !cgroup.hasFile("memory.current") {
            let stat = try stat()
            return ["anon", "file", "kernel", "sock"].reduce(ByteCount.zero) { $0 + ByteCount(stat[$1] ?? 0) }
        }
        return try size(version == .v1 ? "memory.usage_in_bytes" : "memory.current")
    }

    /// The hard limit (v1 memory.limit_in_bytes, v2 memory.max); ``ByteCount/unlimited`` when none
    /// (always for the v2 root, which has no memory.max).
    public func limit() throws(CgroupError) -> ByteCount {
        if isV2Root && !cgroup.hasFile("memory.max") { return .unlimited }
        return try size(version == .v1 ? "memory.limit_in_bytes" : "memory.max")
    }

    /// The v2 root cgroup lacks the limit and event files of every other cgroup.
    private var isV2Root: Bool { version == .v2 && path.isRoot }

    /// The throttling limit, memory.high (v2 only).
    public func high() throws(CgroupError) -> ByteCount? { try optionalSize("memory.high", on: .v2) }
    /// Best-effort protection, memory.low (v2 only).
    public func low() throws(CgroupError) -> ByteCount? { try optionalSize("memory.low", on: .v2) }
    /// Hard protection, memory.min (v2 only).
    public func min() throws(CgroupError) -> ByteCount? { try optionalSize("memory.min", on: .v2) }
    /// The soft limit, memory.soft_limit_in_bytes (v1 only).
    public func softLimit() throws(CgroupError) -> ByteCount? {
        try optionalSize("memory.soft_limit_in_bytes", on: .v1)
    }

    /// The highest usage seen (v1 memory.max_usage_in_bytes, v2 memory.peak on kernels from 5.19).
    public func peak() throws(CgroupError) -> ByteCount? {
        try optionalSize(version == .v1 ? "memory.max_usage_in_bytes" : "memory.peak", on: version)
    }

    /// Swap in use (v2 memory.swap.current; v1 memory.memsw.usage_in_bytes minus usage); nil without swap
    /// accounting. Pass `usage` when already read, to save reading it again.
    public func swapUsage(usage knownUsage: ByteCount? = nil) throws(CgroupError) -> ByteCount? {
        switch version {
        case .v2:
            return try optionalSize("memory.swap.current", on: .v2)
        case .v1:
            guard let both = try optionalSize("memory.memsw.usage_in_bytes", on: .v1) else { return nil }
            if let knownUsage { return both - knownUsage }
            return both - (try usage())
        }
    }

    /// The swap limit (v2 memory.swap.max; v1 memory.memsw.limit_in_bytes minus the memory limit, or
    /// unlimited when either is); nil without swap accounting. Pass `limit` when already read.
    public func swapLimit(limit knownLimit: ByteCount? = nil) throws(CgroupError) -> ByteCount? {
        switch version {
        case .v2:
            return try optionalSize("memory.swap.max", on: .v2)
        case .v1:
            guard let both = try optionalSize("memory.memsw.limit_in_bytes", on: .v1) else { return nil }
            var memory = knownLimit ?? .zero
            if knownLimit == nil { memory = try limit() }
            return both.isUnlimited || memory.isUnlimited ? .unlimited : both - memory
        }
    }

    /// The v1 memory+swap limit, memory.memsw.limit_in_bytes (nil on v2 or without swap accounting).
    public func memswLimit() throws(CgroupError) -> ByteCount? {
        try optionalSize("memory.memsw.limit_in_bytes", on: .v1)
    }

    // MARK: Limits (writes)

    /// Sets the hard limit (v1 memory.limit_in_bytes, v2 memory.max). Lowering it below usage fails with
    /// EBUSY on v1 once the kernel's reclaim gave up (see ``CgroupError/isBusy``); v2 reclaims and
    /// OOM-kills instead.
    public func setLimit(_ limit: ByteCount) throws(CgroupError) {
        try cgroup.write(version == .v1 ? "memory.limit_in_bytes" : "memory.max", Self.limitText(limit, version))
    }

    /// Sets the v1 memory+swap limit, memory.memsw.limit_in_bytes (must stay at or above the memory limit:
    /// raise it before the memory limit, lower it after).
    public func setMemswLimit(_ limit: ByteCount) throws(CgroupError) {
        try require(.v1, "memory.memsw.limit_in_bytes")
        try cgroup.write("memory.memsw.limit_in_bytes", Self.limitText(limit, .v1))
    }

    /// Keeps the cgroup out of swap, so that it meets its limit instead of swapping: v2
    /// memory.swap.max = 0; v1 memory.swappiness = 0 (reclaim at the cgroup's limit then never swaps
    /// its anonymous memory; unlike a memsw limit, this leaves hooks free to raise memory.limit_in_bytes
    /// alone). Returns false when the kernel has no such file, which leaves nothing to do.
    @discardableResult
    public func disableSwap() throws(CgroupError) -> Bool {
        let file = version == .v2 ? "memory.swap.max" : "memory.swappiness"
        guard cgroup.hasFile(file) else { return false }
        try cgroup.write(file, "0")
        return true
    }

    /// Sets the throttling limit, memory.high (v2 only).
    public func setHigh(_ high: ByteCount) throws(CgroupError) {
        try require(.v2, "memory.high")
        try cgroup.write("memory.high", Self.limitText(high, .v2))
    }

    /// Sets the hard protection, memory.min (v2 only).
    public func setMin(_ protection: ByteCount) throws(CgroupError) {
        try require(.v2, "memory.min")
        try cgroup.write("memory.min", Self.limitText(protection, .v2))
    }

    /// How a limit is written: bytes, or "no limit" (`-1` on v1, `max` on v2).
    public static func limitText(_ limit: ByteCount, _ version: CgroupVersion) -> String {
        limit.isUnlimited ? (version == .v1 ? "-1" : "max") : String(limit.bytes)
    }

    /// memory.stat.
    public func stat() throws(CgroupError) -> MemoryStat {
        try parse("memory.stat", MemoryStat.init(parsing:))
    }

    // MARK: OOM state

    /// memory.oom_control (v1 only).
    public func oomControl() throws(CgroupError) -> OOMControl {
        try require(.v1, "memory.oom_control")
        return try parse("memory.oom_control", OOMControl.init(parsing:))
    }

    /// memory.events, or memory.events.local with `local` (v2 only; .local from kernel 5.2).
    public func events(local: Bool = false) throws(CgroupError) -> MemoryEvents {
        let name = local ? "memory.events.local" : "memory.events"
        try require(.v2, name)
        return try parse(name, MemoryEvents.init(parsing:))
    }

    /// Whether the cgroup is killed as a unit on OOM, memory.oom.group (v2 only, kernels from 4.19).
    public func oomGroup() throws(CgroupError) -> Bool? {
        guard version == .v2, let text = try cgroup.readIfPresent("memory.oom.group") else { return nil }
        return text.trimmingASCIIWhitespace() == "1"
    }

    /// Enables or disables the kernel OOM killer for the cgroup (v1 memory.oom_control). With it
    /// disabled, tasks that hit the limit stall until memory is freed or the killer is re-enabled.
    public func setOOMKillDisabled(_ disabled: Bool) throws(CgroupError) {
        try require(.v1, "memory.oom_control")
        try cgroup.write("memory.oom_control", disabled ? "1" : "0")
    }

    /// The cgroup's memory pressure (memory.pressure), or nil where the kernel does not provide it
    /// (v1, or v2 without PSI).
    public func pressure() throws(CgroupError) -> Pressure? {
        guard version == .v2, let text = try cgroup.readIfPresent("memory.pressure") else { return nil }
        do {
            return try Pressure(parsing: text)
        } catch {
            throw .parse(error)
        }
    }

    // MARK: Tree

    /// The processes directly in this cgroup.
    public func processIDs() throws(CgroupError) -> [Int32] { try cgroup.processIDs() }

    /// The direct child cgroups, sorted by name. A child removed while listing is skipped.
    public func children() throws(CgroupError) -> [MemoryCgroup] {
        var result: [MemoryCgroup] = []
        for name in try cgroup.childNames() {
            do {
                result.append(try MemoryCgroup(cgroup.child(named: name)))
            } catch .noSuchCgroup {
                continue
            }
        }
        return result
    }

    /// Every cgroup below this one, depth first (parents before their children).
    public func descendants() throws(CgroupError) -> [MemoryCgroup] {
        var result: [MemoryCgroup] = []
        for child in try children() {
            result.append(child)
            result += try child.descendants()
        }
        return result
    }

    // MARK: Attributes

    /// The extended attributes that hold a cgroup's OOM priority, in the order they are consulted.
    public static let priorityAttributes = ["user.oomctl.priority", "trusted.oomctl.priority"]

    /// The OOM priority set on the cgroup directory (`user.oomctl.priority`, else
    /// `trusted.oomctl.priority`); higher is more important. Nil when unset or not an integer.
    public func priority() -> Int? { oomAttributes().priority }

    /// The oomd / systemd-oomd preferences set on the cgroup directory.
    public func oomdPreferences() -> OomdPreferences { oomAttributes().oomd }

    /// The priority and the oomd preferences, read with one flistxattr call and a getxattr only for the
    /// attributes that are actually set (most cgroups have none).
    public func oomAttributes() -> (priority: Int?, oomd: OomdPreferences) {
        let names = Set(cgroup.extendedAttributeNames())
        guard !names.isEmpty else { return (nil, OomdPreferences()) }
        func text(_ name: String) -> String? {
            guard names.contains(name), let value = cgroup.extendedAttribute(name) else { return nil }
            return String(String(decoding: value, as: UTF8.self).trimmingASCIIWhitespace())
        }
        let priority = Self.priorityAttributes.lazy.compactMap { text($0) }.first.flatMap { Int($0) }
        func isSet(_ suffix: String) -> Bool {
            guard let value = text("user." + suffix) ?? text("trusted." + suffix) else { return false }
            return value != "0" && value != "false"
        }
        return (
            priority,
            OomdPreferences(avoid: isSet("oomd_avoid"), prefer: isSet("oomd_prefer"), omit: isSet("oomd_omit"))
        )
    }

    // MARK: Helpers

    private func require(_ needed: CgroupVersion, _ file: String) throws(CgroupError) {
        guard version == needed else { throw .unsupported(file, version: version) }
    }

    private func size(_ file: String) throws(CgroupError) -> ByteCount {
        try parse(file, ByteCount.init(parsing:))
    }

    private func optionalSize(_ file: String, on needed: CgroupVersion) throws(CgroupError) -> ByteCount? {
        guard version == needed, let text = try cgroup.readIfPresent(file) else { return nil }
        do {
            return try ByteCount(parsing: text)
        } catch {
            throw .parse(error.naming(cgroup.filesystemPath + "/" + file))
        }
    }

    private func parse<Value>(
        _ file: String, _ parser: (String) throws(ParseError) -> Value
    ) throws(CgroupError) -> Value {
        let text = try cgroup.read(file)
        do {
            return try parser(text)
        } catch {
            throw .parse(error.naming(cgroup.filesystemPath + "/" + file))
        }
    }
}

/// The per-cgroup preferences that oomd and systemd-oomd read from extended attributes
/// (`user.oomd_avoid`, `user.oomd_prefer`, `user.oomd_omit`, or their `trusted.` forms).
public struct OomdPreferences: Sendable, Hashable, Codable {
    /// Pick this cgroup last.
    public var avoid: Bool
    /// Pick this cgroup first.
    public var prefer: Bool
    /// Never pick this cgroup.
    public var omit: Bool

    public init(avoid: Bool = false, prefer: Bool = false, omit: Bool = false) {
        self.avoid = avoid
        self.prefer = prefer
        self.omit = omit
    }

    /// Whether none is set.
    public var isEmpty: Bool { !avoid && !prefer && !omit }
}

extension ParseError {
    /// The same error, with the subject replaced by the file it came from.
    func naming(_ file: String) -> ParseError {
        ParseError(file, input: input, reason: reason)
    }
}
