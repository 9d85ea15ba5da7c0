import Glibc
import OOMKit
import OOMTestSupport
import Testing

@testable import OomctlCommands

/// A process that is a kernel thread (PID 2, kthreadd, where there is one), for refusals.
func someKernelThread() -> Int32? {
    let procfs = ProcFS(path: "/proc")
    return ((try? procfs.processIDs()) ?? []).sorted().first { (try? procfs.process($0).isKernelThread()) == true }
}

/// Whether the memory hierarchy here is cgroup v1 (the refusals of v2-only events apply there).
let memoryHierarchyIsV1 = (try? CgroupSystem().memoryHierarchy().version) == .v1

/// Runs oomctl with standard output on `output` (/dev/full, a file on a full file system) and returns
/// the status and standard error.
func oomctlWriting(_ arguments: [String], to output: String) -> (status: Int32, standardError: String) {
    let errorPath = ProcessRunner.temporaryPath("err")
    defer { unlink(errorPath) }
    guard
        let pid = ProcessRunner.spawn(
            ProcessRunner.oomctlPath, arguments, standardOutput: output, standardError: errorPath)
    else { return (127, "cannot spawn") }
    let status = ProcessRunner.wait(for: pid)
    return (status, ProcessRunner.readText(errorPath))
}

/// The message every command gives when its standard output could not be written.
let outputLost = "oomctl: error: cannot write standard output: No space left on device; the output is incomplete\n"

/// The command line's edge cases (issue 13, item 9): each refused with a usage error that says why, or
/// working as documented.
@Suite struct CommandLineEdgeCaseTests {
    @Test(arguments: [
        (
            ["help", "bogus"],
            "oomctl has no subcommand 'bogus'; help is there for: watch, status, snapshot, kill, reserve, simulate"
        ),
        (["help", "kill", "bogus"], "oomctl kill has no subcommand 'bogus'"),
        // Durations need a unit, everywhere: a bare 1.5 could be seconds or milliseconds.
        (["watch", "/x", "--delay", "1.5"], "invalid for '--delay <DURATION>': expected a number with a unit"),
        (["kill", "--pid", "5", "--signal", "TERM", "--grace", "2"], "invalid for '--grace <DURATION>'"),
        (["kill", "--pid", "5", "--timeout", "10"], "invalid for '--timeout <DURATION>'"),
        (["watch", "/x", "--hook", "true", "--hook-timeout", "3"], "invalid for '--hook-timeout <DURATION>'"),
        (["watch", "/x", "--on", "pressure", "--pressure", "some 150 1"], "invalid for '--pressure <TRIGGER>'"),
        // An empty --on would watch for nothing.
        (["watch", "/x", "--on", ""], "invalid for '--on <EVENTS>': an empty event name"),
        (["watch", "--system", "--cooldown", "5"], "invalid for '--cooldown <DURATION>'"),
        (["simulate", "--timeout", "30"], "invalid for '--timeout <DURATION>'"),
        (["reserve", "--pid", "1", "sixty"], "with --pid the argument is the SIZE, and 'sixty' is not one"),
        (["reserve", "--pid", "1", "/a", "16M"], "give either a CGROUP or --pid, not both"),
        (["snapshot", "/a", "--pid", "1"], "give either a CGROUP or --pid, not both"),
    ])
    func refusedAsUsageErrors(arguments: [String], message: String) {
        let result = ProcessRunner.oomctl(arguments)
        #expect(result.status == 64, "\(result)")
        #expect(result.standardError.contains(message), "\(result)")
        #expect(result.standardOutput.isEmpty, "\(result)")
    }

    @Test func helpOfARealSubcommandStillWorks() {
        let result = ProcessRunner.oomctl(["help", "kill"])
        #expect(result.status == 0, "\(result)")
        #expect(result.standardOutput.hasPrefix("OVERVIEW: Kill a memory cgroup"))
    }

    /// `help help` says what help does, as `git help help` does; before, it was refused as no subcommand.
    @Test func helpOfHelpSaysWhatHelpDoes() {
        let result = ProcessRunner.oomctl(["help", "help"])
        #expect(result.status == 0, "\(result)")
        #expect(result.standardOutput.hasPrefix("USAGE: oomctl help [<subcommand> ...]"), "\(result)")
        #expect(result.standardError.isEmpty)
    }

