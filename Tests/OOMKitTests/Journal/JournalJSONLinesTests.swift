import FoundationEssentials
import Glibc
import Logging
import Testing

@testable import OOMKit

@Suite struct JournalJSONLinesTests {
    private func logged(_ body: (Logger) -> Void) -> String {
        capturedOutput { fd in
            let logger = Logger(label: "test") {
                JSONLinesLogHandler(label: $0, fileDescriptor: fd, clock: { fixedTime })
            }
            body(logger)
        }
    }

    @Test func exactLine() {
        let output = logged { logger in
            logger.log(.victimKilled, "killed", metadata: ["cgroup": "/x", "freed_bytes": "1024", "pids": ["1", "2"]])
            logger.info("plain", metadata: ["message": "shadow"])
        }
        #expect(
            output == """
                {"time":"2025-03-01T12:34:56.789012Z","level":"warning","message":"killed",\
                "messageID":"\(MessageID.victimKilled.rawValue)","cgroup":"/x","freed_bytes":"1024","pids":["1","2"]}
                {"time":"2025-03-01T12:34:56.789012Z","level":"info","message":"plain","metadata.message":"shadow"}

                """)
    }

    struct Line: Decodable {
        var time: String
        var level: String
        var message: String
        var messageID: String?
        var cgroup: String
        var nested: [String: [String]]
    }

    @Test func hostileValuesParseBack() throws {
        let output = logged { logger in
            logger.log(
                .oomDetected, "OOM in \(hostileCgroup)",
                metadata: ["cgroup": .string(hostileCgroup), "nested": ["k\"ey": [.string(hostileCgroup)]]])
        }
        let lines = output.split(separator: "\n")
        #expect(lines.count == 1)
        let line = try JSONDecoder().decode(Line.self, from: Data(lines[0].utf8))
        #expect(line.message == "OOM in \(hostileCgroup)")
        #expect(line.cgroup == hostileCgroup)
        #expect(line.nested == ["k\"ey": [hostileCgroup]])
        #expect(line.messageID == MessageID.oomDetected.rawValue)
        #expect(line.level == "warning")
        #expect(line.time == fixedTime.rfc3339)
    }

    @Test func controlCharactersAreEscaped() {
        #expect(JSONLineFormat.string("a\u{0}\u{1F}\u{7F}\u{2028}\"\\/") == #""a\u0000\u001f\u007f\u2028\"\\/""#)
    }
}
