import Glibc

/// The `watch` process a marker names: its PID and, so that neither a PID used again nor a watch in
/// another PID namespace is taken for it, its start time and PID namespace. Written `PID:START:NAMESPACE`
/// (START: clock ticks after boot as the initial time namespace counts them, ``startTicks(of:)``;
/// NAMESPACE: the inode of /proc/PID/ns/pid); the bare `PID` of earlier versions is read too. The one
/// encoder, parser and liveness test of owners.
package struct MarkerOwner: Sendable, Equatable, CustomStringConvertible {
    package var pid: Int32
    package var startTime: UInt64?
    package var namespace: UInt64?

    package init(pid: Int32, startTime: UInt64? = nil, namespace: UInt64? = nil) {
        self.pid = pid
        self.startTime = startTime
        self.namespace = namespace
    }

    /// This process.
    package static let current = MarkerOwner(
        pid: getpid(),
        // /proc/self, not /proc/PID: in a PID namespace whose /proc is the host's, PID is another process.
        startTime: startTicks(of: "self"),
        namespace: namespaceInode(of: "self"))

    /// When a process started, in clock ticks after boot as the initial time namespace counts them.
    /// /proc/PID/stat gives it shifted by the boottime offset of the *reader's* time namespace (Linux
    /// 5.6), so a watch in a container with a time namespace of its own and the host would read two
    /// start times for one process, and each take the other's live watch for a dead one: this process's
    /// offset is taken back off.
    package static func startTicks(of process: String) -> UInt64? {
        guard let text = try? FileIO.readText(path: "/proc/\(process)/stat"),
            let ticks = (try? ProcessStat(parsing: text))?.startTime
        else { return nil }
        let normalized = Int64(clamping: ticks) - bootTimeOffsetTicks
        return normalized >= 0 ? UInt64(normalized) : nil
    }

    /// This process's time namespace's boottime offset in clock ticks (rounded down), from
    /// /proc/self/timens_offsets (`boottime SECONDS NANOSECONDS`); 0 without time namespaces.
    static let bootTimeOffsetTicks: Int64 = {
        guard let text = try? FileIO.readText(path: "/proc/self/timens_offsets") else { return 0 }
        return offsetTicks(inTimeNamespaceOffsets: text, ticksPerSecond: Int64(sysconf(Int32(_SC_CLK_TCK))))
    }()

    /// The boottime line of a timens_offsets text, in ticks (rounded down); 0 when it has none.
    package static func offsetTicks(inTimeNamespaceOffsets text: String, ticksPerSecond: Int64) -> Int64 {
        guard ticksPerSecond > 0 else { return 0 }
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 3, fields[0] == "boottime", let seconds = Int64(fields[1]),
                let nanoseconds = Int64(fields[2]), abs(seconds) < Int64.max / ticksPerSecond / 2
            else { continue }
            let total = seconds * 1_000_000_000 + nanoseconds
            let tick = 1_000_000_000 / ticksPerSecond
            return total >= 0 ? total / tick : -((-total + tick - 1) / tick)
        }
        return 0
    }

    /// Whether two start times are one: the offset is taken off in whole ticks, so a process seen from
    /// two time namespaces whose offsets are not whole ticks is a tick apart.
    static func sameStart(_ first: UInt64, _ second: UInt64) -> Bool {
        first == second || first &+ 1 == second || second &+ 1 == first
    }

    /// `PID` or `PID:START:NAMESPACE`; nil for anything else.
    package init?(field: ArraySlice<UInt8>) {
        let parts = field.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 3, let pid = MarkerFields.pid(parts[0]) else { return nil }
        guard parts.count == 3 else {
            self.init(pid: pid)
            return
        }
        guard let start = MarkerFields.number(parts[1]), let namespace = MarkerFields.number(parts[2]) else {
            return nil
        }
        self.init(pid: pid, startTime: start, namespace: namespace)
    }

    package var encoded: String {
        guard let startTime, let namespace else { return String(pid) }
        return "\(pid):\(startTime):\(namespace)"
    }

    package var description: String { encoded }

    /// "pid 1234", or "pid 1 in another PID namespace, pid:[4026532297]" (with, when that namespace
    /// cannot be seen from here, "which cannot be seen from here, so it may still run").
    package var phrase: String {
        guard let namespace, let ours = Self.current.namespace, namespace != ours else { return "pid \(pid)" }
        let unseen = liveness == .unknown ? ", which cannot be seen from here, so it may still run" : ""
        return "pid \(pid) in another PID namespace, pid:[\(namespace)]\(unseen)"
    }

    /// Whether the process a marker names still runs, as far as this process can see.
    package enum Liveness: Sendable, Equatable {
        /// This very process.
        case thisProcess
        /// It runs.
        case alive
        /// No such process: its PID is free, or used again by another (its start time differs), or its
        /// PID namespace has no process with its start time.
        case gone
        /// Its PID namespace cannot be seen from here (a sibling container's): it may run.
        case unknown
    }

    package var liveness: Liveness {
        let me = Self.current
        if let namespace, let startTime, let ours = me.namespace, namespace != ours {
            return Self.liveness(startedAt: startTime, in: namespace)
        }
        if pid == me.pid {
            guard let startTime else { return .thisProcess }
            guard let mine = me.startTime else { return .gone }
            return Self.sameStart(startTime, mine) ? .thisProcess : .gone
        }
        if let actual = Self.startTicks(of: String(pid)) {
            guard let startTime else { return .alive }
            return Self.sameStart(actual, startTime) ? .alive : .gone
        }
        if (try? ProcFS().process(pid).stat()) != nil { return .alive }
        // Unreadable: kill(2) decides (EPERM, not ours to signal, counts as alive).
        return kill(pid, 0) != 0 && errno == ESRCH ? .gone : .alive
    }

    /// Whether a marker found at start-up, before this process set any, is a leftover: its owner is gone,
    /// or it is a bare PID equal to this one (a restart in a PID namespace, where watch gets the same PID
    /// again; a marker with a start time tells that apart).
    package var isLeftover: Bool {
        switch liveness {
        case .gone: true
        case .thisProcess: startTime == nil
        case .alive, .unknown: false
        }
    }

    /// Whether the owner is gone (so what it left can be undone); this process, alive or unknown: not.
    package var isGone: Bool { liveness == .gone }

    /// A process of another PID namespace: one of `namespace` with that start time. When no process of
    /// that namespace is visible, it is gone only if this process sees every process (it is in the
    /// initial PID namespace: its NSpid has one entry); otherwise that cannot be told.
    private static func liveness(startedAt startTime: UInt64, in namespace: UInt64) -> Liveness {
        let proc = ProcFS()
        var namespaceSeen = false
        for pid in (try? proc.processIDs()) ?? [] where namespaceInode(of: String(pid)) == namespace {
            namespaceSeen = true
            if let actual = startTicks(of: String(pid)), sameStart(actual, startTime) { return .alive }
        }
        if namespaceSeen { return .gone }
        let status = (try? FileIO.readText(path: "/proc/self/status")) ?? ""
        let namespaces = status.split(separator: "\n").first { $0.hasPrefix("NSpid:") }?.split(separator: "\t").count
        return namespaces == 2 ? .gone : .unknown
    }

    /// The inode of /proc/PROCESS/ns/pid (PROCESS: a PID or "self"); nil where it cannot be read.
    static func namespaceInode(of process: String) -> UInt64? {
        var status = stat()
        guard stat("/proc/\(process)/ns/pid", &status) == 0 else { return nil }
        return UInt64(status.st_ino)
    }
}

