import CLinux
import Glibc
import SystemPackage

/// Why a sandbox could not be made or started.
public enum SandboxError: OOMKitError {
    /// v2: the parent does not give the memory controller to its children.
    case memoryNotDelegated(CgroupPath)
    /// The limit is not a usable size for a sandbox.
    case unusableLimit(ByteCount)
    /// Creating the cgroup was refused (EACCES/EPERM).
    case notPermitted(CgroupPath, SystemCallError)
    /// An unprivileged caller's parent is outside the subtree delegated to them (nothing was created).
    case notDelegated(DelegationError)
    /// A cgroup operation failed.
    case cgroup(CgroupError)
    /// A process could not be started or moved in.
    case process(SystemCallError)

    public var kind: FailureKind {
        switch self {
        case .memoryNotDelegated: .unavailable
        case .unusableLimit: .badInput
        case .notPermitted, .notDelegated: .permissionDenied
        case .cgroup(let error): error.kind
        case .process(let error): error.kind
        }
    }

    public var description: String {
        switch self {
        case .memoryNotDelegated(let parent):
            return "the memory controller is not enabled for the children of "
                + "\(parent.description.visibleControlCharacters) (cgroup.subtree_control has no 'memory'); "
                + "choose a parent that delegates it, or enable it there: echo +memory > cgroup.subtree_control"
        case .unusableLimit(let limit):
            return "a sandbox needs a finite limit of at least 4M, not \(limit)"
        case .notPermitted(let parent, let error):
            return "\(error.description); creating a cgroup below \(parent.description.visibleControlCharacters) "
                + "needs root, or a parent cgroup delegated to you"
        case .notDelegated(let error):
            return error.description
        case .cgroup(let error):
            return error.description
        case .process(let error):
            return error.description
        }
    }
}

/// A throwaway memory cgroup in which a real OOM is safe: created below a parent with a small limit
/// and swap turned off (so the OOM comes at the limit, not after swapping), and removed again with
/// everything in it. What `oomctl simulate` drives into an OOM; end-to-end tests and benchmarks use
/// it the same way.
///
/// Processes are started with ``start(_:arguments:)``: spawned with their stdin on a pipe, moved into
/// the sandbox, and only then told to go (one byte on the pipe), so a hog that waits for that byte
/// never charges a page outside the sandbox.
public final class MemorySandbox {
    /// The sandbox cgroup.
    public let memory: MemoryCgroup
    /// The cgroup it was created below.
    public let parent: MemoryCgroup
    /// Its name below the parent.
    public let name: String
    /// Whether swap was turned off for it (false where the kernel has no per-cgroup swap accounting).
    public let swapDisabled: Bool
    private let system: CgroupSystem
    private var started: [StartedProcess] = []
    private var destroyed = false

    /// A process started in the sandbox.
    public struct StartedProcess {
        /// Its PID (our child: not reaped until ``MemorySandbox/reap(_:)``, so never reused meanwhile).
        public let pid: Int32
        /// A pidfd on it, readable when it exits (for an event loop).
        public let handle: ProcessHandle
    }

    /// The sandbox path to use below `parent`: `oomctl-simulate-PID`.
    public static func defaultName(pid: Int32 = getpid()) -> String { "oomctl-simulate-\(pid)" }

    /// What earlier sandboxes left below the parent, found before this one was made (see
    /// ``removeLeftovers(below:in:keeping:)``).
    public private(set) var leftovers: [Leftover] = []

    /// Creates the sandbox cgroup below `parent` (a cgroup of `system`) with the hard `limit`, after
    /// removing the sandboxes that runs killed before their clean-up left there
    /// (``removeLeftovers(below:in:keeping:)``).
    public init(
        below parent: MemoryCgroup, in system: CgroupSystem, name: String = defaultName(), limit: ByteCount
    ) throws(SandboxError) {
        guard !limit.isUnlimited, limit.bytes >= 4 << 20 else { throw .unusableLimit(limit) }
        // Unprivileged, the parent must be the caller's (a delegated subtree): refused before anything.
        do {
            try Delegation(system: system, hierarchy: parent.cgroup.hierarchy)
                .requireWritable(nil, in: parent.cgroup, action: "create a sandbox in")
        } catch {
            throw .notDelegated(error)
        }
        if parent.version == .v2 {
            let delegated: Set<String>
            do { delegated = try parent.cgroup.subtreeControllers() } catch { throw .cgroup(error) }
            guard delegated.contains("memory") else { throw .memoryNotDelegated(parent.path) }
        }
        let leftovers = Self.removeLeftovers(below: parent, in: system, keeping: name)
        let created: Cgroup
        do {
            created = try parent.cgroup.makeChild(named: name)
        } catch .system(let error) where error.code == .permissionDenied || error.code == .notPermitted {
            throw .notPermitted(parent.path, error)
        } catch {
            throw .cgroup(error)
        }
        // Marked as a sandbox: what a run killed before its clean-up leaves can be told from a user's cgroup.
        SandboxMarker.current.set(on: created)
        do {
            let memory = try MemoryCgroup(created)
            try memory.setLimit(limit)
            swapDisabled = try memory.disableSwap()
            self.memory = memory
        } catch {
            try? parent.cgroup.removeChild(named: name)
            throw .cgroup(error)
        }
        self.parent = parent
        self.name = name
        self.system = system
        self.leftovers = leftovers
    }

