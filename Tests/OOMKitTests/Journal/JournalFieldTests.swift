import Logging
import Testing

@testable import OOMKit

@Suite struct JournalFieldTests {
    @Test func metadataKeysBecomeOomctlFields() {
        #expect(JournalEntry.fieldName(forMetadataKey: "cgroup") == "OOMCTL_CGROUP")
        #expect(JournalEntry.fieldName(forMetadataKey: "victim_pid") == "OOMCTL_VICTIM_PID")
        #expect(JournalEntry.fieldName(forMetadataKey: "freed-bytes") == "OOMCTL_FREED_BYTES")
        #expect(JournalEntry.fieldName(forMetadataKey: "message_id") == "MESSAGE_ID")
        #expect(JournalEntry.fieldName(forMetadataKey: "_hidden") == "OOMCTL__HIDDEN")
        #expect(JournalEntry.fieldName(forMetadataKey: "größe") == "OOMCTL_GR____E")
        #expect(JournalEntry.fieldName(forMetadataKey: "") == "OOMCTL__")
        #expect(JournalEntry.fieldName(forMetadataKey: String(repeating: "k", count: 100)).utf8.count == 64)
    }

    @Test func prioritiesFollowSyslog() {
        let levels: [(Logger.Level, Int)] = [
            (.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
        ]
        for (level, priority) in levels {
            #expect(JournalEntry.priority(for: level) == priority)
        }
    }

    @Test func entryFieldsInOrder() {
        let entry = JournalEntry(
            level: .warning, message: "two\nlines",
            metadata: ["message_id": .string(MessageID.oomDetected.rawValue), "cgroup": "/a\nb", "a": ["x"]],
            identifier: "oomctl", file: "OOMKit/X.swift", function: "f()", line: 12)
        #expect(
            entry.fields.map(\.name) == [
                "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC",
                "OOMCTL_A", "OOMCTL_CGROUP", "MESSAGE_ID",
            ])
        #expect(entry.fields[0].value == Array("two\nlines".utf8))
        #expect(entry.fields[1].value == Array("4".utf8))
        #expect(entry.fields[7].value == Array("/a\nb".utf8))
        #expect(entry.fields[8].value == Array(MessageID.oomDetected.rawValue.utf8))
    }
}