    /// Zero is the same in every unit: the one duration that may go without one.
    @Test func aBareZeroIsAcceptedWhereZeroIs() throws {
        let watch = try #require(
            try Oomctl.parseAsRoot(["watch", "--system", "--max-check-interval", "0", "--cooldown", "0"])
                as? WatchCommand)
        #expect(watch.maxCheckInterval == .zero && watch.cooldown == .zero)
    }

    @Test func aDirectoryIsNoSnapshotFile() {
        let tree = FixtureTree()
        let result = ProcessRunner.oomctl(["simulate", "--from", tree.root])
        #expect(result.status == 66, "\(result)")
        #expect(
            result.standardError
                == "oomctl: error: cannot read snapshot '\(tree.root)': it is a directory; give a snapshot file (or - for standard input)\n"
        )
    }

    @Test(.enabled(if: someKernelThread() != nil, "no kernel thread is visible in /proc here"))
    func aDryRunRefusesAKernelThreadAsTheKillDoes() throws {
        let thread = try #require(someKernelThread())
        for extra in [["--dry-run"], ["--dry-run", "--json"], []] {
            let result = ProcessRunner.oomctl(["kill", "--pid", String(thread)] + extra)
            #expect(result.status == 64, "\(extra): \(result)")
            #expect(result.standardError == "oomctl: error: refusing to kill: PID \(thread) is a kernel thread\n")
            #expect(result.standardOutput.isEmpty, "a dry run prints no 'would kill'")
        }
    }
}

