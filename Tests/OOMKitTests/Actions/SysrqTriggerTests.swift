import Glibc
import OOMTestSupport
import Testing

@testable import OOMKit

/// A stand-in for /proc/sysrq-trigger is only ever a regular file or FIFO off the kernel's file systems.
/// Nothing here writes: only `standIn` is called, and it refuses before it opens anything kernel-side.
@Suite struct SysrqTriggerStandInTests {
    @Test(arguments: ["/proc/self/comm", "/sys/kernel/profiling"])
    func kernelFilesAreRefused(path: String) {
        #expect(throws: SysrqTriggerError.self) { try SysrqTrigger.standIn(path) }
    }

    @Test func directoriesDevicesAndSymlinksAreRefused() throws {
        let tree = FixtureTree()
        tree.directory("dir")
        tree.symlink("link", to: tree.root + "/file")
        tree.file("file", "")
        for path in [tree.root + "/dir", "/dev/null", tree.root + "/link"] {
            #expect(throws: SysrqTriggerError.self, "\(path)") { try SysrqTrigger.standIn(path) }
        }
        do {
            _ = try SysrqTrigger.standIn(tree.root + "/link")
        } catch {
            #expect(error.kind == .badInput)
            #expect(error.description.contains("only a regular file or a FIFO"), "\(error)")
        }
    }

    @Test func aFIFOWithoutAReaderIsRefusedNotWaitedFor() throws {
        let tree = FixtureTree()
        let path = tree.root + "/fifo"
        #expect(mkfifo(path, 0o600) == 0)
        do {
            _ = try SysrqTrigger.standIn(path)
            Issue.record("a FIFO without a reader was accepted")
        } catch {
            #expect(error.description.contains("a FIFO needs a reader"), "\(error)")
        }
    }

    @Test func aNewFileIsMadeAndTakesTheCommand() throws {
        let tree = FixtureTree()
        let trigger = try SysrqTrigger.standIn(tree.root + "/new")
        #expect(trigger.kind == .standIn)
        try trigger.send(.reboot)
        try trigger.send(.crash)
        #expect(ProcessRunner.readText(tree.root + "/new") == "bc")
        var info = stat()
        #expect(stat(tree.root + "/new", &info) == 0 && info.st_mode & 0o777 == 0o600)
    }

    @Test func aRehearsalWritesNothing() throws {
        let trigger = SysrqTrigger.rehearsal(procPath: "/nonexistent/proc")
        try trigger.send(.crash)
        #expect(trigger.kind == .rehearsal && trigger.path == "/nonexistent/proc/sysrq-trigger")
    }
}

/// The kernel's trigger, opened at start-up, fails there with a status and a message that say why. Only
/// a fixture directory is given as /proc here: the real trigger is never opened by a test.
@Suite struct KernelTriggerOpeningTests {
    @Test func aKernelWithoutSysrqIsUnavailable() {
        let tree = FixtureTree()
        do {
            _ = try SysrqTrigger.kernel(procPath: tree.root)
            Issue.record("a missing trigger was opened")
        } catch {
            #expect(error == .cannotOpen(tree.root + "/sysrq-trigger", errno: ENOENT))
            #expect(error.kind == .unavailable)
            #expect(error.description.contains("CONFIG_MAGIC_SYSRQ"), "\(error)")
        }
    }

    @Test func aReadOnlyProcIsAPermissionProblemThatNamesTheCause() {
        let error = SysrqTriggerError.cannotOpen("/proc/sysrq-trigger", errno: EROFS)
        #expect(error.kind == .permissionDenied)
        #expect(error.description.contains("ProtectKernelTunables="), "\(error)")
    }
}