    deinit { destroy() }

    /// A sandbox an earlier run left behind (it was killed, SIGKILL, before it could clean up).
    public struct Leftover: Sendable, Equatable {
        /// The leftover cgroup.
        public var path: CgroupPath
        /// The PID of the run that made it (gone).
        public var pid: Int32
        /// Whether it was removed; when not, why (it still has processes, or children).
        public var keptBecause: String?
    }

    /// Removes the sandboxes earlier runs left below `parent`, and only those: a child named
    /// `oomctl-simulate-PID`, marked by the sandbox made with that name (``SandboxMarker``, from this PID
    /// namespace), whose PID is gone, and that is empty (no process, no child cgroup). One that still
    /// has something in it is kept, and said. Anything else is never touched, whatever its name.
    public static func removeLeftovers(
        below parent: MemoryCgroup, in system: CgroupSystem, keeping own: String = defaultName()
    ) -> [Leftover] {
        let prefix = "oomctl-simulate-"
        var found: [Leftover] = []
        for name in (try? parent.cgroup.childNames()) ?? [] where name.hasPrefix(prefix) && name != own {
            guard let pid = MarkerFields.pid(Array(name.utf8)[prefix.utf8.count...]),
                let child = try? parent.cgroup.child(named: name), let marker = SandboxMarker.read(from: child),
                marker == SandboxMarker(pid: pid, namespace: SandboxMarker.current.namespace),
                MarkerFields.ownerIsGone(pid)
            else { continue }
            let processes = (try? child.processIDs(procPath: system.procPath)) ?? [-1]
            let children = (try? child.childNames()) ?? ["?"]
            var leftover = Leftover(path: child.path, pid: pid)
            if !processes.isEmpty {
                leftover.keptBecause = "it still has \(processes.count) process\(processes.count == 1 ? "" : "es")"
            } else if !children.isEmpty {
                leftover.keptBecause = "it has child cgroups"
            } else {
                // A reserve recorded in a state file would outlive the cgroup (an attribute goes with it).
                if let memory = try? MemoryCgroup(child) { try? ReserveStore(system: system).remove(for: memory) }
                do {
                    try parent.cgroup.removeChild(named: name)
                } catch {
                    leftover.keptBecause = error.description
                }
            }
            found.append(leftover)
        }
        return found
    }

