import Glibc
import Logging

/// A swift-log handler that writes native journal entries through `sd_journal_sendv`.
///
/// Every entry carries MESSAGE, PRIORITY (syslog 0–7), SYSLOG_IDENTIFIER (`oomctl` by default),
/// CODE_FILE/CODE_LINE/CODE_FUNC and each metadata key as an `OOMCTL_*` field (see
/// ``JournalEntry/fieldName(forMetadataKey:)``), so `journalctl -t oomctl OOMCTL_CGROUP=/x` finds
/// the entries about one cgroup. Use it only when ``JournalAvailability/isListening(socketPath:)``
/// says a journald is there (``LogSelection`` does that): libsystemd drops entries silently otherwise.
///
/// If a send fails (libsystemd reports an error, e.g. the socket buffer is full or the entry too
/// large), the entry is written to `fallbackDescriptor` as a console line, so it is never lost quietly.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    /// The SYSLOG_IDENTIFIER of every entry.
    public let identifier: String
    /// Where an entry goes when the journal refuses it (standard error by default).
    public let fallbackDescriptor: Int32

    public init(
        label: String, identifier: String = "oomctl", fallbackDescriptor: Int32 = STDERR_FILENO,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.identifier = identifier
        self.fallbackDescriptor = fallbackDescriptor
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = LogRecord.metadata(handler: metadata, provider: metadataProvider, event: event)
        let entry = JournalEntry(
            level: event.level, message: event.message.description, metadata: merged, identifier: identifier,
            file: event.file, function: event.function, line: event.line)
        let result = entry.send()
        if result < 0 {
            let reason = String(cString: strerror(-result))
            var line = ConsoleFormat.line(
                time: LogTimestamp.now(), level: event.level, message: event.message.description, metadata: merged)
            line.removeLast()
            writeFully(
                Array((line + " journal_error=" + ConsoleFormat.value(reason) + "\n").utf8), to: fallbackDescriptor)
        }
    }
}
