import CLinux
import Glibc

/// A pidfd: a handle on one process that stays valid when the process exits, so a signal sent
/// through it can never reach another process that later gets the same PID.
public final class ProcessHandle: Sendable {
    public let pid: Int32
    public let descriptor: Int32

    /// Opens a pidfd for `pid`; throws ESRCH (kind `.notFound`) when there is no such process.
    public init(pid: Int32) throws(SystemCallError) {
        let descriptor = oomctl_pidfd_open(pid, 0)
        guard descriptor >= 0 else { throw SystemCallError("open a pidfd for", path: "process \(pid)", errno: errno) }
        self.pid = pid
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Sends a signal through the pidfd. Returns false when the process has already exited (ESRCH).
    @discardableResult
    public func send(_ signal: Int32) throws(SystemCallError) -> Bool {
        if oomctl_pidfd_send_signal(descriptor, signal, 0) == 0 { return true }
        if errno == ESRCH { return false }
        throw SystemCallError("signal", path: "process \(pid)", errno: errno)
    }

    /// Asks the kernel to reap the memory of a process that is being killed, without waiting for its
    /// exit to finish (process_mrelease, Linux 5.15). Returns false where unsupported or not applicable.
    @discardableResult
    public func releaseMemory() -> Bool {
        oomctl_process_mrelease(descriptor, 0) == 0
    }

    /// Whether the process has exited (the pidfd polls readable).
    public var hasExited: Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) > 0
    }
}