/// The attribute a `watch` process sets on a v1 cgroup whose kernel OOM killer it disabled
/// (`trusted.oomctl.killer_disabled_by` = its ``MarkerOwner``), so that the next start can re-enable a
/// killer that a crash (of watch and its guardian) left disabled. The one encoder and parser of that value.
package struct KillerDisabledMarker: Sendable, Equatable {
    package static let attribute = "trusted.oomctl.killer_disabled_by"

    /// The `watch` process that disabled the killer.
    package var owner: MarkerOwner
    package var pid: Int32 { owner.pid }

    package init(owner: MarkerOwner = .current) { self.owner = owner }

    /// Parses the attribute's value (``MarkerOwner``); nil for anything else.
    package init?(bytes: [UInt8]) {
        guard let owner = MarkerOwner(field: bytes[...]) else { return nil }
        self.owner = owner
    }

    package var encoded: [UInt8] { Array(owner.encoded.utf8) }

    /// The marker on a cgroup, if it has a valid one.
    package static func read(from cgroup: Cgroup) -> KillerDisabledMarker? {
        cgroup.extendedAttribute(attribute).flatMap(KillerDisabledMarker.init(bytes:))
    }
}

/// The attribute a `watch` process sets on a cgroup whose limit it raised by a reserve grant
/// (`trusted.oomctl.reserve_granted` = `OWNER LIMIT MEMSW RAISED RAISED_MEMSW`, OWNER a ``MarkerOwner``,
/// `-` for no memsw limit), so
/// that the next start can restore a limit that a crash left raised — only where it still holds what
/// watch wrote (RAISED). The one encoder and parser of that value; the three-field form of earlier
/// versions (`PID LIMIT MEMSW`, nothing to compare with) is read too.
package struct ReserveGrantMarker: Sendable, Equatable {
    package static let attribute = "trusted.oomctl.reserve_granted"

    /// The `watch` process that granted the reserve.
    package var owner: MarkerOwner
    package var pid: Int32 { owner.pid }
    /// The limit before the grant (v1 memory.limit_in_bytes, v2 memory.high).
    package var originalLimit: ByteCount
    /// memory.memsw.limit_in_bytes before the grant, when it was raised too.
    package var originalMemsw: ByteCount?
    /// What watch wrote: the raised limit (nil in an earlier version's marker).
    package var raisedLimit: ByteCount?
    /// The raised memsw limit, when memsw was raised.
    package var raisedMemsw: ByteCount?

    package init(
        owner: MarkerOwner, originalLimit: ByteCount, originalMemsw: ByteCount?, raisedLimit: ByteCount? = nil,
        raisedMemsw: ByteCount? = nil
    ) {
        self.owner = owner
        self.originalLimit = originalLimit
        self.originalMemsw = originalMemsw
        self.raisedLimit = raisedLimit
        self.raisedMemsw = raisedMemsw
    }

    /// The marker of a grant.
    package init(owner: MarkerOwner = .current, grant: ReserveGrant) {
        self.init(
            owner: owner, originalLimit: grant.originalLimit, originalMemsw: grant.originalMemsw,
            raisedLimit: grant.raisedLimit, raisedMemsw: grant.raisedMemsw)
    }

    /// Parses the attribute's value; nil for anything that is not three or five well-formed fields.
    package init?(bytes: [UInt8]) {
        let fields = bytes.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard fields.count == 3 || fields.count == 5, let owner = MarkerOwner(field: fields[0]),
            let limit = MarkerFields.number(fields[1]), let memsw = Self.optional(fields[2])
        else { return nil }
        guard fields.count == 5 else {
            self.init(owner: owner, originalLimit: ByteCount(limit), originalMemsw: memsw.map(ByteCount.init))
            return
        }
        guard let raised = MarkerFields.number(fields[3]), let raisedMemsw = Self.optional(fields[4]),
            (memsw == nil) == (raisedMemsw == nil)
        else { return nil }
        self.init(
            owner: owner, originalLimit: ByteCount(limit), originalMemsw: memsw.map(ByteCount.init),
            raisedLimit: ByteCount(raised), raisedMemsw: raisedMemsw.map(ByteCount.init))
    }

    /// `-` (none, as `.some(nil)`), a number, or nil for garbage.
    private static func optional(_ field: ArraySlice<UInt8>) -> UInt64?? {
        if Array(field) == [UInt8(ascii: "-")] { return .some(nil) }
        return MarkerFields.number(field).map { .some($0) }
    }

    package var encoded: [UInt8] {
        let dash: (ByteCount?) -> String = { $0.map { String($0.bytes) } ?? "-" }
        var text = "\(owner.encoded) \(originalLimit.bytes) \(dash(originalMemsw))"
        if let raisedLimit { text += " \(raisedLimit.bytes) \(dash(raisedMemsw))" }
        return Array(text.utf8)
    }

    /// The marker on a cgroup, if it has a valid one.
    package static func read(from cgroup: Cgroup) -> ReserveGrantMarker? {
        cgroup.extendedAttribute(attribute).flatMap(ReserveGrantMarker.init(bytes:))
    }
}

/// Field parsing shared by the markers: plain decimal digits only (no sign, no spaces).
enum MarkerFields {
    static func number(_ bytes: ArraySlice<UInt8>) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 20,
            bytes.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return nil }
        return UInt64(String(decoding: bytes, as: UTF8.self))
    }

    static func pid(_ bytes: ArraySlice<UInt8>) -> Int32? {
        number(bytes).flatMap { $0 > 0 ? Int32(exactly: $0) : nil }
    }

    /// Whether the process of a bare PID is gone (no such PID). A PID that exists but is not ours to
    /// signal (EPERM) counts as alive; so does this process. (Markers name owners: ``MarkerOwner``.)
    static func ownerIsGone(_ pid: Int32) -> Bool {
        MarkerOwner(pid: pid).isGone
    }
}
