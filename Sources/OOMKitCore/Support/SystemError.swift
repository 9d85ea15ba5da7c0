import Glibc
import SystemPackage

/// A failed system call on a named file, with the errno it returned.
public struct SystemCallError: OOMKitError, Hashable {
    /// The operation that failed, e.g. `open` or `read`.
    public var operation: String
    /// The file (or other object) the operation was applied to.
    public var path: String
    /// The error the call returned, e.g. `.noSuchFileOrDirectory` (ENOENT).
    public var code: Errno

    /// An error for a failed `operation` on `path` with the given error code.
    public init(_ operation: String, path: String, code: Errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    /// An error for a failed `operation` on `path` with the C library's errno value (`Glibc.errno`, or
    /// the result of a call such as posix_spawn that returns one).
    public init(_ operation: String, path: String, errno: Int32) {
        self.init(operation, path: path, code: Errno(rawValue: errno))
    }

    /// The raw errno value, `code.rawValue`, for comparing with the C library's constants.
    public var errno: Int32 {
        get { code.rawValue }
        set { code = Errno(rawValue: newValue) }
    }

    public var kind: FailureKind {
        switch code {
        case .noSuchFileOrDirectory, .noSuchProcess: .notFound
        case .permissionDenied, .notPermitted: .permissionDenied
        default: .ioError
        }
    }

    /// The C library's text for the errno, e.g. "No such file or directory".
    public var reason: String { String(cString: strerror(code.rawValue)) }

    public var description: String { "cannot \(operation) '\(path)': \(reason)" }
}
