/// One line on the socket from `watch` to its guardian (see ``GuardianClient``): what to restore if
/// `watch` dies, and what no longer needs it. The one encoder and the one parser of that format.
///
/// - `+PATH`: the kernel OOM killer is disabled through PATH (a v1 memory.oom_control); write `0` to it.
/// - `=PATH VALUE EXPECTED`: PATH (a limit raised by a reserve grant, a frozen cgroup.freeze) must get
///   VALUE back, if it still reads EXPECTED (what watch wrote): a value someone changed meanwhile is
///   theirs (``GrantRestore/decide(current:written:original:)``). Without EXPECTED, VALUE is written
///   whatever PATH reads.
/// - `-PATH`: PATH needs nothing any more (restored, or its cgroup is gone).
/// - `%PGID`: a hook runs in process group PGID; the guardian kills the group if watch dies.
/// - `-%PGID`: that hook has exited.
/// - `~MILLISECONDS`: watch's `--delay`. An OOM held in a listed cgroup longer than that (and
///   ``Guardian/deadlineSlack``) since its handling began is handed to the kernel killer: watch did not
///   hand it back at its deadline (stopped, or stuck in a write to a terminal nobody reads).
/// - `!PATH`: watch begins handling an OOM through PATH (a listed memory.oom_control): its deadline,
///   and the guardian's, start again now — for that cgroup and the listed ones below it. Transient:
///   not part of a ``GuardianState``.
///
/// Paths cannot hold a newline (the kernel refuses one in a cgroup name) and always start with `/`; the
/// file a PATH names (its last component) has no space, so the values are the words after it.
package enum GuardianMessage: Sendable, Equatable {
    case killerDisabled(path: String)
    case restoreOnExit(path: String, value: String, expected: String?)
    case forget(path: String)
    case hookGroup(Int32)
    case hookEnded(Int32)
    case delay(Duration)
    case handling(path: String)

    /// The file a message lists or unlists, for `+`, `=` and `-` (not `!`, which changes no listing).
    package var path: String? {
        switch self {
        case .killerDisabled(let path), .restoreOnExit(let path, _, _), .forget(let path): path
        case .hookGroup, .hookEnded, .delay, .handling: nil
        }
    }

    /// Whether the message comes with the directory of its path (SCM_RIGHTS) when watch has one: `+`, `=`.
    package var carriesDirectory: Bool {
        switch self {
        case .killerDisabled, .restoreOnExit: true
        case .forget, .hookGroup, .hookEnded, .delay, .handling: false
        }
    }

    /// The line, newline included.
    package var encoded: [UInt8] {
        let line =
            switch self {
            case .killerDisabled(let path): "+" + path
            case .restoreOnExit(let path, let value, let expected):
                "=" + path + " " + value + (expected.map { " " + $0 } ?? "")
            case .forget(let path): "-" + path
            case .hookGroup(let group): "%" + String(group)
            case .hookEnded(let group): "-%" + String(group)
            case .delay(let delay): "~" + String(max(0, delay.totalMilliseconds))
            case .handling(let path): "!" + path
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
        case UInt8(ascii: "!"): self = .handling(path: String(decoding: rest, as: UTF8.self))
        case UInt8(ascii: "-"):
            if rest.first == UInt8(ascii: "%") {
                guard let group = Self.group(rest.dropFirst()) else { return nil }
                self = .hookEnded(group)
            } else {
                self = .forget(path: String(decoding: rest, as: UTF8.self))
            }
        case UInt8(ascii: "%"):
            guard let group = Self.group(rest[...]) else { return nil }
            self = .hookGroup(group)
        case UInt8(ascii: "~"):
            // At most what a Duration holds in nanoseconds, as every duration oomctl parses.
            guard Self.isNumber(rest[...]), let milliseconds = Int64(String(decoding: rest, as: UTF8.self)),
                milliseconds <= Int64.max / 1_000_000
            else { return nil }
            self = .delay(.milliseconds(milliseconds))
        case UInt8(ascii: "="):
            // The words after the file name: VALUE, or VALUE EXPECTED.
            let fileStart = (rest.lastIndex(of: UInt8(ascii: "/")) ?? -1) + 1
            let words = rest[fileStart...].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard words.count == 2 || words.count == 3, !words[0].isEmpty, words.dropFirst().allSatisfy(Self.isValue)
            else { return nil }
            let pathEnd = fileStart + words[0].count
            self = .restoreOnExit(
                path: String(decoding: rest[..<pathEnd], as: UTF8.self),
                value: String(decoding: words[1], as: UTF8.self),
                expected: words.count == 3 ? String(decoding: words[2], as: UTF8.self) : nil)
        default: return nil
        }
    }

    /// Decimal digits as watch writes them: no sign, no leading zero (one spelling per number).
    private static func isNumber(_ bytes: ArraySlice<UInt8>) -> Bool {
        !bytes.isEmpty && bytes.count <= 18 && (bytes.count == 1 || bytes.first != UInt8(ascii: "0"))
            && bytes.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    private static func group(_ bytes: ArraySlice<UInt8>) -> Int32? {
        guard isNumber(bytes), let value = Int32(String(decoding: bytes, as: UTF8.self)), value > 1 else { return nil }
        return value
    }

    /// `max`, or a number as watch writes it (no leading zero; up to UInt64's 20 digits).
    private static func isValue(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard !bytes.isEmpty else { return false }
        return Array(bytes) == Array("max".utf8)
            || (bytes.count <= 20 && (bytes.count == 1 || bytes.first != UInt8(ascii: "0"))
                && bytes.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
    }
}

/// What a guardian must do if `watch` dies, as the messages so far add up to: kept by the guardian as
/// it reads them, and by ``GuardianClient`` as it sends them (so that a restarted guardian is told
/// everything again, ``messages``). The one model of that state.
package struct GuardianState: Sendable, Equatable {
    /// watch's `--delay`, once told.
    package var delay: Duration?
    /// memory.oom_control files whose killer is disabled, in the order told.
    package var killers: [String] = []
    /// Values to write back, in the order told.
    package var values: [Value] = []
    /// The process groups of running hooks.
    package var hookGroups: [Int32] = []

    package struct Value: Sendable, Equatable {
        package var path: String
        package var value: String
        package var expected: String?
    }

    package init() {}

    package mutating func apply(_ message: GuardianMessage) {
        switch message {
        case .killerDisabled(let path):
            if !killers.contains(where: { $0.isSameBytes(as: path) }) { killers.append(path) }
        case .restoreOnExit(let path, let value, let expected):
            values.removeAll { $0.path.isSameBytes(as: path) }
            values.append(Value(path: path, value: value, expected: expected))
        case .forget(let path):
            killers.removeAll { $0.isSameBytes(as: path) }
            values.removeAll { $0.path.isSameBytes(as: path) }
        case .hookGroup(let group):
            if !hookGroups.contains(group) { hookGroups.append(group) }
        case .hookEnded(let group):
            hookGroups.removeAll { $0 == group }
        case .delay(let delay):
            self.delay = delay
        case .handling:
            break
        }
    }

    /// The messages that tell a new guardian this state.
    package var messages: [GuardianMessage] {
        (delay.map { [GuardianMessage.delay($0)] } ?? []) + killers.map { .killerDisabled(path: $0) }
            + values.map { .restoreOnExit(path: $0.path, value: $0.value, expected: $0.expected) }
            + hookGroups.map { .hookGroup($0) }
    }
}
