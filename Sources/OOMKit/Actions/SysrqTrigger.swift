import CLinux
import Glibc

/// What a panic asks the kernel for, through its magic SysRq interface.
public enum PanicMode: String, Sendable, Codable, CaseIterable {
    /// SysRq `c`: crash the kernel on purpose. The kernel panics ("sysrq triggered crash"); kdump takes a
    /// crash dump where one is configured; the kernel's `panic=` timeout decides whether it reboots.
    case crash
    /// SysRq `b`: reboot at once, without syncing or unmounting (the panic step syncs first).
    case reboot

    /// The byte written to /proc/sysrq-trigger.
    public var sysrqCommand: UInt8 {
        switch self {
        case .crash: UInt8(ascii: "c")
        case .reboot: UInt8(ascii: "b")
        }
    }

    /// The command as text, for reports: `c` or `b`.
    public var sysrqText: String { String(UnicodeScalar(sysrqCommand)) }
}

/// Where a panic's SysRq command goes.
///
/// The kernel's /proc/sysrq-trigger is opened when the watch starts, so that a missing privilege or a
/// read-only /proc shows then and not at the OOM, and nothing is looked up at the moment of the panic. A
/// stand-in is a regular file or a FIFO that a test reads instead; it is never on procfs, sysfs or any
/// other kernel file system, so a test cannot crash the machine it runs on. A rehearsal writes nothing
/// (dry runs, `simulate`).
public final class SysrqTrigger: Sendable {
    /// Which kind of trigger this is.
    public enum Kind: String, Sendable, Codable {
        /// The kernel's /proc/sysrq-trigger: the machine goes down.
        case kernel
        /// A file standing in for it (tests): the command is written there.
        case standIn = "stand-in"
        /// Nothing is written.
        case rehearsal
    }

    /// The kernel's, a stand-in, or a rehearsal.
    public let kind: Kind
    /// The file the command is (or, in a rehearsal, would be) written to.
    public let path: String
    private let descriptor: Int32

    private init(kind: Kind, path: String, descriptor: Int32) {
        self.kind = kind
        self.path = path
        self.descriptor = descriptor
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// The kernel's trigger, `procPath`/sysrq-trigger, opened for writing now.
    public static func kernel(procPath: String = "/proc") throws(SysrqTriggerError) -> SysrqTrigger {
        let path = procPath + "/sysrq-trigger"
        let descriptor = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { throw .cannotOpen(path, errno: errno) }
        return SysrqTrigger(kind: .kernel, path: path, descriptor: descriptor)
    }

    /// A stand-in at `path`: an existing regular file or FIFO (a FIFO must have a reader), or a new
    /// regular file (mode 0600). Refused on kernel file systems, through a symbolic link, and for any
    /// other kind of file.
    public static func standIn(_ path: String) throws(SysrqTriggerError) -> SysrqTrigger {
        var info = stat()
        let exists = lstat(path, &info) == 0
        if exists {
            let type = info.st_mode & S_IFMT
            guard type == S_IFREG || type == S_IFIFO else {
                throw .notAStandIn(path, reason: "only a regular file or a FIFO can stand in for /proc/sysrq-trigger")
            }
        }
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        if let system = kernelFileSystem(at: exists ? path : directory) {
            throw .notAStandIn(path, reason: "it is on \(system); a stand-in must never be a kernel file")
        }
        let flags = O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (exists ? O_APPEND : O_CREAT | O_EXCL)
        let descriptor = open(path, flags, 0o600)
        guard descriptor >= 0 else {
            let code = errno
            throw code == ENXIO
                ? .notAStandIn(path, reason: "a FIFO needs a reader before watch starts")
                : .cannotOpen(path, errno: code)
        }
        // The same checks on what was opened, in case the path changed in between.
        var opened = stat()
        let type = fstat(descriptor, &opened) == 0 ? opened.st_mode & S_IFMT : 0
        var system = statfs()
        let onKernelFileSystem = fstatfs(descriptor, &system) != 0 || kernelFileSystems[Int(system.f_type)] != nil
        guard type == S_IFREG || type == S_IFIFO, !onKernelFileSystem else {
            close(descriptor)
            throw .notAStandIn(path, reason: "what was opened is not a regular file or FIFO off kernel file systems")
        }
        // Writes block like the kernel's (a FIFO reader sees the command arrive in order).
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        return SysrqTrigger(kind: .standIn, path: path, descriptor: descriptor)
    }

    /// A trigger that writes nothing; `path` is the kernel's, for reports ("would write 'c' to …").
    public static func rehearsal(procPath: String = "/proc") -> SysrqTrigger {
        SysrqTrigger(kind: .rehearsal, path: procPath + "/sysrq-trigger", descriptor: -1)
    }

    /// Writes the command (a rehearsal writes nothing). To the kernel's trigger, `crash` and `reboot` do
    /// not return: the machine goes down during the write.
    public func send(_ mode: PanicMode) throws(SystemCallError) {
        guard kind != .rehearsal else { return }
        var byte = mode.sysrqCommand
        while true {
            let written = write(descriptor, &byte, 1)
            if written == 1 { return }
            if written < 0 && errno == EINTR { continue }
            throw SystemCallError("write '\(mode.sysrqText)' to", path: path, errno: written < 0 ? errno : EIO)
        }
    }

    /// The kernel's own file systems (statfs f_type), where no stand-in may be.
    private static let kernelFileSystems: [Int: String] = [
        0x9fa0: "procfs", 0x6265_6572: "sysfs", 0x0027_e0eb: "cgroupfs", 0x6367_7270: "cgroup2",
        0x6462_6720: "debugfs", 0x7472_6163: "tracefs", 0x7363_6673: "securityfs", 0x6265_6570: "configfs",
    ]

    /// The name of the kernel file system `path` is on, or nil.
    private static func kernelFileSystem(at path: String) -> String? {
        var system = statfs()
        guard statfs(path, &system) == 0 else { return nil }
        return kernelFileSystems[Int(system.f_type)]
    }
}

/// Why the SysRq trigger of a panic cannot be used. Raised when the watch starts, never at the OOM.
public enum SysrqTriggerError: OOMKitError, Equatable {
    /// The trigger file cannot be opened for writing.
    case cannotOpen(String, errno: Int32)
    /// The path given as a stand-in is refused.
    case notAStandIn(String, reason: String)

    public var kind: FailureKind {
        switch self {
        case .cannotOpen(_, let code) where code == ENOENT: .unavailable
        case .cannotOpen(_, let code) where code == EACCES || code == EPERM || code == EROFS: .permissionDenied
        case .cannotOpen: .ioError
        case .notAStandIn: .badInput
        }
    }

    public var description: String {
        switch self {
        case .cannotOpen(let path, let code) where code == ENOENT:
            return "--panic needs '\(path)', which this kernel does not have (built without CONFIG_MAGIC_SYSRQ?)"
        case .cannotOpen(let path, let code) where code == EACCES || code == EPERM || code == EROFS:
            return "cannot open '\(path)' for writing: \(String(cString: strerror(code))); --panic needs root "
                + "and a writable /proc (containers and systemd's ProtectKernelTunables= make it read-only)"
        case .cannotOpen(let path, let code):
            return "cannot open '\(path)' for writing: \(String(cString: strerror(code)))"
        case .notAStandIn(let path, let reason):
            return "'\(path)' cannot stand in for the SysRq trigger: \(reason)"
        }
    }
}
