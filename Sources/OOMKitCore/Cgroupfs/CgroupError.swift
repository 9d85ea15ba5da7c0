import Glibc
import SystemPackage

/// Why a cgroup could not be found, opened, read or changed. Every message names the input and says
/// what to do.
public enum CgroupError: OOMKitError, Equatable {
    /// No hierarchy carries the memory controller.
    case noMemoryHierarchy(mounted: [Hierarchy])
    /// The text given is not a usable cgroup path.
    case invalidPath(String, reason: String)
    /// An absolute path inside a cgroup hierarchy that is not the memory one.
    case wrongHierarchy(String, actual: Hierarchy, memory: Hierarchy)
    /// An absolute path under the cgroup file systems, but in none of the hierarchies.
    case outsideHierarchy(String, memory: Hierarchy)
    /// A component of the path is a symbolic link (never followed).
    case symbolicLink(String)
    /// The cgroup does not exist.
    case noSuchCgroup(CgroupPath, hierarchy: Hierarchy)
    /// The process does not exist.
    case noSuchProcess(Int32)
    /// The process is in no cgroup of this hierarchy (it may be a kernel thread, or in another namespace).
    case processNotInHierarchy(Int32, hierarchy: Hierarchy)
    /// v2: the cgroup has no memory files: its parent does not enable the memory controller for its
    /// children (cgroup.subtree_control), or it is a threaded cgroup (memory is a domain controller: its
    /// threaded domain holds the memory). Its memory is charged to the nearest ancestor that has them.
    case memoryControllerNotEnabled(CgroupPath, parent: CgroupPath, hierarchy: Hierarchy, threaded: Bool)
    /// The operation exists only on the other cgroup version, or not on this kernel.
    case unsupported(String, version: CgroupVersion)
    /// The kernel refused to register an eventfd for v1 OOM notifications (cgroup.event_control on
    /// memory.oom_control) with EOPNOTSUPP, as PREEMPT_RT kernels do: the kernel cannot tell userspace of
    /// an OOM in this hierarchy. The path is the memory.oom_control file.
    case oomNotificationsRefused(String)
    /// v1: another `oomctl watch`, still running (PID), has disabled the kernel OOM killer on the cgroup
    /// (its marker attribute names it): a second watch there would undo its arming. EX_TEMPFAIL: it can
    /// start once the first one has stopped.
    /// `owner`: which watch, as its marker names it ("pid 1234", or a PID of another namespace).
    case armedByAnotherWatch(CgroupPath, owner: String)
    /// A system call failed.
    case system(SystemCallError)
    /// A kernel file did not parse.
    case parse(ParseError)

    /// A write the kernel refused with EBUSY: on v1, a limit below current usage that reclaim could not
    /// reach yet.
    public var isBusy: Bool {
        if case .system(let error) = self { return error.code == .resourceBusy }
        return false
    }

    public var kind: FailureKind {
        switch self {
        case .noMemoryHierarchy, .unsupported, .oomNotificationsRefused, .memoryControllerNotEnabled: .unavailable
        case .invalidPath, .wrongHierarchy, .outsideHierarchy, .symbolicLink: .badInput
        case .noSuchCgroup, .noSuchProcess, .processNotInHierarchy: .notFound
        case .armedByAnotherWatch: .temporaryFailure
        case .system(let error): error.kind
        case .parse(let error): error.kind
        }
    }

