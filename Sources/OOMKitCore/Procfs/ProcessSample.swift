/// One process's cheap memory figures, read from /proc/PID/status alone: what victim selection
/// ranks by.
public struct ProcessSample: Sendable, Hashable, Codable {
    /// The process ID.
    public var pid: Int32
    /// The command name (`Name` in status).
    public var name: String
    /// Resident memory (`VmRSS`; zero for kernel threads).
    public var residentSet: ByteCount
    /// Swapped-out memory (`VmSwap`; zero when absent).
    public var swap: ByteCount

    public init(pid: Int32, name: String, residentSet: ByteCount, swap: ByteCount) {
        self.pid = pid
        self.name = name
        self.residentSet = residentSet
        self.swap = swap
    }

    /// Builds a sample from a parsed status file.
    public init(status: ProcessStatus) {
        self.init(
            pid: status.pid, name: status.name, residentSet: status.residentSet ?? .zero, swap: status.swap ?? .zero)
    }

    /// Memory the process would free if killed, roughly: resident set plus swap.
    public var footprint: ByteCount { residentSet + swap }
}
