import Glibc
import SystemPackage

/// Why an output file could not be written. Nothing is left behind: no partial file, no temporary file.
package struct OutputFileError: OOMKitError, Hashable {
    /// The file that could not be written (or the directory that could not be made).
    package var path: String
    /// What went wrong, in words, e.g. "cannot create: Permission denied".
    package var reason: String
    /// The error of the system call that failed; nil when no system call did (a symbolic link refused,
    /// a path that names no file).
    package var code: Errno?

    /// An error for `path`, with the reason in words and the failed call's error code, if any.
    package init(path: String, reason: String, code: Errno? = nil) {
        self.path = path
        self.reason = reason
        self.code = code
    }

    /// Whether the write failed for lack of privilege (EACCES or EPERM).
    package var isPermissionDenied: Bool { code == .permissionDenied || code == .notPermitted }

    package var kind: FailureKind { .cannotCreateOutput }
    package var description: String { "cannot write '\(path)': \(reason)" }
}

/// Writes files the way diagnostics and state must be written: all or nothing.
///
/// The bytes go to a new temporary file in the target's directory (`O_CREAT | O_EXCL | O_NOFOLLOW`,
/// mode set explicitly), are flushed with fsync, then renamed over the target. A target that is a
/// symbolic link is refused, never followed or replaced; on any failure (a full disk, EACCES) the
/// temporary file is removed and an existing target is untouched.
package enum AtomicFile {
    /// Writes `bytes` to `path` atomically with the given permission bits.
    package static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws(OutputFileError) {
        let (directoryPath, name) = split(path)
        guard !name.isEmpty, name != ".", name != ".." else {
            throw OutputFileError(path: path, reason: "not a file name")
        }
        let directory = open(directoryPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw failure(path, errno, "open directory") }
        defer { close(directory) }

        var existing = stat()
        if fstatat(directory, name, &existing, AT_SYMLINK_NOFOLLOW) == 0 {
            switch existing.st_mode & S_IFMT {
            case S_IFLNK:
                throw OutputFileError(path: path, reason: "it is a symbolic link; refusing to write through it")
            case S_IFREG: break
            default: throw OutputFileError(path: path, reason: "it exists and is not a regular file")
            }
        }

        let temporaryName = ".\(name).\(getpid()).\(UInt32.random(in: .min ... .max)).tmp"
        let file = openat(directory, temporaryName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard file >= 0 else { throw failure(path, errno, "create") }
        var error: OutputFileError?
        if fchmod(file, mode) != 0 { error = failure(path, errno, "set permissions of") }
        if error == nil {
            let code = FileIO.writeAll(bytes, to: file)
            if code != 0 { error = failure(path, code, "write") }
        }
        if error == nil, fsync(file) != 0 { error = failure(path, errno, "flush") }
        if close(file) != 0, error == nil { error = failure(path, errno, "close") }
        if error == nil, renameat(directory, temporaryName, directory, name) != 0 {
            error = failure(path, errno, "rename into place")
        }
        if let error {
            unlinkat(directory, temporaryName, 0)
            throw error
        }
        fsync(directory)
    }

    /// The error for a failed `operation` on the way to writing `path`, keeping its errno.
    private static func failure(_ path: String, _ code: Int32, _ operation: String) -> OutputFileError {
        OutputFileError(
            path: path, reason: "cannot \(operation): \(String(cString: strerror(code)))", code: Errno(rawValue: code))
    }

    /// ("/a/b", "c") for "/a/b/c"; (".", "c") for "c".
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = path[..<slash]
        return (directory.isEmpty ? "/" : String(directory), String(path[path.index(after: slash)...]))
    }
}
