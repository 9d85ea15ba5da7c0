import Glibc
import SystemPackage

/// The files of one process below /proc/PID. A cheap handle: each method reads its file when called.
///
/// A process may exit at any moment: reads then fail with ``ProcfsError/processExited(pid:_:)``,
/// whose kind is `.notFound`.
public struct ProcessFiles: Sendable {
    /// The process ID.
    public let pid: Int32
    /// The procfs mount point the files are read from.
    public let procPath: String

    public init(pid: Int32, procPath: String = "/proc") {
        self.pid = pid
        self.procPath = procPath
    }

    /// The process's directory, e.g. `/proc/1234`.
    public var directory: String {
        (procPath.hasSuffix("/") ? procPath : procPath + "/") + String(pid)
    }

    /// /proc/PID/status.
    public func status() throws(ProcfsError) -> ProcessStatus {
        let text = try readText("status")
        return try ProcfsError.parsing { () throws(ParseError) in try ProcessStatus(parsing: text) }
    }

    /// /proc/PID/smaps_rollup. A kernel thread has no memory map (the kernel answers ESRCH): all fields nil.
    public func smapsRollup() throws(ProcfsError) -> SmapsRollup {
        let text: String
        do {
            text = try readText("smaps_rollup")
        } catch .processExited(_, let error) where error.code == .noSuchProcess && exists() {
            return SmapsRollup()
        }
        return try ProcfsError.parsing { () throws(ParseError) in try SmapsRollup(parsing: text) }
    }

    /// /proc/PID/oom_score: the kernel's badness score, 0 to 2000.
    public func oomScore() throws(ProcfsError) -> Int {
        try integer("oom_score")
    }

    /// /proc/PID/oom_score_adj: -1000 (never kill) to 1000.
    public func oomScoreAdj() throws(ProcfsError) -> Int {
        try integer("oom_score_adj")
    }

    /// /proc/PID/comm: the command name, without its trailing newline.
    public func comm() throws(ProcfsError) -> String {
        let text = try readText("comm")
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    /// /proc/PID/cmdline split at NUL bytes; empty for kernel threads and zombies.
    public func commandLine() throws(ProcfsError) -> [String] {
        let bytes = try read("cmdline")
        var arguments = bytes.split(separator: 0, omittingEmptySubsequences: false)
        if arguments.last?.isEmpty == true { arguments.removeLast() }
        return arguments.map { LosslessText.decode($0) }
    }

    /// /proc/PID/cgroup.
    public func cgroups() throws(ProcfsError) -> [CgroupMembership] {
        // Lossless: a cgroup name need not be UTF-8 (LosslessText), and must open that cgroup again.
        let text = LosslessText.decode(try read("cgroup"))
        return try ProcfsError.parsing { () throws(ParseError) in try CgroupMembership.parse(text) }
    }

    /// /proc/PID/stat.
    public func stat() throws(ProcfsError) -> ProcessStat {
        let text = try readText("stat")
        return try ProcfsError.parsing { () throws(ParseError) in try ProcessStat(parsing: text) }
    }

    /// Whether the process is a kernel thread (`PF_KTHREAD` in /proc/PID/stat).
    public func isKernelThread() throws(ProcfsError) -> Bool {
        try stat().isKernelThread
    }

    /// The process a thread belongs to: `Tgid` in /proc/TID/status (every thread has a hidden
    /// /proc/TID of its own). For a process's main thread, its own PID.
    public func threadGroupID() throws(ProcfsError) -> Int32 {
        let text = try readText("status")
        for line in text.split(separator: "\n") where line.hasPrefix("Tgid:") {
            if let value = Int32(line.dropFirst("Tgid:".count).trimmingASCIIWhitespace()), value > 0 {
                return value
            }
        }
        throw .parse(ParseError("/proc/PID/status", input: text, reason: "no Tgid line"))
    }

    /// The cheap per-process figures: reads /proc/PID/status only.
    ///
    /// The hot path of a snapshot (once per process): parses the bytes in one pass that stops after
    /// `VmSwap`, and so does not check the fields ``status()`` would that a sample does not use.
    public func sample() throws(ProcfsError) -> ProcessSample {
        let bytes = try read("status")
        return try ProcfsError.parsing { () throws(ParseError) in try ProcessStatus.sample(parsing: bytes) }
    }

    private func integer(_ name: String) throws(ProcfsError) -> Int {
        let text = try readText(name)
        let trimmed = text.trimmingASCIIWhitespace()
        guard let value = ProcfsText.signedDecimal(trimmed) else {
            throw .parse(ParseError("/proc/PID/\(name)", input: trimmed, reason: "expected an integer"))
        }
        return value
    }

    private func readText(_ name: String) throws(ProcfsError) -> String {
        String(decoding: try read(name), as: UTF8.self)
    }

    /// Reads one file; ESRCH, or ENOENT while the process directory is gone, means the process exited.
    private func read(_ name: String) throws(ProcfsError) -> [UInt8] {
        do {
            return try FileIO.read(path: directory + "/" + name)
        } catch {
            if error.code == .noSuchProcess || (error.code == .noSuchFileOrDirectory && !exists()) {
                throw .processExited(pid: pid, error)
            }
            throw .system(error)
        }
    }

    /// Whether /proc/PID still exists.
    private func exists() -> Bool {
        access(directory, F_OK) == 0
    }
}