/// The command line's edge cases that need real memory cgroups.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct CommandEdgeCaseCgroupTests {
    /// `reserve --pid PID SIZE`: the second word is the size (ArgumentParser alone would take it for a
    /// CGROUP beside --pid).
    @Test func reserveByPIDTakesTheSize() throws {
        let test = try TestCgroup(limit: ByteCount(256 << 20))
        defer { test.destroy() }
        let sleeper = try test.spawn(["/bin/sleep", "30"])
        let set = ProcessRunner.oomctl(["reserve", "--pid", String(sleeper), "16M"])
        #expect(set.status == 0, "\(set)")
        #expect(set.standardOutput.hasPrefix("\(test.path): reserve 16M\n"), "\(set)")
        let shown = ProcessRunner.oomctl(["reserve", "--pid", String(sleeper), "--json"])
        #expect(shown.status == 0 && shown.standardOutput.contains(#""size" : "16M""#), "\(shown)")
        let percent = ProcessRunner.oomctl(["reserve", "--pid", String(sleeper), "10%", "-q"])
        #expect(percent.status == 0 && percent.standardOutput.isEmpty, "\(percent)")
        let cleared = ProcessRunner.oomctl(["reserve", "--pid", String(sleeper), "--clear"])
        #expect(cleared.status == 0 && cleared.standardOutput.contains("cleared"), "\(cleared)")
    }

    /// v1 has no memory.events: watch (and a sandbox run) refuses the events only v2 reports, rather than
    /// start and wait for nothing.
    @Test(
        .enabled(if: memoryHierarchyIsV1, "the memory hierarchy here is cgroup v2"),
        arguments: [
            ["--on", "high"], ["--on", "max"], ["--on", "oom-kill"], ["--on", "oom,high"],
        ])
    func v2OnlyEventsAreRefusedOnV1(on: [String]) throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let unreported = on[1].split(separator: ",").filter { $0 != "oom" }.joined(separator: ",")
        for arguments in [
            ["watch", test.path.description] + on, ["simulate", "--parent", test.path.description] + on,
        ] {
            let result = ProcessRunner.oomctl(arguments)
            #expect(result.status == 64, "\(arguments): \(result)")
            #expect(
                result.standardError.contains("--on \(unreported): the memory cgroups here are cgroup v1, which never"),
                "\(result)")
            #expect(!result.standardOutput.contains("watching"), "nothing was watched")
        }
        #expect(try !MemoryCgroup.open(test.path, in: CgroupSystem()).oomControl().oomKillDisable)
        #expect(childCgroups(of: test).isEmpty, "no sandbox was made")
    }

    /// `-o NAME` for every legal name length up to NAME_MAX; one above is refused with 73.
    @Test func snapshotOutputNamesUpToNameMax() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let tree = FixtureTree()
        for length in [230, 250, 255] {
            let name = tree.root + "/" + String(repeating: "s", count: length - 5) + ".json"
            let result = ProcessRunner.oomctl(["snapshot", test.path.description, "--top", "1", "-o", name])
            #expect(result.status == 0, "\(length): \(result)")
            #expect(ProcessRunner.readText(name).contains("\"schemaVersion\""), "\(length)")
        }
        let tooLong = ProcessRunner.oomctl([
            "snapshot", test.path.description, "-o", tree.root + "/" + String(repeating: "s", count: 256),
        ])
        #expect(tooLong.status == 73, "\(tooLong)")
        #expect(tooLong.standardError.contains("File name too long"), "\(tooLong)")
        #expect(directoryEntries(tree.root).count == 3, "no temporary file is left")
    }

    /// `-o` and `--snapshot-dir` never follow a symbolic link in the directories of the path, absolute or
    /// relative: refused, and nothing is written where the link points.
    /// A link only root could have made (root's, in a directory only root may write, like /var/run →
    /// /run) is followed, relative or absolute, and its target walked the same way.
    @Test func aLinkOnlyRootCouldHaveMadeIsFollowed() throws {
        guard getuid() == 0 else {
            try skip("needs root (a link only root could have made)")
            return
        }
        let test = try TestCgroup()
        defer { test.destroy() }
        let tree = FixtureTree()
        tree.directory("real/inner")
        chmod(tree.root, 0o755)
        tree.symlink("relative", to: "real")
        tree.symlink("absolute", to: tree.root + "/real")
        for link in ["relative", "absolute"] {
            let result = ProcessRunner.oomctl([
                "snapshot", test.path.description, "-o", "\(tree.root)/\(link)/inner/\(link).json",
            ])
            #expect(result.status == 0, "\(link): \(result)")
        }
        #expect(directoryEntries(tree.root + "/real/inner").sorted() == ["absolute.json", "relative.json"])
    }

    @Test func outputPathsThroughASymlinkedDirectoryAreRefused() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let tree = FixtureTree()
        tree.directory("real/inner")
        tree.symlink("link", to: tree.root + "/real")
        // A directory others may write: a link there could be anyone's (a root-owned one in a directory
        // only root may write is followed; see the next test).
        chmod(tree.root, 0o777)
        let absolute = ProcessRunner.oomctl(["snapshot", test.path.description, "-o", tree.root + "/link/inner/s.json"])
        #expect(absolute.status == 73, "\(absolute)")
        #expect(
            absolute.standardError
                == "oomctl: error: cannot write '\(tree.root)/link/inner/s.json': '\(tree.root)/link' is a symbolic "
                + "link; refusing to follow it (give the real directory)\n")
        // Relative to the working directory, as a shell gives it.
        let relative = ProcessRunner.run(
            "/bin/sh",
            [
                "-c", #"cd "$1" && exec "$2" snapshot "$3" -o link/s.json"#, "sh", tree.root, ProcessRunner.oomctlPath,
                test.path.description,
            ])
        #expect(relative.status == 73, "\(relative)")
        #expect(relative.standardError.contains("'link' is a symbolic link; refusing to follow it"), "\(relative)")
        #expect(directoryEntries(tree.root + "/real") == ["inner"])
        #expect(directoryEntries(tree.root + "/real/inner").isEmpty)

        let watch = ProcessRunner.oomctl([
            "watch", test.path.description, "--snapshot-dir", tree.root + "/link/inner", "--no-self-protection",
        ])
        #expect(watch.status == 64, "\(watch)")
        #expect(
            watch.standardError.contains(
                "--snapshot-dir '\(tree.root)/link/inner' is not a directory to write in: '\(tree.root)/link' is a "
                    + "symbolic link"), "\(watch)")
        #expect(try !MemoryCgroup.open(test.path, in: CgroupSystem()).oomControl().oomKillDisable)
        // The real directory is fine.
        let real = ProcessRunner.oomctl(["snapshot", test.path.description, "-o", tree.root + "/real/inner/s.json"])
        #expect(real.status == 0, "\(real)")
    }
}

