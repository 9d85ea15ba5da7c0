import CLinux
import Glibc
import SystemPackage

/// An open handle on one cgroup directory. Every file is opened relative to the directory fd
/// (`openat`, `O_NOFOLLOW`, `O_CLOEXEC`): no path is resolved twice, no symlink is followed.
public final class Cgroup: Sendable {
    /// The hierarchy the cgroup belongs to.
    public let hierarchy: Hierarchy
    /// Its path relative to the hierarchy root.
    public let path: CgroupPath
    /// The open directory.
    public let directoryDescriptor: Int32

    private init(hierarchy: Hierarchy, path: CgroupPath, directoryDescriptor: Int32) {
        self.hierarchy = hierarchy
        self.path = path
        self.directoryDescriptor = directoryDescriptor
    }

    deinit { close(directoryDescriptor) }

    /// Where the cgroup is in the file system, for messages and for hooks.
    public var filesystemPath: String {
        path.isRoot ? hierarchy.mountPoint : hierarchy.mountPoint + path.description
    }

    /// A path to this cgroup's directory, or to `file` in it, through the open descriptor
    /// (/proc/self/fd/N), for calls that only take a path (inotify): it reaches this very directory
    /// whatever the bytes or the length of its name, and after a rename.
    public func descriptorPath(_ file: String? = nil) -> String {
        "/proc/self/fd/\(directoryDescriptor)" + (file.map { "/" + $0 } ?? "")
    }

