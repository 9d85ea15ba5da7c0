import Glibc

/// A PSI trigger armed on a pressure file (a cgroup's memory.pressure, or /proc/pressure/memory), as a
/// source in an ``EventLoop``: the kernel wakes the loop (POLLPRI) when the stall threshold is crossed.
/// Where the kernel refuses the window for lack of privilege, the unprivileged equivalent is armed
/// (``PressureTrigger/unprivilegedEquivalent``): ``armed`` says which.
public final class PressureSource {
    /// The trigger as armed.
    public let armed: PressureTrigger
    private let descriptor: Int32
    private let loop: EventLoop

    /// Opens `file` relative to the directory `directory` (an open cgroup directory), or as a path when
    /// `directory` is nil, arms `trigger` on it and calls `onPressure` from the loop each time it fires.
    /// `shownPath` names the file in errors.
    public init(
        file: String, in directory: Int32? = nil, shownPath: String, trigger: PressureTrigger, loop: EventLoop,
        onPressure: @escaping () -> Void
    ) throws(SystemCallError) {
        let flags = O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW
        let descriptor = directory.map { openat($0, file, flags) } ?? open(file, flags)
        guard descriptor >= 0 else {
            throw SystemCallError("open (PSI needs Linux 4.20 with psi enabled)", path: shownPath, errno: errno)
        }
        do {
            armed = try trigger.arm(on: descriptor, path: shownPath)
            try loop.add(descriptor, priority: true) { _ in onPressure() }
        } catch {
            close(descriptor)
            throw error
        }
        self.descriptor = descriptor
        self.loop = loop
    }

    deinit {
        loop.remove(descriptor)
        close(descriptor)
    }
}
