/// How a hook's command line is started: through `/bin/sh -c`, or, when the shell could only run one
/// program with the words given, that program itself.
///
/// `/bin/sh -c '/usr/local/bin/dump-heap --pid 1'` parses the line and execs the program (dash execs a
/// last simple command without forking): the same process, arguments and environment as starting the
/// program directly, one exec later. The handler starts hooks while a cgroup is out of memory, so that
/// exec is worth saving; it is saved only where nothing of the shell's language can be in the line:
/// words of letters, digits and `/ . _ + , : @ % = -`, separated by spaces, the first one a path (it has
/// a `/`, so the shell would not search PATH or run a builtin), not an assignment and not starting with
/// `-` or `+` (options to sh). Anything else (a
/// quote, `$`, a glob, a redirection, a tab or newline, a byte that is not ASCII) goes through the shell,
/// and so does a program that cannot be executed directly (a script without `#!`, a missing file: the
/// shell then says why and exits 126 or 127, as it always did).
package enum HookCommand: Equatable {
    /// The program and its arguments (`arguments[0]` is the program as written).
    case direct(program: String, arguments: [String])
    /// `/bin/sh -c LINE`.
    case shell(String)

    package static let shellPath = "/bin/sh"

    package init(_ line: String) {
        let words = line.utf8.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        // A leading - or + would be an option to sh, which refuses it.
        guard let first = words.first, first.contains(UInt8(ascii: "/")), !first.contains(UInt8(ascii: "=")),
            first.first != UInt8(ascii: "-"), first.first != UInt8(ascii: "+"),
            line.utf8.allSatisfy({ $0 == UInt8(ascii: " ") || Self.isPlain($0) })
        else {
            self = .shell(line)
            return
        }
        let arguments = words.map { String(decoding: $0, as: UTF8.self) }
        self = .direct(program: arguments[0], arguments: arguments)
    }

    /// The executable and argument vector to spawn.
    package var executableAndArguments: (executable: String, arguments: [String]) {
        switch self {
        case .direct(let program, let arguments): (program, arguments)
        case .shell(let line): (Self.shellPath, ["sh", "-c", line])
        }
    }

    private static func isPlain(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "/"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "+"), UInt8(ascii: ","),
            UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "%"), UInt8(ascii: "="), UInt8(ascii: "-"):
            true
        default: false
        }
    }
}
