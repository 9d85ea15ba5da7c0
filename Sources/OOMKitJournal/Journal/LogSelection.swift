import CLinux
import CSystemd
import Glibc
import Logging

/// Where oomctl's log entries go.
public enum LogMode: String, CaseIterable, Sendable {
    /// Native journal entries through sd-journal (under systemd, or `--log journal`).
    case journal
    /// One readable line per entry, for a terminal.
    case console
    /// One JSON object per line, for scripts.
    case json
}

/// Whether a journald is there to receive entries.
///
/// libsystemd's `sd_journal_sendv` returns 0 and drops the entry when nothing listens on the journal
/// socket, so oomctl checks before it claims journal output.
public enum JournalAvailability {
    /// The socket journald reads native entries from.
    public static let defaultSocketPath = "/run/systemd/journal/socket"

    /// nil when a journald accepts datagrams on `socketPath` and libsystemd, loaded now if it was not
    /// yet, has sd_journal_sendv; else why not (for the user).
    public static func unavailableReason(socketPath: String = defaultSocketPath) -> String? {
        if let error = oomctl_journal_load_error() { return String(cString: error) }
        var status = stat()
        guard stat(socketPath, &status) == 0 else {
            return "no journald is listening: \(socketPath): \(String(cString: strerror(errno)))"
        }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            return "no journald is listening: \(socketPath) is not a socket"
        }
        // A socket file outlives a journald that died; connecting tells a live one from a leftover.
        let probe = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return nil }  // cannot probe: trust the socket file
        defer { close(probe) }
        var address = sockaddr_un()
        let path = Array(socketPath.utf8)
        let length = path.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { oomctl_unix_address($0.baseAddress, $0.count, &address) }
        }
        guard length > 0 else { return "no journald is listening: \(socketPath): path too long" }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, length) }
        }
        if result != 0 && (errno == ECONNREFUSED || errno == ENOENT) {
            return "no journald is listening on \(socketPath): \(String(cString: strerror(errno)))"
        }
        return nil
    }

    /// Whether a journald accepts entries on `socketPath`.
    public static func isListening(socketPath: String = defaultSocketPath) -> Bool {
        unavailableReason(socketPath: socketPath) == nil
    }

    /// Whether systemd connected one of `descriptors` to the journal: JOURNAL_STREAM holds
    /// `device:inode` of the stream it set up, and matches only while that stream is still ours
    /// (a child whose output was redirected inherits the variable but not the stream).
    public static func isJournalStream(
        _ journalStream: String?, descriptors: [Int32] = [STDERR_FILENO, STDOUT_FILENO]
    ) -> Bool {
        guard let journalStream else { return false }
        let parts = journalStream.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        return descriptors.contains { descriptor in
            var status = stat()
            return fstat(descriptor, &status) == 0 && UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
        }
    }

    /// The JOURNAL_STREAM variable of this process.
    public static var journalStreamVariable: String? {
        getenv("JOURNAL_STREAM").map { String(cString: $0) }
    }
}

/// The log output chosen for a run, and why it differs from what was asked, if it does.
public struct LogSelection: Sendable, Equatable {
    /// The mode actually used.
    public var mode: LogMode
    /// Where console or JSON lines go (unused for the journal).
    public var descriptor: Int32
    /// Set when the journal was wanted but no journald listens: the text to tell the user once.
    /// The selection then falls back to console lines on standard error.
    public var fallbackReason: String?

    public init(mode: LogMode, descriptor: Int32, fallbackReason: String? = nil) {
        self.mode = mode
        self.descriptor = descriptor
        self.fallbackReason = fallbackReason
    }

    /// Chooses the output: what was asked (`--log MODE`), else the journal when systemd connected
    /// our output to it (JOURNAL_STREAM), else console lines on `output`. A journal that is wanted
    /// but not listening falls back to console lines on standard error, with the reason.
    public static func resolve(
        requested: LogMode?,
        output: Int32 = STDOUT_FILENO,
        socketPath: String = JournalAvailability.defaultSocketPath,
        journalStream: String? = JournalAvailability.journalStreamVariable,
        streamDescriptors: [Int32] = [STDERR_FILENO, STDOUT_FILENO]
    ) -> LogSelection {
        let wanted: LogMode
        if let requested {
            wanted = requested
        } else if JournalAvailability.isJournalStream(journalStream, descriptors: streamDescriptors) {
            wanted = .journal
        } else {
            wanted = .console
        }
        guard wanted == .journal else { return LogSelection(mode: wanted, descriptor: output) }
        if let reason = JournalAvailability.unavailableReason(socketPath: socketPath) {
            return LogSelection(
                mode: .console, descriptor: STDERR_FILENO,
                fallbackReason: reason + "; logging to standard error instead")
        }
        return LogSelection(mode: .journal, descriptor: STDERR_FILENO)
    }
}
