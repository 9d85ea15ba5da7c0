import Glibc
import OOMKitCore
import Testing

@testable import OOMKit

/// What watch drops before it locks its memory (``StartupCode``).
struct StartupCodeTests {
    /// Code of files only, with what it holds of its own (copies on write, resident or swapped): a
    /// mapping with any is not clean, so never dropped.
    @Test func executableMappingsOfFilesAreListedAndOnlyCleanOnesAreReleasable() {
        let smaps = """
            55d0a0000000-55d0a0400000 r-xp 00010000 08:01 1234 /usr/local/bin/oomctl
            Size:               4096 kB
            Rss:                1088 kB
            Anonymous:             0 kB
            VmFlags: rd ex mr mw me
            55d0a0400000-55d0a0500000 r--p 00410000 08:01 1234 /usr/local/bin/oomctl
            Rss:                 512 kB
            Anonymous:             0 kB
            7f0000000000-7f0000100000 r-xp 00028000 08:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
            Rss:                 640 kB
            Anonymous:             4 kB
            7f0000200000-7f0000201000 r-xp 00000000 00:00 0
            Rss:                   4 kB
            7ffc00000000-7ffc00002000 r-xp 00000000 00:00 0 [vdso]
            Rss:                   8 kB
            7f0000300000-7f0000310000 r-xp 00000000 08:01 77 /opt/app/lib with space.so (deleted)
            Rss:                  16 kB
            Anonymous:             0 kB
            Swap:                  8 kB
            """
        let mappings = ExecutableMapping.list(inSmaps: smaps)
        #expect(
            mappings == [
                .init(
                    start: 0x55d0_a000_0000, end: 0x55d0_a040_0000, resident: ByteCount(1088 << 10), anonymous: .zero),
                .init(
                    start: 0x7f00_0000_0000, end: 0x7f00_0010_0000, resident: ByteCount(640 << 10),
                    anonymous: ByteCount(4 << 10)),
                .init(
                    start: 0x7f00_0030_0000, end: 0x7f00_0031_0000, resident: ByteCount(16 << 10), anonymous: .zero,
                    swapped: ByteCount(8 << 10)),
            ])
        #expect(mappings.map(\.isClean) == [true, false, false])
    }

    /// On this very process: the code resident in its executable file mappings shrinks, and the process
    /// runs on (every page it needs again is faulted back from the page cache).
    @Test func releasingLeavesLessCodeResidentAndTheProcessRuns() throws {
        func residentCode() throws -> UInt64 {
            let text = try FileIO.readText(path: "/proc/self/smaps")
            return ExecutableMapping.list(inSmaps: text).reduce(0) { $0 + $1.resident.bytes }
        }
        let before = try residentCode()
        let released = StartupCode.release()
        let after = try residentCode()
        #expect(released.bytes > 0)
        #expect(after < before, "resident code \(before) bytes before, \(after) after")
    }

    /// The code between the link's markers is locked (in this test build, unordered, only the markers'
    /// own page or two; in a release build the guardian's and handling's code).
    @Test func theHandlingCodeIsLockedBetweenTheMarkers() throws {
        func lockedKiB() throws -> UInt64 {
            try ProcFS().ownStatus().lockedMemory.map { $0.bytes >> 10 } ?? 0
        }
        let locked = StartupCode.lockHandlingCode()
        #expect(locked.bytes > 0 && locked.bytes <= UInt64(StartupCode.handlingCodeLimit))
        #expect(try lockedKiB() >= locked.bytes >> 10, "VmLck counts what was locked")
        munlockall()
    }
}
