import Glibc
import Logging
import OOMKitCore

/// A swift-log handler for a person at a terminal: one line per entry,
/// `HH:MM:SS.mmm LEVEL message key=value …` (local time, keys sorted).
///
/// Values are shown bare when they are plain words; anything with a space, a quote, `=`, a
/// backslash, a control or invisible formatting character, or nothing at all is double-quoted with
/// visible escapes (`\n`, `\t`, `\"`, `\\`, `\u{…}`), so a hostile cgroup name can neither break the
/// line nor pass for another field. The message id is left out (it is for machines; JSON lines
/// and the journal carry it). Lines are written with write(2) on the descriptor the caller chooses,
/// never through the C `stdout` global.
public typealias ConsoleLogHandler = LineLogHandler<ConsoleFormat>

/// The console line format, as pure functions.
public enum ConsoleFormat: LineFormat {
    public static let defaultDescriptor = STDERR_FILENO

    /// One newline-terminated line for an entry.
    public static func line(
        time: LogTimestamp, level: Logger.Level, message: String, metadata: Logger.Metadata
    ) -> String {
        var line = time.localClockTime + " " + LogRecord.levelName(level) + " " + escapeMessage(message)
        for key in metadata.keys.sorted() where key != MessageID.metadataKey {
            guard let value = metadata[key] else { continue }
            let text = LogRecord.text(value)
            // A person reads the line: a value the message already says (the cgroup, the event, the
            // hook's command) is not repeated. The journal and JSON lines keep every field.
            if text.count > 2 && message.contains(text) { continue }
            line += " " + escapeMessage(key) + "=" + self.value(text)
        }
        return line + "\n"
    }

    /// A value as shown after `key=`: bare when it is one plain word, else quoted with escapes.
    public static func value(_ text: String) -> String {
        let plain =
            !text.isEmpty
            && text.unicodeScalars.allSatisfy { scalar in
                !needsEscape(scalar) && scalar != " " && scalar != "\"" && scalar != "=" && scalar != "\\"
                    && scalar != "'"
            }
        if plain { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            default: quoted += escaped(scalar)
            }
        }
        return quoted + "\""
    }

    /// A message keeps its spaces and quotes but never a raw control character: one entry, one line.
    public static func escapeMessage(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            result += escaped(scalar)
        }
        return result
    }

    private static func escaped(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\n": return "\\n"
        case "\t": return "\\t"
        case "\r": return "\\r"
        default:
            guard needsEscape(scalar) else { return String(scalar) }
            // A byte of a name that is not UTF-8, as a shell's $'…' writes it.
            if LosslessText.isEscapedByte(scalar) { return String(scalar).visibleRawBytes }
            return "\\u{" + String(scalar.value, radix: 16) + "}"
        }
    }

    /// Control characters (C0, DEL, C1) and invisible format characters (bidi overrides, zero-width
    /// joiners, …) that could hide or reorder what a terminal shows.
    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .unassigned, .surrogate, .privateUse:
            return true
        default:
            return false
        }
    }
}
