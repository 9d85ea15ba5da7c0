import FoundationEssentials
import Glibc
import Logging
import OOMTestSupport
import Testing

@testable import OOMKit

/// Entries sent through a real journald and read back with journalctl. CI starts a journald
/// (scripts/bootstrap); without one these say they are skipped.
@Suite(.enabled(if: JournalAvailability.isListening(), "\(JournalAvailability.unavailableReason() ?? "")"))
struct JournalReadBackTests {
    /// A journal field as `journalctl -o json` prints it: text, raw bytes (for values that are not
    /// printable UTF-8), or several values when the field repeats.
    enum FieldValue: Decodable, Equatable {
        case text(String)
        case bytes([UInt8])
        case many([FieldValue])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .text(text)
            } else if let bytes = try? container.decode([UInt8].self) {
                self = .bytes(bytes)
            } else {
                self = .many(try container.decode([FieldValue].self))
            }
        }

        var bytes: [UInt8]? {
            switch self {
            case .text(let text): Array(text.utf8)
            case .bytes(let bytes): bytes
            case .many: nil
            }
        }
    }

    /// Reads back the entries matching `matches`, retrying while journald catches up (~3 s at most).
    private func readBack(_ matches: [String]) throws -> [[String: FieldValue]] {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(3)
        var last: CommandResult?
        repeat {
            _ = ProcessRunner.run("/usr/bin/journalctl", ["--sync"])
            let result = ProcessRunner.run("/usr/bin/journalctl", ["-o", "json", "--no-pager", "--all"] + matches)
            last = result
            let lines = result.standardOutput.split(separator: "\n")
            if result.status == 0 && !lines.isEmpty {
                return try lines.map { try JSONDecoder().decode([String: FieldValue].self, from: Data($0.utf8)) }
            }
            usleep(100_000)
        } while clock.now < deadline
        Issue.record("no entry for \(matches) within 3 s: \(last.map { "\($0)" } ?? "")")
        return []
    }

    private func uniqueMarker() -> String {
        "m\(getpid())x\(UInt64.random(in: 0...UInt64.max))"
    }

    @Test func entryCarriesNativeFields() throws {
        let marker = uniqueMarker()
        let cgroup = "/oomctl test/it's \"quoted\" $HOME `id`;\nsecond line"
        let logger = Logger(label: "test") { JournalLogHandler(label: $0) }
        let sentLine: UInt = #line + 1
        logger.log(
            .oomDetected, "OOM detected in test \(marker)",
            metadata: ["cgroup": .string(cgroup), "test_marker": .string(marker), "event": "oom"])

        let entries = try readBack(["MESSAGE_ID=\(MessageID.oomDetected.rawValue)", "OOMCTL_TEST_MARKER=\(marker)"])
        try #require(entries.count == 1)
        let entry = entries[0]
        #expect(entry["MESSAGE"] == .text("OOM detected in test \(marker)"))
        #expect(entry["PRIORITY"] == .text("4"))
        #expect(entry["SYSLOG_IDENTIFIER"] == .text("oomctl"))
        #expect(entry["MESSAGE_ID"] == .text(MessageID.oomDetected.rawValue))
        #expect(entry["OOMCTL_CGROUP"]?.bytes == Array(cgroup.utf8))
        #expect(entry["OOMCTL_EVENT"] == .text("oom"))
        #expect(entry["CODE_FILE"] == .text(#fileID))
        #expect(entry["CODE_LINE"] == .text(String(sentLine)))
        #expect(entry["CODE_FUNC"] == .text("entryCarriesNativeFields()"))
        #expect(entry["OOMCTL_MESSAGE_ID"] == nil)
    }

    @Test func binaryValuesAndMultiLineMessagesSurvive() throws {
        let marker = uniqueMarker()
        let blob = "a\u{0}b\nc\u{1B}"
        var logger = Logger(label: "test") { JournalLogHandler(label: $0) }
        logger.logLevel = .debug
        logger[metadataKey: "test_marker"] = .string(marker)
        logger.debug("hook output:\nline 1\nline 2", metadata: ["blob": .string(blob), "weird key!": "v"])

        let entries = try readBack(["OOMCTL_TEST_MARKER=\(marker)"])
        try #require(entries.count == 1)
        let entry = entries[0]
        #expect(entry["MESSAGE"]?.bytes == Array("hook output:\nline 1\nline 2".utf8))
        #expect(entry["PRIORITY"] == .text("7"))
        #expect(entry["OOMCTL_BLOB"]?.bytes == Array(blob.utf8))
        #expect(entry["OOMCTL_WEIRD_KEY_"] == .text("v"))
        #expect(entry["MESSAGE_ID"] == nil)
    }
}
