/// An error reading a procfs file: the read failed, or the text did not parse.
///
/// A permission error says "(root only)": slabinfo and vmallocinfo are readable by root alone, and
/// another user's /proc/PID files need root (or ptrace rights) too.
public enum ProcfsError: OOMKitError, Hashable {
    /// Opening or reading the file failed (EACCES on a root-only file, ENOENT on a missing one…).
    case system(SystemCallError)
    /// The process whose file was read no longer exists (ESRCH, or ENOENT on its /proc directory).
    case processExited(pid: Int32, SystemCallError)
    /// The file was read but its text does not have the expected format.
    case parse(ParseError)

    public var kind: FailureKind {
        switch self {
        case .system(let error): error.kind
        case .processExited: .notFound
        case .parse(let error): error.kind
        }
    }

    public var description: String {
        switch self {
        case .system(let error) where error.kind == .permissionDenied:
            "\(error.description) (root only)"
        case .system(let error):
            error.description
        case .processExited(let pid, _):
            "process \(pid) exited"
        case .parse(let error):
            error.description
        }
    }
}

extension ProcfsError {
    /// Runs a parser, wrapping its ``ParseError``.
    static func parsing<T>(_ parse: () throws(ParseError) -> T) throws(ProcfsError) -> T {
        do {
            return try parse()
        } catch {
            throw .parse(error)
        }
    }
}
