import Glibc
import Logging

/// A format that turns one log entry into one newline-terminated line.
public protocol LineFormat {
    /// Where lines go when the caller does not say.
    static var defaultDescriptor: Int32 { get }
    /// The line for an entry.
    static func line(time: LogTimestamp, level: Logger.Level, message: String, metadata: Logger.Metadata) -> String
}

/// A swift-log handler that writes each entry as one line in `Format`, with write(2) on a file
/// descriptor the caller chooses (never through the C `stdout` global). ``ConsoleLogHandler`` and
/// ``JSONLinesLogHandler`` are its two forms.
public struct LineLogHandler<Format: LineFormat>: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    /// Where lines go, e.g. STDOUT_FILENO or STDERR_FILENO. The handler does not own it.
    public let fileDescriptor: Int32
    private let clock: @Sendable () -> LogTimestamp

    public init(
        label: String, fileDescriptor: Int32 = Format.defaultDescriptor,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider,
        clock: @escaping @Sendable () -> LogTimestamp = LogTimestamp.now
    ) {
        self.fileDescriptor = fileDescriptor
        self.metadataProvider = metadataProvider
        self.clock = clock
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = LogRecord.metadata(handler: metadata, provider: metadataProvider, event: event)
        let line = Format.line(time: clock(), level: event.level, message: event.message.description, metadata: merged)
        writeFully(Array(line.utf8), to: fileDescriptor)
    }
}
