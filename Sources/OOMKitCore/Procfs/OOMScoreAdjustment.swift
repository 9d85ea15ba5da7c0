import Glibc

/// A process's oom_score_adj (/proc/PID/oom_score_adj): how the kernel OOM killer ranks it.
extension FileIO {
    /// Sets the oom_score_adj of a process (`self` for this one); returns false when not allowed.
    @discardableResult
    package static func writeOOMScoreAdjustment(_ value: Int, process: String = "self") -> Bool {
        let descriptor = open("/proc/\(process)/oom_score_adj", O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let text = String(value)
        return text.withCString { Glibc.write(descriptor, $0, strlen($0)) } > 0
    }

    /// This process's oom_score_adj (0 when it cannot be read).
    package static func ownOOMScoreAdjustment() -> Int {
        guard let bytes = try? FileIO.read(path: "/proc/self/oom_score_adj") else { return 0 }
        return Int(String(decoding: bytes, as: UTF8.self).split(separator: "\n").first ?? "") ?? 0
    }
}
