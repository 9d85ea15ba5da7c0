/// One line on the pipe from `watch` to its guardian (see ``GuardianClient``): what to restore if
/// `watch` dies, and what no longer needs it. The one encoder and the one parser of that format.
///
/// - `+PATH`: the kernel OOM killer is disabled through PATH (a v1 memory.oom_control); write `0` to it.
/// - `=PATH VALUE`: PATH (a limit raised by a reserve grant) must get VALUE back.
/// - `-PATH`: PATH needs nothing any more (restored, or its cgroup is gone).
///
/// Paths cannot hold a newline (the kernel refuses one in a cgroup name); VALUE is a number of bytes
/// or `max`, so the last space of an `=` line separates the two.
package enum GuardianMessage: Sendable, Equatable {
    case killerDisabled(path: String)
    case restoreOnExit(path: String, value: String)
    case forget(path: String)

    /// The line, newline included.
    package var encoded: [UInt8] {
        let line =
            switch self {
            case .killerDisabled(let path): "+" + path
            case .restoreOnExit(let path, let value): "=" + path + " " + value
            case .forget(let path): "-" + path
            }
        return Array(line.utf8) + [UInt8(ascii: "\n")]
    }

    /// Parses one line (without its newline); nil for anything that is not a message.
    package init?(line: some Collection<UInt8>) {
        guard let first = line.first, !line.contains(UInt8(ascii: "\n")) else { return nil }
        let rest = Array(line.dropFirst())
        guard !rest.isEmpty, !rest.contains(0) else { return nil }
        switch first {
        case UInt8(ascii: "+"): self = .killerDisabled(path: String(decoding: rest, as: UTF8.self))
        case UInt8(ascii: "-"): self = .forget(path: String(decoding: rest, as: UTF8.self))
        case UInt8(ascii: "="):
            guard let space = rest.lastIndex(of: UInt8(ascii: " ")), space > 0 else { return nil }
            let value = rest[(space + 1)...]
            guard Self.isValue(value) else { return nil }
            self = .restoreOnExit(
                path: String(decoding: rest[..<space], as: UTF8.self), value: String(decoding: value, as: UTF8.self))
        default: return nil
        }
    }

    private static func isValue(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard !bytes.isEmpty else { return false }
        return Array(bytes) == Array("max".utf8)
            || bytes.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }
}
