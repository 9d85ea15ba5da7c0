import Glibc
import Synchronization

/// Standard output, written the one way oomctl writes it: every write checked, and the first one that
/// fails remembered, so that a command whose output was lost (a full disk, `>/dev/full`, a closed pipe
/// with SIGPIPE ignored) never exits 0 (oomctl exits 74, EX_IOERR). Said once on standard error, when it
/// happens: a long-running `watch` goes on handling without its log and says so at once.
package enum StandardOutput {
    /// The errno of the first failed write, 0 while none has failed.
    private static let firstFailure = Atomic<Int32>(0)

    /// Writes all of `bytes` (short writes and EINTR retried); false, and the failure recorded, when the
    /// kernel refused them.
    @discardableResult
    package static func write(_ bytes: [UInt8]) -> Bool {
        let code = FileIO.writeAll(bytes, to: STDOUT_FILENO)
        guard code != 0 else { return true }
        recordFailure(code)
        return false
    }

    /// Records a failed write to standard output; the first one is said on standard error.
    package static func recordFailure(_ code: Int32) {
        guard firstFailure.compareExchange(expected: 0, desired: code, ordering: .relaxed).exchanged else { return }
        let line =
            "oomctl: error: cannot write standard output: \(String(cString: strerror(code))); the output is incomplete\n"
        FileIO.writeAll(Array(line.utf8), to: STDERR_FILENO)
    }

    /// The errno of the first write to standard output that failed; nil when none has.
    package static var failure: Int32? {
        let code = firstFailure.load(ordering: .relaxed)
        return code == 0 ? nil : code
    }

    /// The last check, when the process writes nothing more: flushes the C library's streams (what a
    /// library may have printed through them) and closes standard output, whose close reports a write that
    /// failed late (NFS). Returns the first failure, if any write failed.
    package static func finish() -> Int32? {
        if fflush(nil) != 0 { recordFailure(errno) }
        if close(STDOUT_FILENO) != 0, errno != EBADF, errno != EINTR { recordFailure(errno) }
        return failure
    }
}
