import Glibc
import Testing

@testable import OOMKit

@Suite struct JournalModeSelectionTests {
    private let missingSocket = "/run/oomctl-test-no-such-dir-\(getpid())/socket"

    @Test func askedJournalWithoutJournaldFallsBackToStandardError() throws {
        let selection = LogSelection.resolve(
            requested: .journal, output: STDOUT_FILENO, socketPath: missingSocket, journalStream: nil)
        #expect(selection.mode == .console)
        #expect(selection.descriptor == STDERR_FILENO)
        let reason = try #require(selection.fallbackReason)
        #expect(reason.contains("no journald is listening"))
        #expect(reason.contains(missingSocket))
        #expect(reason.contains("No such file or directory"))
        #expect(reason.hasSuffix("logging to standard error instead"))
    }

    @Test func aPlainFileIsNotAJournal() throws {
        let tree = FixtureTreePath()
        defer { tree.remove() }
        let selection = LogSelection.resolve(requested: .journal, socketPath: tree.file, journalStream: nil)
        #expect(selection.mode == .console)
        #expect(try #require(selection.fallbackReason).contains("is not a socket"))
    }

    @Test func aSocketNobodyListensOnIsNotAJournal() throws {
        let path = "/tmp/oomctl-test-\(getpid())-dead-journal-socket"
        unlink(path)
        defer { unlink(path) }
        // Bind a datagram socket, then close it: the file stays, nobody listens.
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        close(fd)
        #expect(bound == 0)
        #expect(!JournalAvailability.isListening(socketPath: path))
        let selection = LogSelection.resolve(requested: .journal, socketPath: path, journalStream: nil)
        #expect(selection.mode == .console)
        #expect(try #require(selection.fallbackReason).contains("Connection refused"))
    }

    @Test func consoleAndJSONAreTakenAsAsked() {
        #expect(
            LogSelection.resolve(requested: .json, output: 7, socketPath: missingSocket, journalStream: nil)
                == LogSelection(mode: .json, descriptor: 7))
        #expect(
            LogSelection.resolve(requested: .console, socketPath: missingSocket, journalStream: "1:2")
                == LogSelection(mode: .console, descriptor: STDOUT_FILENO))
        #expect(
            LogSelection.resolve(requested: nil, socketPath: missingSocket, journalStream: nil)
                == LogSelection(mode: .console, descriptor: STDOUT_FILENO))
    }

    @Test func journalStreamMustMatchOurOutput() {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer {
            close(ends[0])
            close(ends[1])
        }
        var status = stat()
        fstat(ends[1], &status)
        let stream = "\(status.st_dev):\(status.st_ino)"
        #expect(JournalAvailability.isJournalStream(stream, descriptors: [ends[1]]))
        #expect(!JournalAvailability.isJournalStream(stream, descriptors: [ends[0] + 1000]))
        #expect(!JournalAvailability.isJournalStream("\(status.st_dev):\(status.st_ino + 1)", descriptors: [ends[1]]))
        #expect(!JournalAvailability.isJournalStream("garbage", descriptors: [ends[1]]))
        #expect(!JournalAvailability.isJournalStream(nil, descriptors: [ends[1]]))

        // Under systemd (matching JOURNAL_STREAM) with no journald: console on stderr, with the reason.
        let selection = LogSelection.resolve(
            requested: nil, socketPath: missingSocket, journalStream: stream, streamDescriptors: [ends[1]])
        #expect(selection.mode == .console)
        #expect(selection.descriptor == STDERR_FILENO)
        #expect(selection.fallbackReason != nil)
    }

    @Test(.enabled(if: JournalAvailability.isListening(), "no journald listens on /run/systemd/journal/socket"))
    func journalStreamSelectsTheJournalWhenJournaldListens() {
        var status = stat()
        fstat(STDERR_FILENO, &status)
        let selection = LogSelection.resolve(
            requested: nil, journalStream: "\(status.st_dev):\(status.st_ino)", streamDescriptors: [STDERR_FILENO])
        #expect(selection == LogSelection(mode: .journal, descriptor: STDERR_FILENO))
    }

    @Test func handlersForEachMode() {
        #expect(
            LoggingSetup.makeHandler(for: LogSelection(mode: .journal, descriptor: 2), label: "x") is JournalLogHandler)
        let console = LoggingSetup.makeHandler(
            for: LogSelection(mode: .console, descriptor: 5), label: "x", level: .debug)
        #expect((console as? ConsoleLogHandler)?.fileDescriptor == 5)
        #expect(console.logLevel == .debug)
        #expect(
            LoggingSetup.makeHandler(for: LogSelection(mode: .json, descriptor: 1), label: "x") is JSONLinesLogHandler)
    }
}

/// A regular file in /tmp, removed by the test.
private struct FixtureTreePath {
    let file = "/tmp/oomctl-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))-regular"

    init() {
        let fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd) }
    }

    func remove() { unlink(file) }
}
