import Glibc

/// Where procfs is mounted: "/proc" normally, a fixture directory in tests. Every reader opens the
/// file afresh, so one value can be kept and used for the life of a program.
public struct ProcFS: Sendable {
    /// The mount point, e.g. `/proc`.
    public let path: String

    public init(path: String = "/proc") {
        self.path = path
    }

    /// /proc/meminfo.
    public func memInfo() throws(ProcfsError) -> MemInfo {
        let text = try readText("meminfo")
        return try ProcfsError.parsing { () throws(ParseError) in try MemInfo(parsing: text) }
    }

    /// /proc/vmstat.
    public func vmStat() throws(ProcfsError) -> VMStat {
        let text = try readText("vmstat")
        return try ProcfsError.parsing { () throws(ParseError) in try VMStat(parsing: text) }
    }

    /// /proc/pressure/memory (PSI). Absent when the kernel runs without PSI (`psi=0`).
    public func memoryPressure() throws(ProcfsError) -> Pressure {
        let text = try readText("pressure/memory")
        return try ProcfsError.parsing { () throws(ParseError) in try Pressure(parsing: text) }
    }

    /// /proc/slabinfo. Root only: otherwise throws an error whose kind is `.permissionDenied`.
    public func slabInfo() throws(ProcfsError) -> SlabInfo {
        let text = try readText("slabinfo")
        let pageSize = UInt64(max(sysconf(Int32(_SC_PAGESIZE)), 1))
        return try ProcfsError.parsing { () throws(ParseError) in try SlabInfo(parsing: text, pageSize: pageSize) }
    }

    /// /proc/vmallocinfo. Root only: otherwise throws an error whose kind is `.permissionDenied`.
    public func vmallocInfo() throws(ProcfsError) -> VmallocInfo {
        let text = try readText("vmallocinfo")
        return try ProcfsError.parsing { () throws(ParseError) in try VmallocInfo(parsing: text) }
    }

    /// /proc/zoneinfo.
    public func zoneInfo() throws(ProcfsError) -> ZoneInfo {
        let text = try readText("zoneinfo")
        return try ProcfsError.parsing { () throws(ParseError) in try ZoneInfo(parsing: text) }
    }

    /// /proc/buddyinfo.
    public func buddyInfo() throws(ProcfsError) -> BuddyInfo {
        let text = try readText("buddyinfo")
        return try ProcfsError.parsing { () throws(ParseError) in try BuddyInfo(parsing: text) }
    }

    /// The IDs of all processes (thread-group leaders): the numeric entries of the procfs root, sorted.
    public func processIDs() throws(ProcfsError) -> [Int32] {
        guard let directory = opendir(path) else {
            throw .system(SystemCallError("open directory", path: path, errno: errno))
        }
        defer { closedir(directory) }
        var pids: [Int32] = []
        while true {
            errno = 0
            guard let entry = readdir(directory) else {
                if errno != 0 { throw .system(SystemCallError("read directory", path: path, errno: errno)) }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let number = ProcfsText.decimal(Substring(name)), let pid = Int32(exactly: number) {
                pids.append(pid)
            }
        }
        return pids.sorted()
    }

    /// The running kernel's release (`6.18.44-…`) from sys/kernel/osrelease; nil if unreadable.
    public func kernelRelease() -> String? {
        guard let text = try? FileIO.readText(path: file("sys/kernel/osrelease")) else { return nil }
        let release = text.trimmingASCIIWhitespace()
        return release.isEmpty ? nil : String(release)
    }

    /// /proc/self/status: the calling process's own status (VmRSS, VmLck…), through procfs's `self` link,
    /// which names the caller whatever PID namespace the mount belongs to.
    public func ownStatus() throws(ProcfsError) -> ProcessStatus {
        let text = try readText("self/status")
        return try ProcfsError.parsing { () throws(ParseError) in try ProcessStatus(parsing: text) }
    }

    /// A handle on one process's files. Reads nothing until one of its methods is called.
    public func process(_ pid: Int32) -> ProcessFiles {
        ProcessFiles(pid: pid, procPath: path)
    }

    /// The full path of a file below the mount point.
    func file(_ relative: String) -> String {
        path.hasSuffix("/") ? path + relative : path + "/" + relative
    }

    private func readText(_ relative: String) throws(ProcfsError) -> String {
        do {
            return try FileIO.readText(path: file(relative))
        } catch {
            throw .system(error)
        }
    }
}
