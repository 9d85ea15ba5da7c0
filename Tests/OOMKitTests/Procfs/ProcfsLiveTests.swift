import Glibc
import Testing

@testable import OOMKit

/// Reads the machine's real /proc.
@Suite struct ProcfsLiveTests {
    let procfs = ProcFS()

    @Test func systemFiles() throws {
        let memInfo = try procfs.memInfo()
        #expect((memInfo.total?.bytes ?? 0) > 0)
        #expect((memInfo.available?.bytes ?? 0) > 0)
        #expect(try procfs.vmStat()["nr_free_pages"] != nil)
        #expect(try procfs.zoneInfo().zones.contains { $0.managedPages > 0 })
        #expect(try !procfs.buddyInfo().zones.isEmpty)
        #expect(procfs.kernelRelease()?.isEmpty == false)
    }

    @Test(.enabled(if: access("/proc/pressure/memory", R_OK) == 0, "PSI is disabled on this kernel"))
    func memoryPressure() throws {
        _ = try procfs.memoryPressure()
    }

    @Test(.enabled(if: getuid() == 0, "slabinfo and vmallocinfo are root only; run as root"))
    func rootOnlyFiles() throws {
        let slabs = try procfs.slabInfo()
        #expect(!slabs.caches.isEmpty)
        #expect(slabs.totalBytes > .zero)
        let vmalloc = try procfs.vmallocInfo()
        #expect(vmalloc.allocations > 0)
        #expect(!vmalloc.callers.isEmpty)
    }

    @Test func ownProcess() throws {
        let pid = getpid()
        let me = procfs.process(pid)
        let sample = try me.sample()
        #expect(sample.pid == pid)
        #expect(sample.residentSet > .zero)
        #expect(sample.footprint >= sample.residentSet)
        #expect(try me.status().threads ?? 0 >= 1)
        #expect(try (me.smapsRollup().pss?.bytes ?? 0) > 0)
        #expect(try (-1000...1000).contains(me.oomScoreAdj()))
        #expect(try me.oomScore() >= 0)
        #expect(try !me.comm().isEmpty)
        #expect(try !me.commandLine().isEmpty)
        #expect(try !me.cgroups().isEmpty)
        #expect(try !me.isKernelThread())
        #expect(try procfs.processIDs().contains(pid))
        let own = try procfs.ownStatus()
        #expect(own.pid == pid)
        #expect(own.lockedMemory != nil)
    }

    @Test(.enabled(if: (try? FileIO.readText(path: "/proc/2/comm")) == "kthreadd\n", "no kthreadd at PID 2 here"))
    func kernelThread() throws {
        let kthreadd = procfs.process(2)
        #expect(try kthreadd.isKernelThread())
        #expect(try kthreadd.commandLine().isEmpty)
        #expect(try kthreadd.status().residentSet == nil)
        // The kernel answers ESRCH for a kernel thread's smaps_rollup: no mappings, not "exited".
        #expect(try kthreadd.smapsRollup() == SmapsRollup())
    }

    @Test func exitedProcessIsNotFound() throws {
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { free(argv[0]) }
        #expect(posix_spawn(&pid, "/bin/true", nil, nil, &argv, nil) == 0)
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        let error = #expect(throws: ProcfsError.self) { try procfs.process(pid).status() }
        #expect(error?.kind == .notFound)
    }
}
