import Glibc
import Logging
import Testing

@testable import OOMKit

@Suite struct JournalConsoleOutputTests {
    private func logged(level: Logger.Level = .info, _ body: (Logger) -> Void) -> String {
        capturedOutput { fd in
            var logger = Logger(label: "test") {
                ConsoleLogHandler(label: $0, fileDescriptor: fd, clock: { fixedTime })
            }
            logger.logLevel = level
            body(logger)
        }
    }

    @Test func oneLinePerEntryWithSortedKeys() {
        let output = logged { logger in
            logger.log(.oomDetected, "OOM detected", metadata: ["event": "oom", "cgroup": "/x", "usage": "64M"])
            logger.debug("not shown at info")
            logger.info("plain")
        }
        let time = fixedTime.localClockTime
        #expect(
            output == """
                \(time) WARNING OOM detected cgroup=/x event=oom usage=64M
                \(time) INFO plain

                """)
    }

    @Test func clockTimeFormat() {
        let time = fixedTime.localClockTime
        #expect(time.count == 12)
        #expect(time.hasSuffix(":56.789"))
        #expect(
            time.utf8.enumerated().allSatisfy { index, byte in
                [2, 5].contains(index)
                    ? byte == UInt8(ascii: ":")
                    : index == 8 ? byte == UInt8(ascii: ".") : (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            })
    }

    @Test func hostileValuesAreQuotedAndVisible() {
        let output = logged { logger in
            logger.warning("victim\nchosen", metadata: ["cgroup": .string(hostileCgroup), "empty": "", "n": "3"])
        }
        let expected =
            #"WARNING victim\nchosen cgroup="/test.slice/a b \"q\" 'x' $HOME `id`; rm=1 \\ \n\ttab\u{1b}[31m\u{202e}""#
            + #" empty="" n=3"# + "\n"
        #expect(output == fixedTime.localClockTime + " " + expected)
        #expect(output.filter { $0 == "\n" }.count == 1)
    }

    @Test func plainWordsStayBare() {
        #expect(ConsoleFormat.value("/system.slice/foo.service") == "/system.slice/foo.service")
        #expect(ConsoleFormat.value("1.5GiB") == "1.5GiB")
        #expect(ConsoleFormat.value("a=b") == #""a=b""#)
        #expect(ConsoleFormat.value("") == #""""#)
        #expect(ConsoleFormat.value("é") == "é")
        #expect(ConsoleFormat.value("\u{7F}") == #""\u{7f}""#)
    }

    @Test func handlerMetadataAndCallMetadataMerge() {
        let output = logged { logger in
            var logger = logger
            logger[metadataKey: "cgroup"] = "/a"
            logger[metadataKey: "pid"] = "1"
            logger.info("step", metadata: ["cgroup": "/b"])
        }
        #expect(output == fixedTime.localClockTime + " INFO step cgroup=/b pid=1\n")
    }
}