/// Output that cannot be written (issue 13, item 10): every command exits 74, never 0 with its output
/// lost or cut short, and says so once on standard error.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct UnwritableOutputTests {
    @Test func everyCommandFailsWith74OnAFullOutput() throws {
        let test = try TestCgroup(limit: ByteCount(256 << 20))
        defer { test.destroy() }
        let tree = FixtureTree()
        let snapshot = tree.root + "/snap.json"
        // A candidate for the policy of `kill --under`.
        _ = try test.spawn(["/bin/sleep", "30"], in: test.makeChild("victim"))
        #expect(ProcessRunner.oomctl(["snapshot", test.path.description, "-o", snapshot]).status == 0)
        let cgroup = test.path.description
        let commands: [[String]] = [
            ["--help"], ["--version"], ["help", "kill"], ["watch", "--help"], ["--generate-completion-script", "bash"],
            ["snapshot", cgroup], ["snapshot", cgroup, "--json"],
            ["snapshot", cgroup, "-o", tree.root + "/x.json", "--json"],
            ["reserve", cgroup], ["reserve", cgroup, "16M"], ["reserve", "--list", "--under", cgroup],
            ["reserve", cgroup, "--clear"],
            ["kill", cgroup, "--dry-run"], ["kill", "--under", cgroup, "--dry-run", "--json"],
            ["simulate", "--from", snapshot], ["simulate", "--from", snapshot, "--json"],
            ["simulate", "--parent", cgroup, "--kill", "largest", "--hog-rate", "64M"],
            ["simulate", "--parent", cgroup, "--kill", "largest", "--hog-rate", "64M", "--json"],
        ]
        for arguments in commands {
            let (status, standardError) = oomctlWriting(arguments, to: "/dev/full")
            #expect(status == 74, "\(arguments): \(standardError)")
            #expect(standardError.hasSuffix(outputLost), "\(arguments): \(standardError)")
            #expect(
                standardError.split(separator: "\n").filter { $0.contains("cannot write standard output") }.count == 1)
        }
        // What was asked was still done: the file beside the lost output, the reserve, the sandbox removed.
        #expect(ProcessRunner.readText(tree.root + "/x.json").contains("\"schemaVersion\""))
        #expect(childCgroups(of: test) == ["victim"], "every sandbox was removed")
        // A failure of its own keeps its status.
        let missing = oomctlWriting(["snapshot", "/oomctl-no-such-cgroup"], to: "/dev/full")
        #expect(missing.status == 66, "\(missing)")
    }

    /// A kill whose report is lost still killed: 74 says the report is missing, not that nothing happened.
    @Test func aKillWithItsReportLostStillKills() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let sleeper = try test.spawn(["/bin/sleep", "30"])
        let (status, standardError) = oomctlWriting(["kill", test.path.description], to: "/dev/full")
        #expect(status == 74, "\(standardError)")
        #expect(ProcessRunner.wait(for: sleeper, timeout: .seconds(5)) == 128 + SIGKILL)
    }

    /// A watch whose log cannot be written goes on handling (the log is not what it is for), says so at
    /// once on standard error, and exits 74 when it stops.
    @Test func aWatchWithoutItsLogKeepsWatchingAndExits74() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        for extra in [[], ["--json"]] {
            let errorPath = ProcessRunner.temporaryPath("err")
            defer { unlink(errorPath) }
            let pid = try #require(
                ProcessRunner.spawn(
                    ProcessRunner.oomctlPath, ["watch", test.path.description, "--no-self-protection"] + extra,
                    standardOutput: "/dev/full", standardError: errorPath))
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(10)
            while !ProcessRunner.readText(errorPath).contains("cannot write standard output"), clock.now < deadline {
                usleep(20_000)
            }
            // Still watching: on v1 its killer is held.
            if test.hierarchy.version == .v1 {
                #expect(try MemoryCgroup.open(test.path, in: CgroupSystem()).oomControl().oomKillDisable)
            }
            kill(pid, SIGTERM)
            #expect(ProcessRunner.wait(for: pid, timeout: .seconds(10)) == 74, "\(ProcessRunner.readText(errorPath))")
            #expect(ProcessRunner.readText(errorPath) == outputLost, "said once")
        }
    }

    /// A file system that fills up in the middle of the output: exit 74, not 0 with the output cut short.
    @Test(.enabled(if: getuid() == 0, "mounting a tiny tmpfs needs root"))
    func aFileSystemThatFillsUpMidwayIs74() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let tree = FixtureTree()
        tree.directory("small")
        let mountPoint = tree.root + "/small"
        #expect(mount("tmpfs", mountPoint, "tmpfs", 0, "size=64k") == 0)
        defer { umount2(mountPoint, Int32(MNT_DETACH)) }
        // 60K of the 64K taken: one page left, less than the snapshot needs.
        tree.file("small/filler", String(repeating: "x", count: 60 << 10))
        let (status, standardError) = oomctlWriting(
            ["snapshot", test.path.description, "--json", "--top", "100"], to: mountPoint + "/out.json")
        #expect(status == 74, "\(standardError)")
        #expect(standardError == outputLost)
        let written = ProcessRunner.readText(mountPoint + "/out.json")
        #expect(written.utf8.count <= 4096 && !written.isEmpty, "the output was cut short: \(written.utf8.count) bytes")
    }
}
