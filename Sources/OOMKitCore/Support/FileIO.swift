import Glibc
import SystemPackage

/// Small, allocation-conscious helpers for the pseudo-files of /proc and cgroupfs.
///
/// Kernel pseudo-files report a size of 0 or 4096 whatever they hold, so they are read in a loop
/// until end of file. Every open uses `O_CLOEXEC`; relative opens use `O_NOFOLLOW` so that a
/// symlink planted in a cgroup directory is never followed.
package enum FileIO {
    /// Reads a whole file given by an absolute path.
    package static func read(path: String) throws(SystemCallError) -> [UInt8] {
        let fd = LosslessText.withCString(path) { open($0, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw SystemCallError("open", path: path, errno: Glibc.errno) }
        defer { close(fd) }
        return try readAll(fd: fd, path: path)
    }

    /// Reads a whole file named relative to an open directory, never following a symlink.
    package static func read(
        at directory: Int32, name: String, displayPath: @autoclosure () -> String
    ) throws(SystemCallError) -> [UInt8] {
        let fd = LosslessText.withCString(name) { openat(directory, $0, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        guard fd >= 0 else { throw SystemCallError("open", path: displayPath(), errno: Glibc.errno) }
        defer { close(fd) }
        return try readAll(fd: fd, path: displayPath())
    }

    /// Reads a whole file as UTF-8 text (invalid bytes are repaired, never fatal).
    package static func readText(path: String) throws(SystemCallError) -> String {
        String(decoding: try read(path: path), as: UTF8.self)
    }

    /// Reads from `fd` until end of file.
    package static func readAll(fd: Int32, path: @autoclosure () -> String) throws(SystemCallError) -> [UInt8] {
        var result: [UInt8] = []
        let failure: Int32 = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16384) { chunk in
            while true {
                let count = Glibc.read(fd, chunk.baseAddress, chunk.count)
                if count < 0 {
                    if Glibc.errno == EINTR { continue }
                    return Glibc.errno
                }
                if count == 0 { return 0 }
                result.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[0..<count]))
            }
        }
        if failure != 0 { throw SystemCallError("read", path: path(), errno: failure) }
        return result
    }

    /// Writes every byte to `descriptor`, retrying short writes and EINTR. Returns 0, or the errno of
    /// the write that failed.
    @discardableResult
    package static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Int32 {
        bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return 0 }
            var offset = 0
            while offset < buffer.count {
                let count = Glibc.write(descriptor, base + offset, buffer.count - offset)
                if count < 0 && Glibc.errno == EINTR { continue }
                if count < 0 { return Glibc.errno }
                if count == 0 { return EIO }
                offset += count
            }
            return 0
        }
    }

    /// Writes `text` to a file named relative to an open directory (no symlinks, no creation),
    /// as one `write(2)`, which is how cgroupfs expects a value.
    package static func write(
        _ text: String, at directory: Int32, name: String, displayPath: @autoclosure () -> String
    ) throws(SystemCallError) {
        let fd = LosslessText.withCString(name) { openat(directory, $0, O_WRONLY | O_CLOEXEC | O_NOFOLLOW) }
        guard fd >= 0 else { throw SystemCallError("open", path: displayPath(), errno: Glibc.errno) }
        defer { close(fd) }
        var bytes = Array(text.utf8)
        let failure: Int32 = bytes.withUnsafeMutableBytes { buffer in
            while true {
                let n = Glibc.write(fd, buffer.baseAddress, buffer.count)
                if n < 0 && Glibc.errno == EINTR { continue }
                if n < 0 { return Glibc.errno }
                return n == buffer.count ? 0 : EIO
            }
        }
        if failure != 0 { throw SystemCallError("write", path: displayPath(), errno: failure) }
    }

    /// Creates a directory and its missing parents (an existing one is fine). The error names the
    /// directory that could not be made and keeps the errno of its mkdir(2).
    package static func makeDirectories(_ path: String, mode: mode_t) throws(OutputFileError) {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0 {
                let code = Glibc.errno
                guard code != EEXIST else { continue }
                throw OutputFileError(
                    path: current, reason: String(cString: strerror(code)), code: Errno(rawValue: code))
            }
        }
    }
}
