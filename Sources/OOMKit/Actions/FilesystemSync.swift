import CLinux
import Glibc

/// sync(2), waited for at most a while: a panic syncs before it writes its trigger, but a device that
/// hangs must not keep the machine in OOM for ever (the loop, and with it the v1 deadline, waits here).
package enum FilesystemSync {
    /// How the sync went.
    package enum Outcome: Sendable, Equatable {
        /// Every file system was synced.
        case synced
        /// The sync had not finished by the timeout; it goes on in a child process.
        case timedOut
        /// No child process could be made (the errno of fork): synced in this process instead.
        case syncedInline(forkErrno: Int32)
    }

    /// Syncs every file system, in a child process, waiting for it at most `timeout`.
    package static func run(timeout: Duration) -> Outcome {
        let milliseconds = Int32(clamping: timeout.totalNanoseconds / 1_000_000)
        switch oomctl_sync_bounded(milliseconds) {
        case 0: return .synced
        case ETIMEDOUT: return .timedOut
        case let code: return .syncedInline(forkErrno: code)
        }
    }
}
