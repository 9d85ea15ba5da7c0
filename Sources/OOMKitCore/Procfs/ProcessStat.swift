/// The few fields oomctl needs from /proc/PID/stat.
///
/// The command name sits in parentheses and may itself hold spaces and `)`, so the line is split at
/// the last `)`: the fields after it are fixed (see proc(5)).
public struct ProcessStat: Sendable, Hashable, Codable {
    /// `PF_KTHREAD` in the flags field: the task is a kernel thread.
    public static let kernelThreadFlag: UInt64 = 0x0020_0000

    /// Field 1: the process ID.
    public var pid: Int32
    /// Field 2: the command name, without the parentheses.
    public var comm: String
    /// Field 3: the state letter.
    public var state: String
    /// Field 4: the parent process ID.
    public var parentPid: Int32
    /// Field 9: the kernel's `PF_*` flags.
    public var flags: UInt64
    /// Field 22: when the process started, in clock ticks after boot (nil where the line is shorter).
    /// With the PID, it names one process: a PID used again has another start time.
    public var startTime: UInt64?

    public init(pid: Int32, comm: String, state: String, parentPid: Int32, flags: UInt64, startTime: UInt64? = nil) {
        self.pid = pid
        self.comm = comm
        self.state = state
        self.parentPid = parentPid
        self.flags = flags
        self.startTime = startTime
    }

    /// Whether the flags mark a kernel thread.
    public var isKernelThread: Bool { flags & Self.kernelThreadFlag != 0 }

    /// Whether the process is stopped: by a signal (`T`, SIGSTOP, SIGTSTP) or by a tracer (`t`).
    public var isStopped: Bool { state == "T" || state == "t" }

    /// Parses the text of /proc/PID/stat.
    public init(parsing text: String) throws(ParseError) {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"), open < close else {
            throw ParseError("/proc/PID/stat", input: text, reason: "expected 'PID (comm) STATE …'")
        }
        let head = ProcfsText.fields(text[..<open])
        // After ")": state, ppid, pgrp, session, tty_nr, tpgid, flags, …
        let tail = ProcfsText.fields(text[text.index(after: close)...])
        guard head.count == 1, let pidNumber = ProcfsText.decimal(head[0]), let pid = Int32(exactly: pidNumber),
            tail.count >= 7, let ppidNumber = ProcfsText.decimal(tail[1]), let parentPid = Int32(exactly: ppidNumber),
            let flags = ProcfsText.decimal(tail[6])
        else {
            throw ParseError("/proc/PID/stat", input: text, reason: "expected 'PID (comm) STATE PPID … FLAGS …'")
        }
        let comm = text[text.index(after: open)..<close]
        self.init(
            pid: pid, comm: String(comm), state: String(tail[0]), parentPid: parentPid, flags: flags,
            startTime: tail.count > 19 ? ProcfsText.decimal(tail[19]) : nil)
    }
}
