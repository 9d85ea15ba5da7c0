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

/// v2 reserve edge cases on a fixture tree (issue: a reserve could make memory.high 0; the display
/// said "memory.high X = memory.max Y − R" when it was not; --clear overwrote a memory.high someone else
/// set; watch said nothing when memory.max fell below the reserve).
@Suite struct ReserveV2EdgeTests {
    private let mebibyte: UInt64 = 1 << 20

    private func setUp() throws -> (FixtureTree, Reserves, MemoryCgroup) {
        let tree = FixtureTree.unifiedV2()
        tree.v2Cgroup("/app", usage: 1 << 20, max: 64 << 20)
        let system = try CgroupSystem(root: tree.root)
        return (tree, Reserves(system: system), try MemoryCgroup.open(try CgroupPath("/app"), in: system))
    }

    @Test func aReserveThatLeavesLessThanAPageOfMemoryHighIsRefused() throws {
        let (tree, reserves, memory) = try setUp()
        #expect {
            try reserves.set(memory, size: try ReserveSize(parsing: "63.9999M"))
        } throws: { error in
            "\(error)".contains("less than a page")
        }
        #expect(try memory.high() == .unlimited, "nothing changed")
        #expect(reserves.store.read(memory) == nil, "nothing recorded")
        withExtendedLifetime(tree) {}
    }

    @Test func theStatusSaysWhenMemoryHighIsNotInStep() throws {
        let (tree, reserves, memory) = try setUp()
        let set = try reserves.set(memory, size: try ReserveSize(parsing: "16M"))
        #expect(set.inStep == true && set.expectedHigh == ByteCount(48 * mebibyte))
        tree.file("sys/fs/cgroup/app/memory.max", "\(128 * mebibyte)\n")  // no watch to follow it
        let status = try #require(try reserves.status(memory))
        #expect(status.inStep == false && status.expectedHigh == ByteCount(112 * mebibyte))
        #expect(try memory.high() == ByteCount(48 * mebibyte))
    }

    @Test func clearLeavesAMemoryHighSomeoneElseSet() throws {
        let (tree, reserves, memory) = try setUp()
        _ = try reserves.set(memory, size: try ReserveSize(parsing: "16M"))
        tree.file("sys/fs/cgroup/app/memory.high", "\(100 * mebibyte)\n")
        let cleared = try #require(try reserves.clear(memory))
        #expect(cleared.highLeft == true)
        #expect(try memory.high() == ByteCount(100 * mebibyte), "not the reserve's to undo")
        #expect(reserves.store.read(memory) == nil, "the reserve itself is gone")
    }

    @Test func clearPutsBackWhatTheReserveChanged() throws {
        let (tree, reserves, memory) = try setUp()
        _ = try reserves.set(memory, size: try ReserveSize(parsing: "16M"))
        let cleared = try #require(try reserves.clear(memory))
        #expect(cleared.highLeft == nil)
        // A fixture file is not truncated by a write (cgroupfs replaces the value): look at its start.
        #expect(ProcessRunner.readText(tree.root + "/sys/fs/cgroup/app/memory.high").hasPrefix("max"))
    }

    @Test func reconcilingBelowTheReserveIsAnErrorThatSaysWhat() throws {
        let (tree, reserves, memory) = try setUp()
        _ = try reserves.set(memory, size: try ReserveSize(parsing: "16M"))
        tree.file("sys/fs/cgroup/app/memory.max", "\(8 * mebibyte)\n")
        #expect {
            try reserves.reconcile(memory)
        } throws: { error in
            "\(error)".contains("no longer above the reserve")
        }
        #expect(try memory.high() == ByteCount(48 * mebibyte), "left as it was")
    }
}
