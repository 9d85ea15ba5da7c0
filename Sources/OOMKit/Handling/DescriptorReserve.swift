import Glibc
import SystemPackage

/// A few file descriptors held open (on /dev/null) so that at the process's descriptor limit the
/// handling path still gets the ones it cannot do without: the deadline's timerfd and the write that
/// hands a v1 OOM back to the kernel. Without them a cgroup could hang in OOM with no end once watch
/// ran out of descriptors (e.g. a `--recursive` watch of a tree that grew past RLIMIT_NOFILE).
///
/// ``retrying(_:)`` runs an attempt; when it fails for want of a descriptor (EMFILE, ENFILE) one spare
/// is closed and the attempt runs again, as long as spares are left. ``replenish()`` takes them back up
/// when descriptors are free again (after a handling finished).
package final class DescriptorReserve {
    /// How many descriptors are held.
    package static let size = 3
    private var spares: [Int32] = []

    package init() { replenish() }

    deinit { for spare in spares { close(spare) } }

    /// How many spares are held now.
    package var count: Int { spares.count }

    /// Opens spares up to ``size`` (as far as the limit allows).
    package func replenish() {
        while spares.count < Self.size {
            let spare = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard spare >= 0 else { return }
            spares.append(spare)
        }
    }

    /// Runs `attempt`, freeing a spare and trying again each time it fails for want of a descriptor.
    package func retrying<Value, Failure: Error>(
        _ attempt: () throws(Failure) -> Value, isShortage: (Failure) -> Bool
    ) throws(Failure) -> Value {
        while true {
            do {
                return try attempt()
            } catch {
                guard isShortage(error), let spare = spares.popLast() else { throw error }
                close(spare)
            }
        }
    }

    /// Whether a system call failed for want of a descriptor.
    package static func isShortage(_ code: Errno) -> Bool {
        code == .tooManyOpenFiles || code == .tooManyOpenFilesInSystem
    }

    /// The same for the cgroupfs layer's errors.
    package static func isShortage(_ error: CgroupError) -> Bool {
        if case .system(let failure) = error { return isShortage(failure.code) }
        return false
    }
}
