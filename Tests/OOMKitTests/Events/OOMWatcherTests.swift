import CLinux
import Glibc
import OOMTestSupport
import SystemPackage
import Testing

@testable import OOMKit

/// The offsets OOMWatcher reads inotify records with are those of the C library's struct inotify_event.
@Suite struct InotifyRecordLayoutTests {
    @Test func matchesTheCStruct() {
        typealias Record = OOMWatcher.InotifyRecord
        #expect(Record.headerSize == MemoryLayout<inotify_event>.size)
        #expect(Record.watchDescriptorOffset == MemoryLayout<inotify_event>.offset(of: \.wd))
        #expect(Record.maskOffset == MemoryLayout<inotify_event>.offset(of: \.mask))
        #expect(Record.nameLengthOffset == MemoryLayout<inotify_event>.offset(of: \.len))
        #expect(Record.readSize >= Record.headerSize + Int(NAME_MAX) + 1)
    }
}

/// A watch that fails reports the error of the call that failed, never one made up for it.
@Suite struct OOMWatcherFailureTests {
    @Test func aFailedV1RegistrationReportsTheRealErrno() throws {
        let tree = FixtureTree.hybridV1()
        tree.v1Cgroup("/job", usage: 1 << 20, limit: 8 << 20)  // a plain directory: no cgroup.event_control
        let system = try CgroupSystem(root: tree.root)
        let memory = try MemoryCgroup.open(try CgroupPath("/job"), in: system)
        let watcher = try OOMWatcher(loop: try EventLoop())
        let error = #expect(throws: CgroupError.self) { try watcher.watch(memory) }
        guard case .system(let failure) = error else {
            Issue.record("expected a system call error, got \(String(describing: error))")
            return
        }
        #expect(failure.code == .noSuchFileOrDirectory)
        #expect(failure.path == memory.cgroup.filesystemPath + "/cgroup.event_control")
        #expect(!watcher.isWatching(memory.path))
    }
}

@Suite struct PressureTriggerTests {
    @Test func parsesAndFormats() throws {
        let trigger = try PressureTrigger(parsing: "some 150ms 1s")
        #expect(trigger.kernelText == "some 150000 1000000")
        #expect(trigger.description == "some 150ms 1s")
        #expect(try PressureTrigger(parsing: "full  100ms   2s").full)
    }

    /// Without CAP_SYS_RESOURCE the kernel takes only windows that are multiples of 2 s: the window is
    /// rounded up and the stall scaled with it, also for a stall of seconds (whose product with the
    /// window in nanoseconds is above Int64.max; the fuzzer found "some 4.33s 5s" trapping).
    @Test(arguments: [
        ("some 150ms 1s", "some 300000 2000000"), ("full 4.33s 5s", "full 5196000 6000000"),
        ("some 9.9s 9.9s", "some 10000000 10000000"), ("some 1s 3s", "some 1333333 4000000"),
    ])
    func theUnprivilegedEquivalentRoundsTheWindowUp(text: String, kernelText: String) throws {
        let trigger = try PressureTrigger(parsing: text)
        #expect(trigger.unprivilegedEquivalent?.kernelText == kernelText)
    }

    @Test func aWindowOfWholeTwoSecondsNeedsNoEquivalent() throws {
        #expect(try PressureTrigger(parsing: "some 1s 2s").unprivilegedEquivalent == nil)
        #expect(try PressureTrigger(parsing: "full 10s 10s").unprivilegedEquivalent == nil)
    }

    @Test(arguments: ["", "some", "partial 1ms 1s", "some 2s 1s", "some 1ms 20s", "some 0ms 1s", "some x 1s"])
    func rejects(text: String) {
        #expect(throws: ParseError.self) { try PressureTrigger(parsing: text) }
    }
}

