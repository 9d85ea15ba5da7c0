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

/// The attribute a `watch` process sets on a v1 cgroup whose limit it raised by a reserve grant
/// (`trusted.oomctl.reserve_granted` = `PID LIMIT MEMSW`, `-` for no memsw limit), so that the next start
/// can restore a limit that a crash left raised. The one encoder and parser of that value.
package struct ReserveGrantMarker: Sendable, Equatable {
    package static let attribute = "trusted.oomctl.reserve_granted"

    /// The `watch` process that granted the reserve.
    package var pid: Int32
    /// memory.limit_in_bytes before the grant.
    package var originalLimit: ByteCount
    /// memory.memsw.limit_in_bytes before the grant, when it was raised too.
    package var originalMemsw: ByteCount?

    package init(pid: Int32, originalLimit: ByteCount, originalMemsw: ByteCount?) {
        self.pid = pid
        self.originalLimit = originalLimit
        self.originalMemsw = originalMemsw
    }

    /// Parses the attribute's value; nil for anything that is not three well-formed fields.
    package init?(bytes: [UInt8]) {
        let fields = bytes.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard fields.count == 3, let pid = MarkerFields.pid(fields[0]), let limit = MarkerFields.number(fields[1])
        else { return nil }
        let memsw: ByteCount?
        if Array(fields[2]) == [UInt8(ascii: "-")] {
            memsw = nil
        } else if let value = MarkerFields.number(fields[2]) {
            memsw = ByteCount(value)
        } else {
            return nil
        }
        self.init(pid: pid, originalLimit: ByteCount(limit), originalMemsw: memsw)
    }

    package var encoded: [UInt8] {
        Array("\(pid) \(originalLimit.bytes) \(originalMemsw.map { String($0.bytes) } ?? "-")".utf8)
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