    /// Starts `/bin/sh -c command` inside the sandbox, as ``start(_:arguments:)`` does: the shell waits
    /// for the go line, then execs the command, whose stdin is then at end-of-file.
    public func startShellCommand(_ command: String) throws(SandboxError) -> StartedProcess {
        try start("/bin/sh", arguments: ["sh", "-c", #"read -r _; exec /bin/sh -c "$0""#, command])
    }

    /// Starts `executable` with `arguments` (argv[0] included) inside the sandbox: spawned with its
    /// stdin on a pipe, moved into the sandbox's cgroup.procs, then sent a newline on that pipe, which
    /// is then closed. A program that reads that byte before doing anything (`oomctl hog
    /// --wait-for-start`, or `sh -c 'read -r _; exec …'`) therefore runs its work entirely inside the
    /// sandbox. Its stdout and stderr go to /dev/null.
    public func start(_ executable: String, arguments: [String]) throws(SandboxError) -> StartedProcess {
        var ends: [Int32] = [-1, -1]
        guard oomctl_pipe_cloexec(&ends) == 0 else {
            throw .process(SystemCallError("create", path: "a pipe", errno: errno))
        }
        defer { close(ends[1]) }
        let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { if null >= 0 { close(null) } }
        let pid: Int32
        do {
            pid = try ChildProcess.spawn(
                executable, arguments: arguments, redirections: [(ends[0], 0), (null, 1), (null, 2)])
        } catch {
            close(ends[0])
            throw .process(error)
        }
        close(ends[0])
        /// Kills and reaps a child that never got going (it is still waiting for the go line).
        func abandon() {
            Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        do {
            try memory.cgroup.write("cgroup.procs", String(pid))
        } catch {
            abandon()
            throw .cgroup(error)
        }
        let handle: ProcessHandle
        do {
            handle = try ProcessHandle(pid: pid)
        } catch {
            abandon()
            throw .process(error)
        }
        let process = StartedProcess(pid: pid, handle: handle)
        started.append(process)
        // A newline, so that a shell can wait for it with `read` as well.
        var go = UInt8(ascii: "\n")
        _ = write(ends[1], &go, 1)
        return process
    }

    /// Reaps a started process that has exited; returns how it ended (nil if it is still running).
    public func reap(_ process: StartedProcess) -> ChildProcess.Termination? {
        var status: Int32 = 0
        guard waitpid(process.pid, &status, WNOHANG) == process.pid else { return nil }
        started.removeAll { $0.pid == process.pid }
        return ChildProcess.Termination(waitStatus: status)
    }

    /// Kills whatever still runs in the sandbox (the started processes by pidfd, anything they started
    /// through the cgroup), reaps the started processes and removes the cgroup. Idempotent. Returns
    /// what could not be undone, as messages (empty when the sandbox is gone).
    @discardableResult
    public func destroy() -> [String] {
        guard !destroyed else { return [] }
        var problems: [String] = []
        for process in started { _ = try? process.handle.send(SIGKILL) }
        if memory.cgroup.isAlive, !((try? memory.processIDs()) ?? []).isEmpty {
            do {
                _ = try Killer(system: system).kill(
                    memory, options: KillOptions(signal: SIGKILL, grace: .zero, timeout: .seconds(5)))
            } catch {
                problems.append("cannot kill what runs in the sandbox: \(error)")
            }
        }
        for process in started {
            var status: Int32 = 0
            waitpid(process.pid, &status, 0)
        }
        started.removeAll()
        do {
            try parent.cgroup.removeChild(named: name, patience: .seconds(5))
        } catch {
            problems.append("cannot remove the sandbox \(memory.cgroup.filesystemPath): \(error)")
        }
        destroyed = problems.isEmpty
        return problems
    }
}

/// The attribute a sandbox cgroup carries from its creation (`trusted.oomctl.sandbox`, else
/// `user.oomctl.sandbox` where only user attributes may be set): `PID NAMESPACE`, the run's PID and its
/// PID namespace (`pid:[4026531836]`), so that a later run removes only what a run of its own namespace
/// made and left, never a cgroup that merely has the name. Without either attribute (a file system that
/// takes none), a leftover is never removed.
struct SandboxMarker: Equatable {
    static let attributes = ["trusted.oomctl.sandbox", "user.oomctl.sandbox"]

    var pid: Int32
    var namespace: String

    /// This process's marker.
    static let current = SandboxMarker(pid: getpid(), namespace: pidNamespace())

    /// The PID namespace of this process as /proc/self/ns/pid names it ("" where it cannot be read).
    static func pidNamespace() -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        let count = readlink("/proc/self/ns/pid", &buffer, buffer.count - 1)
        guard count > 0 else { return "" }
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    var encoded: [UInt8] { Array("\(pid) \(namespace)".utf8) }

    init(pid: Int32, namespace: String) {
        self.pid = pid
        self.namespace = namespace
    }

    init?(bytes: [UInt8]) {
        let fields = bytes.split(separator: UInt8(ascii: " "), maxSplits: 1, omittingEmptySubsequences: false)
        guard fields.count == 2, let pid = MarkerFields.pid(fields[0]) else { return nil }
        self.init(pid: pid, namespace: String(decoding: fields[1], as: UTF8.self))
    }

    /// Sets it in the first place that takes it (best effort: a sandbox without it is only never
    /// recognised as a leftover).
    func set(on cgroup: Cgroup) {
        for name in Self.attributes where (try? cgroup.setExtendedAttribute(name, encoded)) != nil { return }
    }

    static func read(from cgroup: Cgroup) -> SandboxMarker? {
        for name in attributes {
            if let value = cgroup.extendedAttribute(name) { return SandboxMarker(bytes: value) }
        }
        return nil
    }
}
