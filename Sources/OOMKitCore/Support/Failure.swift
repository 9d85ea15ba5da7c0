/// What kind of failure an error is, so that a command line can map it to an exit status
/// (sysexits(3)) and a library user can react without matching every case.
public enum FailureKind: Sendable, Hashable {
    /// The caller gave a bad value (a malformed path, size or option): EX_USAGE.
    case badInput
    /// A file such as a snapshot holds data that does not parse: EX_DATAERR.
    case badData
    /// The cgroup, process or file named does not exist: EX_NOINPUT.
    case notFound
    /// The kernel lacks what is needed (no memory controller, an unsupported interface): EX_UNAVAILABLE.
    case unavailable
    /// An output file cannot be created or written: EX_CANTCREAT.
    case cannotCreateOutput
    /// Reading or writing a kernel file failed in an unexpected way: EX_IOERR.
    case ioError
    /// The caller lacks the privilege to do this: EX_NOPERM.
    case permissionDenied
    /// An action (kill, write, hook) was attempted and failed.
    case actionFailed
    /// Not now: something else holds what is needed (another watch on the cgroup); try again later:
    /// EX_TEMPFAIL.
    case temporaryFailure
}

/// An error from OOMKit: it knows its ``FailureKind`` and describes itself in words a user can act on.
public protocol OOMKitError: Error, CustomStringConvertible {
    /// The category of failure, used for exit statuses.
    var kind: FailureKind { get }
}