    public var description: String {
        switch self {
        case .noMemoryHierarchy(let mounted):
            let seen =
                mounted.isEmpty
                ? "no cgroup file system is mounted"
                : "mounted: " + mounted.map(\.description).joined(separator: "; ")
            return "no cgroup hierarchy with the memory controller (\(seen)); "
                + "mount one (v1: mount -t cgroup -o memory, v2: enable +memory in cgroup.subtree_control)"
        case .invalidPath(let path, let reason):
            return "invalid cgroup path '\(path.visibleControlCharacters)': \(reason)"
        case .wrongHierarchy(let path, let actual, let memory):
            return "'\(path)' is in the \(actual), which has no memory controller; "
                + "memory cgroups are under \(memory.mountPoint)"
        case .outsideHierarchy(let path, let memory):
            return "'\(path)' is outside the memory hierarchy mounted at \(memory.mountPoint); "
                + "give a path under it, or one relative to it such as /system.slice"
        case .symbolicLink(let path):
            return "'\(path)' is a symbolic link; symlinks are never followed in cgroupfs, give the real path"
        case .noSuchCgroup(let path, let hierarchy):
            return "no such cgroup '\(path.description.visibleControlCharacters)' in the memory hierarchy "
                + "mounted at \(hierarchy.mountPoint)"
        case .noSuchProcess(let pid):
            return "no such process: \(pid)"
        case .processNotInHierarchy(let pid, let hierarchy):
            return "process \(pid) is in no cgroup of the \(hierarchy) (a kernel thread, or another cgroup namespace?)"
        case .memoryControllerNotEnabled(let path, let parent, let hierarchy, let threaded):
            let shown = path.description.visibleControlCharacters
            let parentShown = parent.description.visibleControlCharacters
            if threaded {
                return "\(shown) is a threaded cgroup, which has no memory controller: its memory is charged to its "
                    + "threaded domain (the nearest ancestor that is not threaded); give that cgroup instead"
            }
            let control =
                (parent.isRoot ? hierarchy.mountPoint : hierarchy.mountPoint + parent.description)
                + "/cgroup.subtree_control"
            return "\(shown) has no memory controller: \(parentShown) does not enable it for its children; enable it "
                + "there (echo +memory > \(control.visibleControlCharacters); every ancestor must enable it too), "
                + "or ask whoever delegated \(parentShown) to you to delegate the memory controller"
        case .unsupported(let operation, let version):
            return "\(operation) is not available on cgroup \(version)"
        case .oomNotificationsRefused(let path):
            return "cannot register for OOM notifications on '\(path)': this kernel refuses v1 OOM notifications "
                + "(EOPNOTSUPP): PREEMPT_RT kernels do, and the v1 memory controller is deprecated (optional since "
                + "Linux 6.11); use cgroup v2 (boot with systemd.unified_cgroup_hierarchy=1, or mount cgroup2 with "
                + "the memory controller), where watch needs no eventfd"
        case .armedByAnotherWatch(let path, let owner):
            return "\(path.description.visibleControlCharacters) is watched by another oomctl watch (\(owner)), "
                + "which has disabled its kernel OOM killer: stop that watch first, or watch another cgroup (one "
                + "watch per cgroup; a marker whose watch is gone is restored at the next start)"
        case .system(let error):
            return error.description
        case .parse(let error):
            return error.description
        }
    }
}

extension String {
    /// The text with control characters shown as `\n`, `\t` or `\xNN`, so that a hostile cgroup name
    /// cannot rewrite a terminal line, and the bytes of a name that are not UTF-8 (``LosslessText``'s
    /// escapes) as `\xNN`, as a shell's `$'…'` would write them.
    package var visibleControlCharacters: String {
        guard unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || LosslessText.isEscapedByte($0) })
        else { return self }
        var result = ""
        for scalar in unicodeScalars {
            switch scalar.value {
            case 0x0A: result += "\\n"
            case 0x09: result += "\\t"
            case 0..<0x20, 0x7F: result += Self.hexEscape(scalar.value)
            case LosslessText.escapeRange: result += Self.hexEscape(scalar.value - LosslessText.escapeBase)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// The text with only the bytes that are not UTF-8 (``LosslessText``'s escapes) shown as `\xNN`:
    /// for whole lines of output, whose newlines and tabs are meant.
    package var visibleRawBytes: String {
        guard unicodeScalars.contains(where: LosslessText.isEscapedByte) else { return self }
        var result = ""
        for scalar in unicodeScalars {
            if LosslessText.isEscapedByte(scalar) {
                result += Self.hexEscape(scalar.value - LosslessText.escapeBase)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func hexEscape(_ byte: UInt32) -> String {
        let hex = String(byte, radix: 16)
        return "\\x" + (hex.count == 1 ? "0" + hex : hex)
    }
}
