import Glibc
import SystemPackage
import Testing

@testable import OOMKit

@Suite struct ProcfsProcessStatusTests {
    @Test func parsesRealSample() throws {
        let status = try ProcessStatus(parsing: ProcfsFixtures.text("5019/status"))
        #expect(status.name == "sleep")
        #expect(status.pid == 5019)
        #expect(status.parentPid == 5005)
        #expect(status.uid == 0)
        #expect(status.state == "S")
        #expect(status.residentSet == .kibibytes(1844))
        #expect(status.swap == .zero)
        #expect(status.residentAnon == .kibibytes(108))
        #expect(status.residentFile == .kibibytes(1736))
        #expect(status.residentShmem == .zero)
        #expect(status.virtualSize == .kibibytes(2920))
        #expect(status.threads == 1)
        #expect(status.lockedMemory == .zero)
    }

    /// A process after mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT), as the handler locks itself,
    /// read through the fixture's `self` the way ``SelfProtection`` reads its own.
    @Test func lockedMemoryOfALockedProcess() throws {
        let status = try ProcfsFixtures.procfs.ownStatus()
        #expect(status.name == "python3")
        #expect(status.lockedMemory == .kibibytes(24916))
        #expect(status.residentSet == .kibibytes(22112))
        #expect(try ProcessStatus(parsing: "Name:\tx\nPid:\t1\nVmLck:\t   64 kB\n").lockedMemory == .kibibytes(64))
    }

    @Test func kernelThreadHasNoMemoryFields() throws {
        let status = try ProcessStatus(parsing: ProcfsFixtures.text("2/status"))
        #expect(status.name == "kthreadd")
        #expect(status.pid == 2)
        #expect(status.parentPid == 0)
        #expect(status.residentSet == nil)
        #expect(status.swap == nil)
        #expect(status.virtualSize == nil)
        #expect(status.lockedMemory == nil)
        #expect(ProcessSample(status: status).footprint == .zero)
    }

    @Test func nameKeepsSpacesAndColons() throws {
        let status = try ProcessStatus(parsing: "Name:\tmy prog: x \nPid:\t7\n")
        #expect(status.name == "my prog: x ")
        #expect(status.residentSet == nil)
    }

    @Test func hugeValues() throws {
        let status = try ProcessStatus(
            parsing: "Name:\tx\nPid:\t1\nVmRSS:\t18446744073709551615 kB\nPPid:\t99999999999\n")
        #expect(status.residentSet == .unlimited)
        #expect(status.parentPid == nil)
        #expect(throws: ParseError.self) {
            try ProcessStatus(parsing: "Name:\tx\nPid:\t1\nVmRSS:\t184467440737095516150 kB\n")
        }
        #expect(throws: ParseError.self) { try ProcessStatus(parsing: "Name:\tx\nPid:\t4294967296\n") }
    }

    @Test(arguments: [
        "", "Name:\tx\n", "Pid:\t1\n", "Name:\tx\nPid:\tabc\n", "Name:\tx\nPid:\t1\nVmRSS:\t12\n",
        "Name:\tx\nPid:\t1\nVmR", "garbage", "Name:\tx\nPid:\t1\nThreads:\tmany\n", "Name:\tx\nPid:\t-1\n",
        "Name:\tx\nPid:\t1\nVmLck:\t12\n", "Name:\tx\nPid:\t1\nVmLck:\tall kB\n",
    ])
    func rejectsGarbage(text: String) {
        #expect(throws: ParseError.self) { try ProcessStatus(parsing: text) }
    }
}

@Suite struct ProcfsSmapsRollupTests {
    @Test func parsesRealSample() throws {
        let rollup = try SmapsRollup(parsing: ProcfsFixtures.text("5019/smaps_rollup"))
        #expect(
            rollup
                == SmapsRollup(
                    rss: .kibibytes(1844), pss: .kibibytes(346), pssAnon: .kibibytes(108), pssFile: .kibibytes(238),
                    pssShmem: .zero, swap: .zero, swapPss: .zero))
    }

    @Test func emptyIsAllNil() throws {
        #expect(try SmapsRollup(parsing: "") == SmapsRollup())
        #expect(
            try SmapsRollup(parsing: "5577b8315000-7fff49c77000 ---p 00000000 00:00 0   [rollup]\n") == SmapsRollup())
        #expect(try SmapsRollup(parsing: "Rss: 18446744073709551615 kB").rss == .unlimited)
    }

    @Test(arguments: ["garbage", "Rss: 5", "Rss: 5 kB\nPss:", "Rss: 184467440737095516150 kB", "Rss: 5 kB\nx [rollup]"])
    func rejectsGarbage(text: String) {
        #expect(throws: ParseError.self) { try SmapsRollup(parsing: text) }
    }
}

