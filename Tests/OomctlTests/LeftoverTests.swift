import Glibc
import OOMKit
import OOMTestSupport
import Testing

@testable import OomctlCommands

/// What oomctl leaves behind, and what it must not (issue 13, item 11): markers after a guardian's
/// restore, the root refused before anything is written, sandboxes of killed simulate runs, and targets
/// removed with their parents. On the real hierarchy, below the test's own cgroup.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct LeftoverTests {
    private func memory(_ path: CgroupPath) throws -> MemoryCgroup { try MemoryCgroup.open(path, in: CgroupSystem()) }

    private func markerNames(_ path: CgroupPath) throws -> [String] {
        try memory(path).cgroup.extendedAttributeNames().filter { $0.hasPrefix("trusted.oomctl.") }
    }

    /// watch killed with SIGKILL: its guardian re-enables the killer and takes the marker away with it, so
    /// the next watch has no leftover to warn of.
    @Test(.enabled(if: memoryHierarchyIsV1, "the kernel killer is held back on v1 only"))
    func aGuardiansRestoreLeavesNoMarker() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let first = try RunningWatch([test.path.description, "--no-self-protection"])
        #expect(first.output.contains("watching 1 cgroup"), "\(first.output)")
        #expect(try memory(test.path).oomControl().oomKillDisable)
        #expect(try markerNames(test.path) == [KillerDisabledMarker.attribute], "the marker while watch runs")
        first.stop(signal: SIGKILL)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while try memory(test.path).oomControl().oomKillDisable, clock.now < deadline { usleep(20_000) }
        #expect(try !memory(test.path).oomControl().oomKillDisable, "the guardian restored the killer")
        #expect(try markerNames(test.path).isEmpty, "and removed the marker")

        let second = try RunningWatch([test.path.description, "--no-self-protection"])
        #expect(second.output.contains("watching 1 cgroup"), "\(second.output)")
        #expect(!second.output.contains("left disabled"), "\(second.output)")
        #expect(second.stop() == 0)
        #expect(try markerNames(test.path).isEmpty)
    }

    /// A marker names its watch by PID, start time and PID namespace: the PID of a dead watch used again
    /// by another process does not pass for that watch — the next watch restores the killer it left
    /// disabled, where it once refused as if that process were a watch and left the cgroup armed with no
    /// one to hand its OOMs back. The same PID with its own start time is a live watch: refused.
    @Test(.enabled(if: memoryHierarchyIsV1, "the kernel killer is held back on v1 only"))
    func aDeadWatchsPIDUsedAgainIsNotTakenForIt() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let standIn = try #require(ProcessRunner.spawn("/bin/sleep", ["30"]), "the process that got the PID")
        defer {
            kill(standIn, SIGKILL)
            _ = ProcessRunner.wait(for: standIn)
        }
        let start = try #require(MarkerOwner.startTicks(of: String(standIn)))
        let namespace = try #require(MarkerOwner.current.namespace)
        let memory = try memory(test.path)
        func arm(as owner: MarkerOwner) throws {
            try memory.setOOMKillDisabled(true)
            try memory.cgroup.setExtendedAttribute(
                KillerDisabledMarker.attribute, KillerDisabledMarker(owner: owner).encoded)
        }
        defer {
            try? memory.cgroup.removeExtendedAttribute(KillerDisabledMarker.attribute)
            try? memory.setOOMKillDisabled(false)
        }

        // The dead watch started a second before the process that has its PID now (start times within a
        // tick are one: MarkerOwner.sameStart, for time namespaces whose offsets are not whole ticks).
        try arm(as: MarkerOwner(pid: standIn, startTime: start - 100, namespace: namespace))
        let watch = try RunningWatch([test.path.description, "--no-self-protection"])
        #expect(watch.output.contains("watching 1 cgroup"), "\(watch.output)")
        #expect(watch.output.contains("left disabled"), "the leftover is restored: \(watch.output)")
        #expect(watch.stop() == 0)
        #expect(try !memory.oomControl().oomKillDisable)

        try arm(as: MarkerOwner(pid: standIn, startTime: start, namespace: namespace))
        let refused = ProcessRunner.oomctl(
            ["watch", test.path.description, "--no-self-protection"], timeout: .seconds(20))
        #expect(refused.status == 75, "\(refused)")
        #expect(refused.standardError.contains("another oomctl watch (pid \(standIn))"), "\(refused)")
    }

    /// A watch in a PID namespace of its own (a container: it is PID 1 there) is recognised from the host
    /// by its namespace and start time: a second watch is refused while it runs, naming its namespace;
    /// once it died with its guardian, the next watch restores what it left — where a bare "1" once
    /// passed for the host's init, alive for ever, and the cgroup stayed armed.
    @Test(.enabled(if: memoryHierarchyIsV1 && access("/usr/bin/unshare", X_OK) == 0, "v1, and unshare(1)"))
    func aWatchOfAnotherPIDNamespaceIsToldApart() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let memory = try memory(test.path)
        let inner = try RunningWatch(
            [test.path.description, "--no-self-protection"],
            launcher: ["/usr/bin/unshare", "--pid", "--fork", "--mount-proc", "--kill-child"])
        #expect(inner.output.contains("watching 1 cgroup"), "\(inner.output)")
        let marker = try #require(KillerDisabledMarker.read(from: memory.cgroup))
        #expect(marker.pid == 1, "PID 1 of its namespace")
        #expect(marker.owner.namespace != MarkerOwner.current.namespace)
        #expect(marker.owner.liveness == .alive)

        let refused = ProcessRunner.oomctl(
            ["watch", test.path.description, "--no-self-protection"], timeout: .seconds(20))
        #expect(refused.status == 75, "\(refused)")
        #expect(refused.standardError.contains("(pid 1 in another PID namespace, pid:["), "\(refused)")

        // watch (the namespace's init, unshare's child) and its guardian die together, the guardian
        // stopped first so that it restores nothing: the marker is a leftover of a namespace now gone.
        let namespaceInit = try #require(GuardianHardeningTests.children(of: inner.pid).first)
        let guardian = try #require(GuardianHardeningTests.children(of: namespaceInit).first)
        kill(guardian, SIGSTOP)
        inner.stop(signal: SIGKILL)
        let gone = GuardianHardeningTests.time(.seconds(5)) { kill(guardian, 0) != 0 && kill(namespaceInit, 0) != 0 }
        #expect(gone != nil)
        #expect(try memory.oomControl().oomKillDisable, "left armed, with its marker")
        #expect(KillerDisabledMarker.read(from: memory.cgroup)?.owner.isLeftover == true)

        let next = try RunningWatch([test.path.description, "--no-self-protection"])
        #expect(next.output.contains("watching 1 cgroup"), "\(next.output)")
        #expect(next.output.contains("left disabled"), "\(next.output)")
        #expect(next.stop() == 0)
        #expect(try !memory.oomControl().oomKillDisable)
        #expect(KillerDisabledMarker.read(from: memory.cgroup) == nil)
    }

    /// A claim holds an flock on the cgroup's directory while it reads, removes and sets the marker (two
    /// watches replacing one leftover at once). Anyone who may open the directory can hold that lock:
    /// a watch does not wait for it (three tries 1 ms apart), and still replaces a dead watch's marker.
    @Test(.enabled(if: memoryHierarchyIsV1, "the kernel killer is held back on v1 only"))
    func someoneHoldingTheDirectorysLockDoesNotStopAClaim() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let memory = try memory(test.path)
        let held = open(test.hierarchy.mountPoint + test.path.description, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try #require(held >= 0)
        defer { close(held) }
        #expect(flock(held, LOCK_EX | LOCK_NB) == 0, "the test holds the lock")
        #expect(KernelKillerControl.lockBriefly(memory.cgroup.directoryDescriptor) == false, "held: not taken")
        let gone = try #require(ProcessRunner.spawn("/bin/true", []), "a process that is gone once reaped")
        _ = ProcessRunner.wait(for: gone)
        let dead = MarkerOwner(pid: gone, startTime: 1, namespace: MarkerOwner.current.namespace)
        try memory.setOOMKillDisabled(true)
        try memory.cgroup.setExtendedAttribute(
            KillerDisabledMarker.attribute, KillerDisabledMarker(owner: dead).encoded)
        let clock = ContinuousClock()
        let started = clock.now
        let watch = try RunningWatch([test.path.description, "--no-self-protection"])
        #expect(watch.output.contains("watching 1 cgroup"), "\(watch.output)")
        #expect(clock.now - started < .seconds(5))
        #expect(KillerDisabledMarker.read(from: memory.cgroup)?.pid == watch.pid, "the dead watch's marker replaced")
        #expect(try memory.oomControl().oomKillDisable)
        #expect(watch.stop() == 0)
        #expect(try !memory.oomControl().oomKillDisable)
    }

    /// A watch in a time namespace of its own (a container's, a checkpoint restored by CRIU), whose boot
    /// time is shifted by a day here: /proc/PID/stat shows a process's start shifted by the reader's
    /// offset, so its marker's start time used to differ from what the host read, its live watch was
    /// taken for a dead one, and a second watch took the armed cgroup over. Start times are now counted
    /// as the initial time namespace counts them.
    @Test(.enabled(if: memoryHierarchyIsV1 && access("/usr/bin/unshare", X_OK) == 0, "v1, and unshare(1)"))
    func aWatchOfAnotherTimeNamespaceIsAliveForTheHost() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let memory = try memory(test.path)
        let inner = try RunningWatch(
            [test.path.description, "--no-self-protection"],
            launcher: ["/usr/bin/unshare", "--time", "--boottime", "86400"])
        #expect(inner.output.contains("watching 1 cgroup"), "\(inner.output)")
        #expect(
            ProcessRunner.readText("/proc/\(inner.pid)/timens_offsets").contains("86400"),
            "it runs in the shifted time namespace")
        let marker = try #require(KillerDisabledMarker.read(from: memory.cgroup))
        #expect(marker.pid == inner.pid)
        #expect(marker.owner.liveness == .alive, "\(marker.owner)")

        let refused = ProcessRunner.oomctl(
            ["watch", test.path.description, "--no-self-protection"], timeout: .seconds(20))
        #expect(refused.status == 75, "\(refused)")
        #expect(refused.standardError.contains("another oomctl watch (pid \(inner.pid))"), "\(refused)")
        #expect(try memory.oomControl().oomKillDisable, "the inner watch's arming stands")
        #expect(inner.stop() == 0)
        #expect(try !memory.oomControl().oomKillDisable)
    }

    /// The boottime line of /proc/self/timens_offsets, in clock ticks: negative offsets round down.
    @Test func timeNamespaceOffsetsAreReadInTicks() {
        let text = "monotonic           0         0\nboottime       86400         0\n"
        #expect(MarkerOwner.offsetTicks(inTimeNamespaceOffsets: text, ticksPerSecond: 100) == 8_640_000)
        #expect(MarkerOwner.offsetTicks(inTimeNamespaceOffsets: "boottime -1 500000000\n", ticksPerSecond: 100) == -50)
        #expect(MarkerOwner.offsetTicks(inTimeNamespaceOffsets: "boottime 0 15000000\n", ticksPerSecond: 100) == 1)
        #expect(MarkerOwner.offsetTicks(inTimeNamespaceOffsets: "monotonic 5 0\n", ticksPerSecond: 100) == 0)
        #expect(MarkerOwner.offsetTicks(inTimeNamespaceOffsets: "", ticksPerSecond: 100) == 0)
    }

    /// `watch /` and `watch --pid` of a kernel thread (whose cgroup is the root) are refused before
    /// anything is changed: no marker on the root, no killer touched.
    @Test func theRootIsRefusedUpFront() throws {
        let system = try CgroupSystem()
        let root = try Cgroup.open(.root, in: system.memoryHierarchy())
        let before = root.extendedAttributeNames()
        var refusals = [(["watch", "/"], "'/' is the root cgroup, which has no limit of its own")]
        if let thread = someKernelThread() {
            refusals.append((["watch", "--pid", String(thread)], "PID \(thread) is in the root cgroup"))
        }
        for (arguments, message) in refusals {
            let result = ProcessRunner.oomctl(arguments + ["--no-self-protection"])
            #expect(result.status == 64, "\(result)")
            #expect(result.standardError.contains(message), "\(result)")
            #expect(result.standardError.contains("--recursive"), "it says what to do instead")
            #expect(result.standardOutput.isEmpty, "nothing was watched: \(result)")
        }
        #expect(root.extendedAttributeNames() == before, "no marker on the root")
        #expect(!root.extendedAttributeNames().contains(KillerDisabledMarker.attribute))
    }

    /// A sandbox run killed with SIGKILL leaves its cgroup; the next run removes it, and only what it
    /// can prove is such a leftover: empty, named for a PID that is gone, marked by a sandbox.
    @Test func theNextSandboxRunRemovesWhatAKilledOneLeft() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let outputPath = ProcessRunner.temporaryPath("simulate.out")
        defer { unlink(outputPath) }
        let killed = try #require(
            ProcessRunner.spawn(
                ProcessRunner.oomctlPath,
                [
                    "simulate", "--parent", test.path.description, "--kill", "none", "--delay", "30s", "--hog-rate",
                    "64M",
                ],
                standardOutput: outputPath))
        let clock = ContinuousClock()
        var deadline = clock.now + .seconds(15)
        while !ProcessRunner.readText(outputPath).contains("detected"), clock.now < deadline { usleep(20_000) }
        #expect(ProcessRunner.readText(outputPath).contains("detected"), "\(ProcessRunner.readText(outputPath))")
        kill(killed, SIGKILL)
        _ = ProcessRunner.wait(for: killed)
        let leftover = "oomctl-simulate-\(killed)"
        #expect(childCgroups(of: test) == [leftover], "SIGKILL leaves the sandbox behind")
        // Its guardian gives the OOM back to the kernel, which kills the hog: the cgroup empties.
        let procs = test.directory + "/" + leftover + "/cgroup.procs"
        deadline = clock.now + .seconds(15)
        while !ProcessRunner.readText(procs).isEmpty, clock.now < deadline { usleep(50_000) }
        #expect(ProcessRunner.readText(procs).isEmpty)
        // Not the run's to remove: a cgroup of the same form a user made (no marker), and a leftover
        // that still has a process in it.
        let gone = try #require(ProcessRunner.spawn("/bin/true", []))
        _ = ProcessRunner.wait(for: gone)
        try test.makeChild("oomctl-simulate-\(gone)")
        let busy = try #require(ProcessRunner.spawn("/bin/true", []))
        _ = ProcessRunner.wait(for: busy)
        let busyPath = try test.makeChild("oomctl-simulate-\(busy)")
        var namespace = [CChar](repeating: 0, count: 64)
        let length = readlink("/proc/self/ns/pid", &namespace, 63)
        let marker =
            "\(busy) " + String(decoding: namespace.prefix(max(length, 0)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        try Cgroup.open(busyPath, in: test.hierarchy).setExtendedAttribute("trusted.oomctl.sandbox", Array(marker.utf8))
        _ = try test.spawn(["/bin/sleep", "30"], in: busyPath)

        let (result, json) = try simulate(["--kill", "largest", "--hog-rate", "64M"], in: test)
        #expect(result.status == 0, "\(result)")
        let removed = json.entries("leftover-removed")
        #expect(
            removed.count == 1 && removed.first?.cgroup == test.path.appending(leftover).description, "\(json.events)")
        #expect(removed.first?.pid == killed)
        #expect(
            removed.first?.message.contains("left by a run killed before its clean-up (PID \(killed) is gone)") == true)
        let kept = json.entries("leftover-kept")
        #expect(kept.count == 1 && kept.first?.message.hasSuffix("it still has 1 process") == true, "\(json.events)")
        #expect(json.removed)
        #expect(childCgroups(of: test).sorted() == ["oomctl-simulate-\(busy)", "oomctl-simulate-\(gone)"].sorted())
    }

    /// The one rule on both versions: a removed target is watched again when a cgroup is made at its
    /// path, even when its parent went too (each level is awaited in turn); watch goes on meanwhile.
    @Test func aTargetRemovedWithItsParentIsWatchedAgainWhenMadeAnew() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let target = try test.makeChild("unit/service")
        let watch = try RunningWatch([target.description, "--no-self-protection", "--json"])
        #expect(watch.output.contains("watching 1 cgroup"), "\(watch.output)")
        let unit = test.directory + "/unit"
        for round in 1...2 {
            #expect(rmdir(unit + "/service") == 0 && rmdir(unit) == 0)
            #expect(
                watch.waitFor {
                    $0.records.filter { $0["message"]?.contains("was removed; it is watched again") == true }.count
                        == round
                },
                "\(watch.output)")
            usleep(100_000)
            try test.makeChild("unit/service")
            #expect(
                watch.waitFor {
                    $0.records.filter { $0["message"]?.contains("made anew and is watched again") == true }.count
                        == round
                },
                "round \(round): \(watch.output)")
            if test.hierarchy.version == .v1 {
                #expect(try memory(target).oomControl().oomKillDisable, "held again, so watched again")
            }
        }
        #expect(watch.stop() == 0)
        if test.hierarchy.version == .v1 { #expect(try !memory(target).oomControl().oomKillDisable) }
    }

    /// Two targets below one parent that is removed: both are watched again when made anew (the second to
    /// await the parent replaced the first, which was never watched again).
    @Test func twoTargetsBelowARemovedParentAreBothWatchedAgain() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let first = try test.makeChild("unit/a")
        let second = try test.makeChild("unit/b")
        let watch = try RunningWatch([first.description, second.description, "--no-self-protection", "--json"])
        let unit = test.directory + "/unit"
        #expect(rmdir(unit + "/a") == 0 && rmdir(unit + "/b") == 0 && rmdir(unit) == 0)
        #expect(
            watch.waitFor {
                $0.records.filter { $0["message"]?.contains("was removed; it is watched again") == true }.count == 2
            }, "\(watch.output)")
        usleep(100_000)
        try test.makeChild("unit/a")
        try test.makeChild("unit/b")
        #expect(
            watch.waitFor {
                $0.records.filter { $0["message"]?.contains("made anew and is watched again") == true }.count == 2
            }, "both watched again: \(watch.output)")
        if test.hierarchy.version == .v1 {
            #expect(try memory(first).oomControl().oomKillDisable && memory(second).oomControl().oomKillDisable)
        }
        #expect(watch.stop() == 0)
    }
}
