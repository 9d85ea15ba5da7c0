import Glibc

/// A failed system call on a named file, with the errno it returned.
public struct SystemCallError: OOMKitError, Hashable {
    /// The operation that failed, e.g. `open` or `read`.
    public var operation: String
    /// The file (or other object) the operation was applied to.
    public var path: String
    /// The errno value.
    public var errno: Int32

    public init(_ operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var kind: FailureKind {
        switch errno {
        case ENOENT, ESRCH: .notFound
        case EACCES, EPERM: .permissionDenied
        default: .ioError
        }
    }

    /// The C library's text for the errno, e.g. "No such file or directory".
    public var reason: String { String(cString: strerror(errno)) }

    public var description: String { "cannot \(operation) '\(path)': \(reason)" }
}