@Suite struct ProcfsProcessStatTests {
    @Test func parsesRealSamples() throws {
        let user = try ProcessStat(parsing: ProcfsFixtures.text("5019/stat"))
        #expect(
            user
                == ProcessStat(
                    pid: 5019, comm: "sleep", state: "S", parentPid: 5005, flags: 4_194_304, startTime: 32963))
        #expect(!user.isKernelThread)
        let kthread = try ProcessStat(parsing: ProcfsFixtures.text("2/stat"))
        #expect(kthread.comm == "kthreadd")
        #expect(kthread.flags == 2_129_984)
        #expect(kthread.isKernelThread)
    }

    @Test func commWithSpacesAndParentheses() throws {
        let stat = try ProcessStat(parsing: "42 (a) b) (c) R 1 42 42 0 -1 2097152 0 0 0\n")
        #expect(stat.comm == "a) b) (c")
        #expect(stat.state == "R")
        #expect(stat.parentPid == 1)
        #expect(stat.isKernelThread)
        #expect(try ProcessStat(parsing: "7 () S 1 7 7 0 -1 0\n").comm == "")
    }

    @Test(arguments: [
        "", "42", "42 (x", "42 x) S 1 1 1 0 -1 0", "42 (x) S 1", "42 (x) S 1 1 1 0 -1", "x (y) S 1 1 1 0 -1 0",
        "42 (x) S 1 1 1 0 -1 18446744073709551616", "4294967296 (x) S 1 1 1 0 -1 0", ") 42 (x S 1 1 1 0 -1 0",
    ])
    func rejectsGarbage(text: String) {
        #expect(throws: ParseError.self) { try ProcessStat(parsing: text) }
    }
}

@Suite struct ProcfsCgroupMembershipTests {
    @Test func parsesRealSample() throws {
        let cgroups = try CgroupMembership.parse(ProcfsFixtures.text("5019/cgroup"))
        #expect(cgroups.count == 10)
        #expect(cgroups.first == CgroupMembership(hierarchyID: 9, controllers: ["name=systemd"], path: "/"))
        #expect(
            cgroups.first { $0.controllers.contains("memory") }?.path == "/process_api/e5ff11a02e0ed2f77d177ee1ea98084b"
        )
        #expect(cgroups.last == CgroupMembership(hierarchyID: 0, controllers: [], path: "/"))
        #expect(cgroups.last?.isUnified == true)
    }

    @Test func pathMayHoldColons() throws {
        let cgroups = try CgroupMembership.parse("4:memory,foo:/a:b::c\n0::/x:y\n")
        #expect(cgroups[0] == CgroupMembership(hierarchyID: 4, controllers: ["memory", "foo"], path: "/a:b::c"))
        #expect(cgroups[1].path == "/x:y")
    }

    @Test func emptyIsNoMemberships() throws {
        #expect(try CgroupMembership.parse("").isEmpty)
        #expect(try CgroupMembership.parse("\n").isEmpty)
    }

    @Test(arguments: ["garbage", "4:memory", "x:memory:/", "-1::/", "99999999999::/", "4:memory:relative", "::/"])
    func rejectsGarbage(text: String) {
        #expect(throws: ParseError.self) { try CgroupMembership.parse(text) }
    }
}

@Suite struct ProcfsFixtureTreeTests {
    let procfs = ProcfsFixtures.procfs

