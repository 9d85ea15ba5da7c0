import Glibc

/// The attribute a `watch` process sets on a v1 cgroup whose kernel OOM killer it disabled
/// (`trusted.oomctl.killer_disabled_by` = its PID), so that the next start can re-enable a killer that a
/// crash (of watch and its guardian) left disabled. The one encoder and parser of that value.
package struct KillerDisabledMarker: Sendable, Equatable {
    package static let attribute = "trusted.oomctl.killer_disabled_by"

    /// The `watch` process that disabled the killer.
    package var pid: Int32

    package init(pid: Int32) { self.pid = pid }

    /// Parses the attribute's value (decimal PID); nil for anything else.
    package init?(bytes: [UInt8]) {
        guard let pid = MarkerFields.pid(bytes[...]) else { return nil }
        self.pid = pid
    }

    package var encoded: [UInt8] { Array(String(pid).utf8) }

    /// The marker on a cgroup, if it has a valid one.
    package static func read(from cgroup: Cgroup) -> KillerDisabledMarker? {
        cgroup.extendedAttribute(attribute).flatMap(KillerDisabledMarker.init(bytes:))
    }
}

/// The attribute a `watch` process sets on a cgroup whose limit it raised by a reserve grant
/// (`trusted.oomctl.reserve_granted` = `PID LIMIT MEMSW RAISED RAISED_MEMSW`, `-` for no memsw limit), so
/// that the next start can restore a limit that a crash left raised — only where it still holds what
/// watch wrote (RAISED). The one encoder and parser of that value; the three-field form of earlier
/// versions (`PID LIMIT MEMSW`, nothing to compare with) is read too.
package struct ReserveGrantMarker: Sendable, Equatable {
    package static let attribute = "trusted.oomctl.reserve_granted"

    /// The `watch` process that granted the reserve.
    package var pid: Int32
    /// The limit before the grant (v1 memory.limit_in_bytes, v2 memory.high).
    package var originalLimit: ByteCount
    /// memory.memsw.limit_in_bytes before the grant, when it was raised too.
    package var originalMemsw: ByteCount?
    /// What watch wrote: the raised limit (nil in an earlier version's marker).
    package var raisedLimit: ByteCount?
    /// The raised memsw limit, when memsw was raised.
    package var raisedMemsw: ByteCount?

    package init(
        pid: Int32, originalLimit: ByteCount, originalMemsw: ByteCount?, raisedLimit: ByteCount? = nil,
        raisedMemsw: ByteCount? = nil
    ) {
        self.pid = pid
        self.originalLimit = originalLimit
        self.originalMemsw = originalMemsw
        self.raisedLimit = raisedLimit
        self.raisedMemsw = raisedMemsw
    }

    /// The marker of a grant.
    package init(pid: Int32, grant: ReserveGrant) {
        self.init(
            pid: pid, originalLimit: grant.originalLimit, originalMemsw: grant.originalMemsw,
            raisedLimit: grant.raisedLimit, raisedMemsw: grant.raisedMemsw)
    }

    /// Parses the attribute's value; nil for anything that is not three or five well-formed fields.
    package init?(bytes: [UInt8]) {
        let fields = bytes.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard fields.count == 3 || fields.count == 5, let pid = MarkerFields.pid(fields[0]),
            let limit = MarkerFields.number(fields[1]), let memsw = Self.optional(fields[2])
        else { return nil }
        guard fields.count == 5 else {
            self.init(pid: pid, originalLimit: ByteCount(limit), originalMemsw: memsw.map(ByteCount.init))
            return
        }
        guard let raised = MarkerFields.number(fields[3]), let raisedMemsw = Self.optional(fields[4]),
            (memsw == nil) == (raisedMemsw == nil)
        else { return nil }
        self.init(
            pid: pid, originalLimit: ByteCount(limit), originalMemsw: memsw.map(ByteCount.init),
            raisedLimit: ByteCount(raised), raisedMemsw: raisedMemsw.map(ByteCount.init))
    }

    /// `-` (none, as `.some(nil)`), a number, or nil for garbage.
    private static func optional(_ field: ArraySlice<UInt8>) -> UInt64?? {
        if Array(field) == [UInt8(ascii: "-")] { return .some(nil) }
        return MarkerFields.number(field).map { .some($0) }
    }

    package var encoded: [UInt8] {
        let dash: (ByteCount?) -> String = { $0.map { String($0.bytes) } ?? "-" }
        var text = "\(pid) \(originalLimit.bytes) \(dash(originalMemsw))"
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

    /// Whether the process that set a marker is gone (no such PID), so what it left can be undone. A PID
    /// that exists but is not ours to signal (EPERM) counts as alive; so does this process.
    static func ownerIsGone(_ pid: Int32) -> Bool {
        pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
    }

    /// Whether a marker found at start-up, before this process set any, is a leftover: its owner is gone,
    /// or it carries this very PID (a restart in a PID namespace, where watch gets the same PID again).
    static func isLeftover(_ pid: Int32) -> Bool {
        pid == getpid() || ownerIsGone(pid)
    }
}
