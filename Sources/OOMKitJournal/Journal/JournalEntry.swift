import CSystemd
import Glibc
import Logging

/// One journal entry as a list of native fields, ready for `sd_journal_sendv`.
///
/// Values are raw bytes and may hold anything, newlines included: `sd_journal_sendv` takes each
/// `FIELD=value` as one iovec with an explicit length and itself switches a value that contains a
/// newline to journald's binary-safe form (`FIELD\n`, 64-bit little-endian length, data), so no
/// escaping happens here. Only field *names* are restricted ([A-Z0-9_], no leading `_`, at most 64
/// bytes): journald silently drops fields whose names break that rule, so names are sanitized.
public struct JournalEntry: Sendable, Equatable {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: [UInt8]

        public init(name: String, value: [UInt8]) {
            self.name = name
            self.value = value
        }

        public init(name: String, _ text: String) {
            self.init(name: name, value: Array(text.utf8))
        }
    }

    public var fields: [Field]

    public init(fields: [Field]) {
        self.fields = fields
    }

    /// The fields oomctl sends for a swift-log entry: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER,
    /// CODE_FILE/CODE_LINE/CODE_FUNC, then each metadata key sorted as `OOMCTL_<KEY>` (`message_id`
    /// becomes MESSAGE_ID).
    public init(
        level: Logger.Level, message: String, metadata: Logger.Metadata, identifier: String,
        file: String, function: String, line: UInt
    ) {
        var fields: [Field] = [
            Field(name: "MESSAGE", message),
            Field(name: "PRIORITY", String(Self.priority(for: level))),
            Field(name: "SYSLOG_IDENTIFIER", identifier),
            Field(name: "CODE_FILE", file),
            Field(name: "CODE_LINE", String(line)),
            Field(name: "CODE_FUNC", function),
        ]
        for key in metadata.keys.sorted() {
            guard let value = metadata[key] else { continue }
            fields.append(Field(name: Self.fieldName(forMetadataKey: key), LogRecord.text(value)))
        }
        self.fields = fields
    }

    /// The syslog priority (0 emerg … 7 debug) for a swift-log level; trace and debug share 7.
    public static func priority(for level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// The journal field for a metadata key: `message_id` → MESSAGE_ID, anything else →
    /// `OOMCTL_` + the key upper-cased, every byte outside [A-Z0-9_] replaced by `_`
    /// (`cgroup` → OOMCTL_CGROUP, `freed-bytes` → OOMCTL_FREED_BYTES), cut to journald's 64 bytes.
    public static func fieldName(forMetadataKey key: String) -> String {
        let sanitized = sanitize(key)
        if sanitized == "MESSAGE_ID" { return sanitized }
        return String(("OOMCTL_" + sanitized).prefix(64))
    }

    /// [A-Z0-9_] only: lower case is raised, everything else becomes `_`; never empty.
    static func sanitize(_ key: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(key.utf8.count)
        for byte in key.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): bytes.append(byte - 32)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): bytes.append(byte)
            default: bytes.append(UInt8(ascii: "_"))
            }
        }
        return bytes.isEmpty ? "_" : String(decoding: bytes, as: UTF8.self)
    }

    /// Sends the entry with `sd_journal_sendv`. Returns 0 or a negative errno (libsystemd's
    /// convention). 0 does not prove delivery: with no journald listening, libsystemd drops the entry
    /// and still returns 0 (check ``JournalAvailability`` first).
    public func send() -> Int32 {
        // One contiguous buffer of "NAME=value" records and their offsets; the iovecs point into it
        // only inside the closures below, so no pointer outlives the storage it points to.
        var storage: [UInt8] = []
        storage.reserveCapacity(fields.reduce(0) { $0 + $1.name.utf8.count + 1 + $1.value.count })
        var bounds: [(start: Int, count: Int)] = []
        bounds.reserveCapacity(fields.count)
        for field in fields {
            let start = storage.count
            storage.append(contentsOf: field.name.utf8)
            storage.append(UInt8(ascii: "="))
            storage.append(contentsOf: field.value)
            bounds.append((start, storage.count - start))
        }
        return storage.withUnsafeMutableBytes { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -EINVAL }
            return withUnsafeTemporaryAllocation(of: iovec.self, capacity: bounds.count) { vectors -> Int32 in
                for (index, bound) in bounds.enumerated() {
                    vectors.initializeElement(at: index, to: iovec(iov_base: base + bound.start, iov_len: bound.count))
                }
                defer { vectors.deinitialize() }
                return oomctl_journal_sendv(vectors.baseAddress, Int32(bounds.count))
            }
        }
    }
}