    @Test func readsSystemFiles() throws {
        #expect(try procfs.memInfo().total == ByteCount(24_684_092 * 1024))
        #expect(try procfs.vmStat().oomKill == 0)
        #expect(try procfs.slabInfo().caches.count == 198)
        #expect(try procfs.vmallocInfo().allocations == 200)
        #expect(try procfs.zoneInfo().zones.count == 5)
        #expect(try procfs.buddyInfo().zones.count == 3)
        #expect(procfs.kernelRelease() == "6.18.44-fc-v657")
        #expect(ProcFS(path: ProcfsFixtures.root + "/").kernelRelease() == "6.18.44-fc-v657")
        #expect(try procfs.processIDs() == [2, 5019])
    }

    @Test func readsUserProcess() throws {
        let process = procfs.process(ProcfsFixtures.userPID)
        #expect(process.pid == 5019)
        #expect(try process.status().name == "sleep")
        #expect(
            try process.sample() == ProcessSample(pid: 5019, name: "sleep", residentSet: .kibibytes(1844), swap: .zero))
        #expect(try process.sample().footprint == .kibibytes(1844))
        #expect(try process.smapsRollup().pss == .kibibytes(346))
        #expect(try process.oomScore() == 666)
        #expect(try process.oomScoreAdj() == 0)
        #expect(try process.comm() == "sleep")
        #expect(try process.commandLine() == ["sleep", "600"])
        #expect(try process.cgroups().count == 10)
        #expect(try process.isKernelThread() == false)
    }

    @Test func readsKernelThread() throws {
        let process = procfs.process(ProcfsFixtures.kernelThreadPID)
        #expect(try process.isKernelThread())
        #expect(try process.commandLine().isEmpty)
        #expect(try process.comm() == "kthreadd")
        #expect(try process.sample().residentSet == .zero)
    }

    @Test func missingProcessIsNotFound() {
        let error = #expect(throws: ProcfsError.self) { try procfs.process(424_242).status() }
        #expect(error?.kind == .notFound)
        #expect(error?.description == "process 424242 exited")
    }

    @Test func missingFileOfLiveProcessIsNotFoundButNotExited() {
        // The fixture kthreadd has no oom_score file: the process directory exists, the file does not.
        let error = #expect(throws: ProcfsError.self) { try procfs.process(ProcfsFixtures.kernelThreadPID).oomScore() }
        #expect(error?.kind == .notFound)
        guard case .system = error else {
            Issue.record("expected a system error, got \(String(describing: error))")
            return
        }
    }

    @Test func missingRootIsNotFound() {
        let missing = ProcFS(path: "/nonexistent-procfs-fixture")
        #expect((#expect(throws: ProcfsError.self) { try missing.memInfo() })?.kind == .notFound)
        #expect((#expect(throws: ProcfsError.self) { try missing.processIDs() })?.kind == .notFound)
        #expect(missing.kernelRelease() == nil)
    }
}

@Suite struct ProcfsErrorTests {
    @Test func permissionDeniedSaysRootOnly() {
        let error = ProcfsError.system(SystemCallError("open", path: "/proc/slabinfo", errno: EACCES))
        #expect(error.kind == .permissionDenied)
        #expect(error.description == "cannot open '/proc/slabinfo': Permission denied (root only)")
    }

    @Test func otherErrorsKeepTheirKind() {
        #expect(ProcfsError.system(SystemCallError("open", path: "/proc/x", errno: ENOENT)).kind == .notFound)
        #expect(ProcfsError.parse(ParseError("/proc/meminfo", input: "x", reason: "bad")).kind == .badData)
        let exited = ProcfsError.processExited(pid: 9, SystemCallError("read", path: "/proc/9/status", errno: 3))
        #expect(exited.kind == .notFound)
    }

    @Test func theErrnoIsTyped() {
        var error = SystemCallError("open", path: "/proc/x", errno: ENOENT)
        #expect(error.code == .noSuchFileOrDirectory)
        #expect(error.errno == ENOENT)
        #expect(error == SystemCallError("open", path: "/proc/x", code: .noSuchFileOrDirectory))
        error.errno = EPERM
        #expect(error.code == .notPermitted)
        #expect(error.kind == .permissionDenied)
        #expect(error.description == "cannot open '/proc/x': Operation not permitted")
        #expect(SystemCallError("read", path: "/proc/9/status", code: .noSuchProcess).kind == .notFound)
        #expect(SystemCallError("write", path: "memory.max", code: .resourceBusy).kind == .ioError)
    }
}
