import CLinux
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
/// symbolic link is refused, never followed or replaced, and so is a path through one: the directory is
/// opened one component at a time with `openat(O_NOFOLLOW)` (``openDirectory(_:)``), so that nobody who
/// can swap a directory of the path for a link redirects the file elsewhere. On any failure (a full
/// disk, EACCES) the temporary file is removed and an existing target is untouched.
package enum AtomicFile {
    /// Writes `bytes` to `path` atomically with the given permission bits. Not `durable`: no fsync (the
    /// rename is still atomic for readers; after a crash the file may be empty), for a file rewritten
    /// often whose writer must not wait for the disk (the metrics file, from the handler's loop).
    package static func write(
        _ bytes: [UInt8], to path: String, mode: mode_t = 0o600, durable: Bool = true
    ) throws(OutputFileError) {
        let (directoryPath, name) = split(path)
        guard !name.isEmpty, name != ".", name != ".." else {
            throw OutputFileError(path: path, reason: "not a file name")
        }
        let directory: Int32
        do {
            directory = try openDirectory(directoryPath)
        } catch {
            throw OutputFileError(path: path, reason: error.reason, code: error.code)
        }
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

        let temporaryName = temporaryName(for: name)
        let file = openat(directory, temporaryName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard file >= 0 else { throw failure(path, errno, "create") }
        var error: OutputFileError?
        if fchmod(file, mode) != 0 { error = failure(path, errno, "set permissions of") }
        if error == nil {
            let code = FileIO.writeAll(bytes, to: file)
            if code != 0 { error = failure(path, code, "write") }
        }
        if error == nil, durable, fsync(file) != 0 { error = failure(path, errno, "flush") }
        if close(file) != 0, error == nil { error = failure(path, errno, "close") }
        if error == nil, renameat(directory, temporaryName, directory, name) != 0 {
            error = failure(path, errno, "rename into place")
        }
        if let error {
            unlinkat(directory, temporaryName, 0)
            throw error
        }
        if durable { fsync(directory) }
    }

    /// The longest file name the kernel takes (NAME_MAX).
    static let maximumNameLength = 255

    /// `.NAME.PID.RANDOM.tmp`, with NAME shortened (by whole characters) so that the whole stays within
    /// NAME_MAX: a target name of up to 255 bytes is legal, and so must its temporary name be.
    static func temporaryName(for name: String) -> String {
        let suffix = ".\(getpid()).\(UInt32.random(in: .min ... .max)).tmp"
        let room = maximumNameLength - 1 - suffix.utf8.count
        var kept = Substring(name)
        while kept.utf8.count > room { kept = kept.dropLast() }
        return "." + kept + suffix
    }

    /// Opens a directory to write in (`O_RDONLY | O_DIRECTORY`), walking `path` one component at a time
    /// from `/` (absolute) or the working directory with `openat(O_NOFOLLOW)`: a component that is a
    /// symbolic link is refused, never followed (its error has no errno), unless only root could have
    /// put it there (a link owned by root in a directory owned by root that no one else may write, such
    /// as /var/run → /run): that one is followed, its target walked the same way. Components other than
    /// the last are opened `O_PATH`, which needs only search permission, as a path lookup does.
    package static func openDirectory(_ path: String) throws(OutputFileError) -> Int32 {
        try openDirectory(path, reportingAs: path, links: 0)
    }

    private static func openDirectory(
        _ path: String, reportingAs shown: String, links: Int
    ) throws(OutputFileError)
        -> Int32
    {
        let components = path.split(separator: "/").map(String.init)
        var current = open(path.hasPrefix("/") ? "/" : ".", OOMCTL_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard current >= 0 else { throw failure(shown, errno, "open directory") }
        for (index, component) in components.enumerated() {
            let last = index == components.count - 1
            let next = openat(
                current, component, (last ? O_RDONLY : OOMCTL_O_PATH) | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let code = errno
            if next < 0 {
                var info = stat()
                let isLink =
                    fstatat(current, component, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFLNK
                let target =
                    isLink && links < 40 && isRootsOwn(link: info, in: current) ? linkTarget(current, component) : nil
                close(current)
                let here = (path.hasPrefix("/") ? "/" : "") + components[..<index].joined(separator: "/")
                if let target {
                    let rest = components[(index + 1)...].joined(separator: "/")
                    let base = target.hasPrefix("/") ? target : here + (here.isEmpty || here == "/" ? "" : "/") + target
                    return try openDirectory(base + "/" + rest, reportingAs: shown, links: links + 1)
                }
                guard !isLink else {
                    let link = (path.hasPrefix("/") ? "/" : "") + components[...index].joined(separator: "/")
                    throw OutputFileError(
                        path: shown,
                        reason: "'\(link)' is a symbolic link; refusing to follow it (give the real directory)")
                }
                throw failure(shown, code, "open directory")
            }
            close(current)
            current = next
        }
        if components.isEmpty {
            // "/" or ".": the start itself, opened for reading (an fsync needs it).
            let directory = openat(current, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            let code = errno
            close(current)
            guard directory >= 0 else { throw failure(shown, code, "open directory") }
            return directory
        }
        return current
    }

    /// Whether only root could have made or changed a link: it is root's, in a directory that is root's
    /// and that neither its group nor others may write.
    private static func isRootsOwn(link: stat, in directory: Int32) -> Bool {
        var parent = stat()
        guard fstat(directory, &parent) == 0 else { return false }
        return link.st_uid == 0 && parent.st_uid == 0 && parent.st_mode & (S_IWGRP | S_IWOTH) == 0
    }

    /// What a link says (its bytes, losslessly), or nil.
    private static func linkTarget(_ directory: Int32, _ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        let capacity = buffer.count
        let count = LosslessText.withCString(name) { readlinkat(directory, $0, &buffer, capacity) }
        guard count > 0, count < capacity else { return nil }
        return LosslessText.decode(buffer.prefix(count).map { UInt8(bitPattern: $0) })
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
