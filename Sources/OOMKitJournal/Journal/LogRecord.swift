import Glibc
import Logging
import OOMKitCore

/// A wall-clock instant as the log handlers print it (CLOCK_REALTIME, nanoseconds).
public struct LogTimestamp: Sendable, Hashable {
    /// Seconds since the Unix epoch.
    public var seconds: Int
    /// Nanoseconds within the second, 0..<1_000_000_000.
    public var nanoseconds: Int

    public init(seconds: Int, nanoseconds: Int) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// The current wall-clock time.
    public static func now() -> LogTimestamp {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return LogTimestamp(seconds: now.tv_sec, nanoseconds: now.tv_nsec)
    }

    /// `HH:MM:SS.mmm` in local time, for a person watching a terminal.
    public var localClockTime: String {
        var time = time_t(seconds)
        var parts = tm()
        localtime_r(&time, &parts)
        return Self.pad(parts.tm_hour, 2) + ":" + Self.pad(parts.tm_min, 2) + ":" + Self.pad(parts.tm_sec, 2) + "."
            + Self.pad(Int32(nanoseconds / 1_000_000), 3)
    }

    /// RFC 3339 in UTC with microseconds, e.g. `2025-03-01T12:34:56.789012Z`.
    public var rfc3339: String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return Self.pad(parts.tm_year + 1900, 4) + "-" + Self.pad(parts.tm_mon + 1, 2) + "-"
            + Self.pad(parts.tm_mday, 2)
            + "T" + Self.pad(parts.tm_hour, 2) + ":" + Self.pad(parts.tm_min, 2) + ":" + Self.pad(parts.tm_sec, 2) + "."
            + Self.pad(Int32(nanoseconds / 1000), 6) + "Z"
    }

    private static func pad(_ value: Int32, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

/// What every oomctl log handler does the same way: merging metadata, rendering values.
enum LogRecord {
    /// The entry's metadata: the handler's own, then the provider's, then the call site's (later wins),
    /// as swift-log specifies. An error passed to `logger.log(…, error:)` becomes `error` unless set.
    static func metadata(
        handler: Logger.Metadata, provider: Logger.MetadataProvider?, event: LogEvent
    ) -> Logger.Metadata {
        var merged = handler
        if let provided = provider?.get(), !provided.isEmpty {
            merged.merge(provided) { _, new in new }
        }
        if let call = event.metadata, !call.isEmpty {
            merged.merge(call) { _, new in new }
        }
        if let error = event.error, merged["error"] == nil {
            merged["error"] = .string("\(error)")
        }
        return merged
    }

    /// A metadata value as flat text (journal fields, console lines).
    static func text(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array, .dictionary: value.description
        }
    }

    /// The message id an entry carries, if its `message_id` is a well-formed 128-bit id.
    static func messageID(in metadata: Logger.Metadata) -> String? {
        guard let value = metadata[MessageID.metadataKey] else { return nil }
        return text(value)
    }

    /// The upper-case level name the console shows.
    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "TRACE"
        case .debug: "DEBUG"
        case .info: "INFO"
        case .notice: "NOTICE"
        case .warning: "WARNING"
        case .error: "ERROR"
        case .critical: "CRITICAL"
        }
    }
}

/// Writes all of `bytes` to a file descriptor with write(2), retrying on EINTR and short writes.
/// Returns false when the descriptor refuses (closed pipe, full disk): a log line is then lost,
/// which must never stop the handler. On standard output the loss is recorded (``StandardOutput``), so
/// that the process does not exit 0 with its log incomplete.
@discardableResult
func writeFully(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
    if descriptor == STDOUT_FILENO { return StandardOutput.write(bytes) }
    return FileIO.writeAll(bytes, to: descriptor) == 0
}