/// The event sources on the machine's real v1 memory hierarchy.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct OOMWatcherTests {
    @Test func aV1OOMWakesTheWatcherAndRemovalIsReported() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let memory = try MemoryCgroup.open(test.path, in: CgroupSystem())
        guard memory.version == .v1 else {
            try skip("needs cgroup v1 memory (memory.oom_control); this machine has v2")
            return
        }
        try memory.setOOMKillDisabled(true)
        let loop = try EventLoop()
        let watcher = try OOMWatcher(loop: loop)
        try watcher.watch(memory)
        #expect(watcher.next(timeout: .milliseconds(100)) == nil, "no event before the OOM")

        let hog = try test.spawnHog("200M")
        let event = try #require(watcher.next(timeout: .seconds(10)))
        #expect(event.kind == .oom && event.cgroup == test.path)
        #expect(try memory.oomControl().underOOM)
        try memory.setOOMKillDisabled(false)
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(10)) == 128 + SIGKILL)

        let child = try test.makeChild("short-lived")
        let childMemory = try MemoryCgroup.open(child, in: CgroupSystem())
        try watcher.watch(childMemory)
        #expect(rmdir(test.filesystemPath(child)) == 0)
        // Late OOM notifications of the parent (the stalled hog retried) may come first.
        var removal: OOMEvent?
        while let event = watcher.next(timeout: .seconds(5)) {
            if event.kind == .removed {
                removal = event
                break
            }
            #expect(event.kind == .oom && event.cgroup == test.path, "unexpected \(event)")
        }
        #expect(removal?.cgroup == child)
        #expect(!watcher.isWatching(child))
        #expect(watcher.isWatching(test.path))
    }

    @Test func manyCgroupsCostNoWakeupsWhileIdle() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let loop = try EventLoop()
        let watcher = try OOMWatcher(loop: loop)
        for index in 0..<50 {
            try watcher.watch(MemoryCgroup.open(try test.makeChild("c\(index)"), in: CgroupSystem()))
        }
        #expect(watcher.watched.count == 50)
        #expect(loop.runOnce(timeout: .milliseconds(300)) == 0, "nothing happens, nothing wakes")
    }

    @Test func timersAndSignalsAreEventsToo() throws {
        let loop = try EventLoop()
        let timer = try DeadlineTimer()
        var fired = 0
        try loop.add(timer.descriptor) { _ in
            timer.acknowledge()
            fired += 1
        }
        timer.arm(after: .milliseconds(20))
        loop.runOnce(timeout: .seconds(2))
        #expect(fired == 1)
        timer.arm(after: .milliseconds(50))
        timer.disarm()
        #expect(loop.runOnce(timeout: .milliseconds(120)) == 0)
    }
}

/// A kernel that refuses the v1 eventfd registration with EOPNOTSUPP (PREEMPT_RT kernels do) is named
/// as such; other failures stay what they are.
@Suite struct OOMNotificationRefusalTests {
    @Test func eopnotsuppIsTheKernelRefusingV1Notifications() {
        let path = "/sys/fs/cgroup/memory/x/memory.oom_control"
        let refused = CgroupError.system(SystemCallError("write", path: "/x/cgroup.event_control", errno: EOPNOTSUPP))
        let error = OOMWatcher.registrationError(refused, oomControl: path)
        #expect(error == .oomNotificationsRefused(path))
        #expect(error.kind == .unavailable)
        #expect(
            error.description.contains("this kernel refuses v1 OOM notifications (EOPNOTSUPP): PREEMPT_RT kernels do"))
        #expect(error.description.contains("use cgroup v2"), "\(error)")
        let other = CgroupError.system(SystemCallError("write", path: "/x/cgroup.event_control", errno: EINVAL))
        #expect(OOMWatcher.registrationError(other, oomControl: path) == other)
    }
}

/// What a removed cgroup leaves in the watcher: nothing (issue: one fd and one inotify watch leaked per
/// removed child under --recursive, 9,500 cycles took watch to its fd limit).
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct OOMWatcherRemovalTests {
    /// The open descriptors of this process on what is below `directory` (the test's cgroups): only those,
    /// since the suites running beside this one open and close descriptors of their own meanwhile.
    private func openDescriptors(below directory: String) -> Int {
        guard let listing = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(listing) }
        var count = 0
        while let entry = readdir(listing) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            var target = [CChar](repeating: 0, count: 4096)
            let length = readlink("/proc/self/fd/" + name, &target, target.count - 1)
            guard length > 0 else { continue }
            let path = String(decoding: target.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if path.hasPrefix(directory + "/") { count += 1 }
        }
        return count
    }

    @Test func removedChildrenReleaseTheirWatchesAndDescriptors() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let system = try CgroupSystem()
        let parent = try MemoryCgroup.open(test.path, in: system)
        let loop = try EventLoop()
        let watcher = try OOMWatcher(loop: loop)
        var created: [MemoryCgroup] = []
        watcher.onChildCreated = { created.append($0) }
        try watcher.watch(parent)
        try watcher.followChildren(of: parent)
        let baseline = openDescriptors(below: test.directory)
        let directoriesBefore = watcher.directoryWatchCount
        for cycle in 0..<30 {
            let path = try test.makeChild("c\(cycle)")
            while created.isEmpty { loop.runOnce(timeout: .seconds(2)) }
            let child = created.removeFirst()
            #expect(child.path == path)
            try watcher.watch(child)
            try watcher.followChildren(of: child)
            #expect(rmdir(test.filesystemPath(path)) == 0)
            var removed = false
            while !removed, let event = watcher.next(timeout: .seconds(5)) { removed = event.kind == .removed }
            #expect(removed, "cycle \(cycle): the removal was reported")
            withExtendedLifetime(child) {}
        }
        created = []
        #expect(watcher.watched == [test.path])
        #expect(watcher.directoryWatchCount == directoriesBefore, "no directory watch is left of removed children")
        #expect(
            openDescriptors(below: test.directory) <= baseline, "30 create/remove cycles leave no descriptor behind")
    }
}