    /// Its path now, as the kernel names the open directory: it differs from ``path`` once the cgroup or
    /// an ancestor was renamed. nil where that cannot be told (a path beyond PATH_MAX, a removed
    /// directory, a directory the kernel names outside the mount point).
    public var currentPath: CgroupPath? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        let count = readlink(descriptorPath(), &buffer, buffer.count)
        guard count > 0, count < buffer.count else { return nil }
        let target = buffer.prefix(count).map { UInt8(bitPattern: $0) }
        let mount = Array(hierarchy.mountPoint.utf8)
        guard target.starts(with: mount), !target.reversed().starts(with: Array(" (deleted)".utf8).reversed()) else {
            return nil
        }
        let rest = target.dropFirst(mount.count)
        if rest.isEmpty { return .root }
        guard rest.first == UInt8(ascii: "/") else { return nil }
        return try? CgroupPath(LosslessText.decode(Array(rest)))
    }

    /// A handle on the cgroup directory `descriptor` is open on (one received from another process: the
    /// guardian's from watch), known as `path` in `hierarchy` for messages. It takes the descriptor over.
    /// Every file is reached through the descriptor, so a rename since, or a path too long to open,
    /// changes nothing.
    package static func adopting(_ descriptor: Int32, as path: CgroupPath, in hierarchy: Hierarchy) -> Cgroup {
        Cgroup(hierarchy: hierarchy, path: path, directoryDescriptor: descriptor)
    }

    /// Opens the cgroup at `path`, walking down one component at a time from the mount point, so a
    /// symlink anywhere on the way is refused rather than followed.
    public static func open(_ path: CgroupPath, in hierarchy: Hierarchy) throws(CgroupError) -> Cgroup {
        let rootDescriptor = Glibc.open(hierarchy.mountPoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootDescriptor >= 0 else {
            throw .system(SystemCallError("open", path: hierarchy.mountPoint, errno: errno))
        }
        var current = Cgroup(hierarchy: hierarchy, path: .root, directoryDescriptor: rootDescriptor)
        for name in path.components {
            current = try current.openChild(name, reportingAs: path)
        }
        return current
    }

    /// Opens a child cgroup by name.
    public func child(named name: String) throws(CgroupError) -> Cgroup {
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/") else {
            throw .invalidPath(name, reason: "not a single cgroup name")
        }
        return try openChild(name, reportingAs: path.appending(name))
    }

    /// Whether `child` is still this cgroup's child `name`: false once it was removed, also when a cgroup
    /// was made again by that name since (another directory). For a watch set up after a look at the
    /// directory: what went in between, no event tells.
    public func holdsChild(named name: String, _ child: Cgroup) -> Bool {
        var listed = stat()
        var opened = stat()
        guard fstat(child.directoryDescriptor, &opened) == 0,
            LosslessText.withCString(name, { fstatat(directoryDescriptor, $0, &listed, AT_SYMLINK_NOFOLLOW) }) == 0
        else { return false }
        return listed.st_dev == opened.st_dev && listed.st_ino == opened.st_ino
    }

    /// Creates a child cgroup (mkdir relative to this directory, mode 0755) and opens it. Fails with
    /// EEXIST if a child of that name exists: the caller never takes over a cgroup it did not create.
    public func makeChild(named name: String) throws(CgroupError) -> Cgroup {
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.contains("\n") else {
            throw .invalidPath(name, reason: "not a single cgroup name")
        }
        guard LosslessText.withCString(name, { mkdirat(directoryDescriptor, $0, 0o755) }) == 0 else {
            throw .system(SystemCallError("create cgroup", path: filesystemPath + "/" + name, errno: errno))
        }
        return try openChild(name, reportingAs: path.appending(name))
    }

    /// How long ``removeChild(named:patience:)`` waits between two attempts while the kernel answers EBUSY.
    static let removalRetryInterval = Duration.milliseconds(10)

    /// Removes an empty child cgroup (rmdir). The kernel refuses with EBUSY while it holds processes
    /// or children; a memory cgroup whose last task has just exited can also be busy for a moment, so
    /// EBUSY is retried every 10 ms (`removalRetryInterval`) for up to `patience`.
    public func removeChild(named name: String, patience: Duration = .seconds(2)) throws(CgroupError) {
        let clock = ContinuousClock()
        let giveUp = clock.now + patience
        while LosslessText.withCString(name, { unlinkat(directoryDescriptor, $0, AT_REMOVEDIR) }) != 0 {
            let code = errno
            if code == ENOENT { return }
            guard code == EBUSY, clock.now < giveUp else {
                throw .system(SystemCallError("remove cgroup", path: filesystemPath + "/" + name, errno: code))
            }
            usleep(useconds_t(clamping: Self.removalRetryInterval.totalNanoseconds / 1000))
        }
    }

    /// v2: the controllers enabled for this cgroup's children (cgroup.subtree_control).
    public func subtreeControllers() throws(CgroupError) -> Set<String> {
        guard let text = try readIfPresent("cgroup.subtree_control") else { return [] }
        return Set(text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }

    private func openChild(_ name: String, reportingAs requested: CgroupPath) throws(CgroupError) -> Cgroup {
        let childPath = path.appending(name)
        let descriptor = LosslessText.withCString(name) {
            openat(directoryDescriptor, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        guard descriptor >= 0 else {
            let code = errno
            switch code {
            case ENOENT: throw .noSuchCgroup(requested, hierarchy: hierarchy)
            case ELOOP: throw .symbolicLink(hierarchy.mountPoint + childPath.description)
            case ENOTDIR:
                if isSymbolicLink(name) { throw .symbolicLink(hierarchy.mountPoint + childPath.description) }
                throw .noSuchCgroup(requested, hierarchy: hierarchy)
            default:
                throw .system(SystemCallError("open", path: hierarchy.mountPoint + childPath.description, errno: code))
            }
        }
        return Cgroup(hierarchy: hierarchy, path: childPath, directoryDescriptor: descriptor)
    }

    private func isSymbolicLink(_ name: String) -> Bool {
        var info = stat()
        return LosslessText.withCString(name, { fstatat(directoryDescriptor, $0, &info, AT_SYMLINK_NOFOLLOW) }) == 0
            && (info.st_mode & S_IFMT) == S_IFLNK
    }

    /// The names of the child cgroups (sub-directories), sorted.
    public func childNames() throws(CgroupError) -> [String] {
        try entryNames { $0 == UInt8(DT_DIR) }
    }

    /// The names of the files in the cgroup directory (its interface files), sorted; empty when the
    /// directory cannot be listed (a cgroup removed meanwhile).
    public func fileNames() -> [String] {
        (try? entryNames { $0 == UInt8(DT_REG) }) ?? []
    }

    /// The names of the directory's entries whose type `include` accepts, without `.` and `..`.
    private func entryNames(_ include: (UInt8) -> Bool) throws(CgroupError) -> [String] {
        // A fresh open file description, so that concurrent listings never share a position.
        let descriptor = openat(directoryDescriptor, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0, let directory = fdopendir(descriptor) else {
            let code = errno
            throw .system(SystemCallError("list", path: filesystemPath, errno: code))
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            guard include(entry.pointee.d_type) else { continue }
            // Bytes, not UTF-8: a name that is not valid UTF-8 is kept whole (``LosslessText``).
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) {
                    LosslessText.decode(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// The bytes of a file in the cgroup directory.
    public func readBytes(_ name: String) throws(CgroupError) -> [UInt8] {
        do {
            return try FileIO.read(at: directoryDescriptor, name: name, displayPath: self.filesystemPath + "/" + name)
        } catch {
            throw .system(error)
        }
    }

    /// The text of a file in the cgroup directory.
    public func read(_ name: String) throws(CgroupError) -> String {
        String(decoding: try readBytes(name), as: UTF8.self)
    }

    /// The text of a file, or nil when the kernel does not provide it (ENOENT): optional interfaces
    /// such as memory.swap.current or memory.peak.
    public func readIfPresent(_ name: String) throws(CgroupError) -> String? {
        do {
            return try read(name)
        } catch .system(let error) where error.code == .noSuchFileOrDirectory {
            return nil
        }
    }

    /// Writes a value to a file in the cgroup directory as one write(2).
    public func write(_ name: String, _ value: String) throws(CgroupError) {
        do {
            try FileIO.write(value, at: directoryDescriptor, name: name, displayPath: self.filesystemPath + "/" + name)
        } catch {
            throw .system(error)
        }
    }

    /// The tasks (threads, not processes) in the cgroup and below, as the pids controller counts them
    /// (v2 pids.current), or nil where that controller is not enabled or the count cannot be read. One
    /// read, hierarchical: cheap enough to take just before a kill.
    public func taskCount() -> UInt64? {
        guard let text = try? readIfPresent("pids.current") else { return nil }
        return UInt64(text.trimmingASCIIWhitespace())
    }

    /// Whether the file exists in the cgroup directory (an interface the kernel provides).
    public func hasFile(_ name: String) -> Bool {
        faccessat(directoryDescriptor, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0
    }

    /// The value of an extended attribute on the cgroup directory, or nil when it is not set or the
    /// file system does not support extended attributes.
    public func extendedAttribute(_ name: String) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let size = buffer.withUnsafeMutableBytes { fgetxattr(directoryDescriptor, name, $0.baseAddress, $0.count) }
            if size >= 0 { return Array(buffer.prefix(size)) }
            guard errno == ERANGE, buffer.count < 65536 else { return nil }
            buffer = [UInt8](repeating: 0, count: buffer.count * 4)
        }
    }

    /// The names of the extended attributes set on the cgroup directory (one flistxattr call; empty
    /// when none or unsupported). Cheaper than asking for each attribute in turn.
    public func extendedAttributeNames() -> [String] {
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            let size = buffer.withUnsafeMutableBytes { bytes in
                flistxattr(directoryDescriptor, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
            }
            if size >= 0 {
                return buffer.prefix(size).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            }
            guard errno == ERANGE, buffer.count < 1 << 20 else { return [] }
            buffer = [UInt8](repeating: 0, count: buffer.count * 8)
        }
    }

    /// Sets an extended attribute on the cgroup directory. `exclusively`: only if it is not set yet
    /// (XATTR_CREATE; EEXIST otherwise), so that of two processes setting it at once one wins.
    public func setExtendedAttribute(_ name: String, _ value: [UInt8], exclusively: Bool = false) throws(CgroupError) {
        let flags = exclusively ? Int32(XATTR_CREATE) : 0
        let result = value.withUnsafeBytes { fsetxattr(directoryDescriptor, name, $0.baseAddress, $0.count, flags) }
        guard result == 0 else {
            throw .system(SystemCallError("set attribute \(name) on", path: filesystemPath, errno: errno))
        }
    }

    /// Removes an extended attribute; removing one that is not set is not an error.
    public func removeExtendedAttribute(_ name: String) throws(CgroupError) {
        guard fremovexattr(directoryDescriptor, name) == 0 || errno == ENODATA else {
            throw .system(SystemCallError("remove attribute \(name) from", path: filesystemPath, errno: errno))
        }
    }

    /// Whether the cgroup still exists: a removed cgroup's directory fd stays open but its files are gone.
    public var isAlive: Bool { hasFile("cgroup.procs") }

    /// The processes in this cgroup (not its descendants), from cgroup.procs. A v2 threaded cgroup's
    /// cgroup.procs cannot be read (EOPNOTSUPP: its threads belong to processes of the threaded
    /// subtree): its processes are then those its threads (cgroup.threads) belong to, so that no
    /// process hides from a kill or a snapshot in a threaded child.
    public func processIDs(procPath: String = "/proc") throws(CgroupError) -> [Int32] {
        do {
            return Self.parseProcessList(try read("cgroup.procs"))
        } catch .system(let error) where error.code == .notSupported {
            var seen = Set<Int32>()
            var processes: [Int32] = []
            for thread in Self.parseProcessList(try read("cgroup.threads")) {
                // A thread that exited meanwhile belongs to no process any more.
                guard let process = try? ProcessFiles(pid: thread, procPath: procPath).threadGroupID() else {
                    continue
                }
                if seen.insert(process).inserted { processes.append(process) }
            }
            return processes
        }
    }

    /// Whether this is a v2 threaded cgroup (cgroup.type `threaded`): part of a threaded subtree whose
    /// domain (the nearest ancestor that is not threaded) holds its memory; it has no memory files.
    public var isThreaded: Bool {
        (try? readIfPresent("cgroup.type"))??.trimmingASCIIWhitespace() == "threaded"
    }

    /// Parses cgroup.procs (one PID a line); lines that are not PIDs are skipped.
    public static func parseProcessList(_ text: String) -> [Int32] {
        text.split(separator: "\n").compactMap { Int32($0.trimmingASCIIWhitespace()) }.filter { $0 > 0 }
    }
}
