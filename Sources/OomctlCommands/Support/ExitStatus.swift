import ArgumentParser
import Glibc
import OOMKit

/// oomctl's exit statuses, after sysexits(3). Documented in `oomctl --help` and the man pages.
public enum ExitStatus: Int32, CaseIterable, Sendable {
    case success = 0
    /// An action (kill, write, hook) was attempted and failed.
    case actionFailed = 1
    /// Bad command-line usage or value.
    case usage = 64
    /// A snapshot (or other input file) holds data that does not parse.
    case dataError = 65
    /// The cgroup, process or file named does not exist, or an input file is no file (a directory).
    case noInput = 66
    /// The kernel lacks what is needed.
    case unavailable = 69
    /// An I/O error on a kernel file, or output that could not be written (standard output full or gone).
    case ioError = 74
    /// An output file cannot be created.
    case cannotCreate = 73
    /// Not now: another watch holds the cgroup (EX_TEMPFAIL).
    case temporaryFailure = 75
    /// Permission denied.
    case noPermission = 77

    /// The status for a failure kind.
    public init(_ kind: FailureKind) {
        switch kind {
        case .badInput: self = .usage
        case .badData: self = .dataError
        case .notFound: self = .noInput
        case .unavailable: self = .unavailable
        case .cannotCreateOutput: self = .cannotCreate
        case .ioError: self = .ioError
        case .permissionDenied: self = .noPermission
        case .actionFailed: self = .actionFailed
        case .temporaryFailure: self = .temporaryFailure
        }
    }

    /// The text for `--help`.
    static let helpText = """
        EXIT STATUS:
          0   success
          1   an action (kill, write, hook) failed
          64  bad usage or value (sysexits EX_USAGE)
          65  an input file holds bad data (EX_DATAERR)
          66  no such cgroup, process or file, or an input that is a
              directory (EX_NOINPUT)
          69  the kernel lacks a needed feature (EX_UNAVAILABLE)
          73  cannot create an output file (EX_CANTCREAT)
          74  I/O error on a kernel file, or the output could not be
              written, e.g. to a full disk (EX_IOERR)
          75  another watch holds the cgroup; try again once it stopped (EX_TEMPFAIL)
          77  permission denied (EX_NOPERM)
        """
}

/// Prints an OOMKit error the way every oomctl command does (`oomctl: error: …` on stderr) and turns it
/// into the matching exit status.
func reportingErrors<Result>(_ body: () throws -> Result) throws -> Result {
    do {
        return try body()
    } catch let error as any OOMKitError {
        let hint = commandLineHint(for: error).map { " (\($0))" } ?? ""
        Terminal.printError("oomctl: error: \(error.description)\(hint)")
        throw ExitCode(ExitStatus(error.kind).rawValue)
    }
}

/// The options that bear on a library error: OOMKit speaks of what it knows (protected cgroups, a
/// delegated parent), the command line adds the flags that set them.
func commandLineHint(for error: any OOMKitError) -> String? {
    switch error {
    case PolicyError.invalidRegex: "--prefer and --avoid take regular expressions"
    case PolicyError.noCandidates(_, let excluded, _) where excluded > 0: "see --protect and --protect-cgroup"
    case LiveDecisionError.policy(let policy): commandLineHint(for: policy)
    case SandboxError.notPermitted: "give one with --parent"
    case FreezeHoldError.cgroupV1: "drop --hold freeze on v1"
    default: nil
    }
}
