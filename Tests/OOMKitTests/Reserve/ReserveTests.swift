import Glibc
import OOMTestSupport
import Testing

@testable import OOMKit

struct ReserveSizeTests {
    @Test(arguments: [
        ("64M", ReserveSize.bytes(ByteCount(64 << 20))), ("1.5G", .bytes(ByteCount(3 << 29))),
        ("65536", .bytes(ByteCount(65536))), ("25%", .percent(hundredths: 2500)),
        ("12.5%", .percent(hundredths: 1250)), (" 0.25% ", .percent(hundredths: 25)),
    ])
    func parses(text: String, expected: ReserveSize) throws {
        #expect(try ReserveSize(parsing: text) == expected)
    }

    @Test(arguments: ["", "-1M", "0", "0%", "100%", "abc", "max", "1.234%", "%", "5 M", "1e3", "99999999999999999999"])
    func refuses(text: String) {
        #expect(throws: ReserveError.self) { try ReserveSize(parsing: text) }
    }

    @Test func percentagesResolveAgainstTheLimitToWholePages() throws {
        #expect(ReserveSize.percent(hundredths: 2500).resolve(limit: ByteCount(32 << 20)) == ByteCount(8 << 20))
        #expect(ReserveSize.percent(hundredths: 1).resolve(limit: ByteCount(1 << 20)) == ByteCount(0))
        #expect(ReserveSize.percent(hundredths: 1250).description == "12.5%")
        #expect(ReserveSize.percent(hundredths: 1205).description == "12.05%")
    }
}

/// The guardian's `=PATH VALUE` lines: values written back when the pipe closes, in order, after the
/// killers; `-PATH` forgets one.
struct GuardianRestoreTests {
    @Test func writesSavedValuesWhenThePipeCloses() throws {
        let tree = FixtureTree()
        tree.file("a b/memory.limit_in_bytes", "50331648\n")
        tree.file("c/memory.limit_in_bytes", "50331648\n")
        tree.file("oom_control", "1")
        let first = tree.root + "/a b/memory.limit_in_bytes"
        let second = tree.root + "/c/memory.limit_in_bytes"
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        let lines = "+\(tree.root)/oom_control\n=\(first) 33554432\n=\(second) 33554432\n-\(second)\n"
        _ = lines.withCString { write(ends[1], $0, strlen($0)) }
        close(ends[1])
        let restored = Guardian.run(input: ends[0], patience: .milliseconds(100))
        close(ends[0])
        #expect(restored == [tree.root + "/oom_control", first])
        #expect(ProcessRunner.readText(first).hasPrefix("33554432"))
        #expect(ProcessRunner.readText(second) == "50331648\n", "a cancelled restore is not written")
        #expect(ProcessRunner.readText(tree.root + "/oom_control") == "0")
    }
}
