import Glibc
import Logging

/// A swift-log handler that writes one JSON object per line, for scripts (`--log json`):
/// `{"time":"<RFC 3339, UTC>","level":"warning","message":"…","messageID":"…",<metadata…>}`.
///
/// `messageID` is present when the entry has a `message_id`. Metadata keys follow at the top level,
/// sorted; strings stay strings, arrays and dictionaries become JSON arrays and objects. A metadata
/// key that would shadow one of the four fixed keys is written as `metadata.<key>`. Lines are written
/// with write(2) on the caller's descriptor.
public typealias JSONLinesLogHandler = LineLogHandler<JSONLineFormat>

/// The JSON lines format, as pure functions (a small escaper: no Foundation, deterministic order).
public enum JSONLineFormat: LineFormat {
    public static let defaultDescriptor = STDOUT_FILENO

    static let fixedKeys: Set<String> = ["time", "level", "message", "messageID"]

    /// One newline-terminated JSON object for an entry.
    public static func line(
        time: LogTimestamp, level: Logger.Level, message: String, metadata: Logger.Metadata
    ) -> String {
        var json =
            "{\"time\":" + string(time.rfc3339) + ",\"level\":" + string(level.rawValue) + ",\"message\":"
            + string(message)
        if let id = LogRecord.messageID(in: metadata) {
            json += ",\"messageID\":" + string(id)
        }
        for key in metadata.keys.sorted() where key != MessageID.metadataKey {
            guard let value = metadata[key] else { continue }
            let name = fixedKeys.contains(key) ? "metadata." + key : key
            json += "," + string(name) + ":" + self.value(value)
        }
        return json + "}\n"
    }

    /// A metadata value as JSON.
    public static func value(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): return string(text)
        case .stringConvertible(let convertible):
            // Counts, PIDs and durations stay numbers, so scripts can compare them without conversion.
            if convertible is any BinaryInteger { return convertible.description }
            return string(convertible.description)
        case .array(let items): return "[" + items.map(self.value).joined(separator: ",") + "]"
        case .dictionary(let fields):
            let members = fields.keys.sorted().compactMap { key in
                fields[key].map { string(key) + ":" + self.value($0) }
            }
            return "{" + members.joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal: quotes, backslashes and every control character escaped.
    public static func string(_ text: String) -> String {
        var result = "\""
        result.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{08}": result += "\\b"
            case "\u{0C}": result += "\\f"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\u{2028}" || scalar == "\u{2029}" {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}
