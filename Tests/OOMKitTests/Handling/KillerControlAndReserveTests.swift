import Glibc
import OOMTestSupport
import Testing

@testable import OOMKit

/// ``KernelKillerControl``, ``ReserveGrants`` and the ``Guardian`` loop on fixture v1 cgroups.
///
/// The crash-recovery markers are `trusted.*` extended attributes, which only a privileged process may
/// set. Where this process cannot (not root), the tests check what they can without them: the cgroup
/// files written, the guardian's messages, and that cgroups without a marker are left alone; the marker
/// parts are checked only when the fixture takes `trusted.*` attributes (root on ext4 or tmpfs).
/// Not testable on a fixture: EBUSY from lowering a v1 limit below usage (a regular file never refuses a
/// write), so the 50 ms restore retries are left to the real-kernel tests.
@Suite(.serialized) struct KillerControlAndReserveTests {
    static let directory = "sys/fs/cgroup/memory/job"
    static let limit: UInt64 = 64 << 20
    static let reserve: UInt64 = 16 << 20

    /// Same-length numbers throughout (64M, 80M; 96M, 112M), since a write to a fixture file does not
    /// truncate it, as none to cgroupfs needs to.
    static func tree(memsw: UInt64? = nil) -> FixtureTree {
        let tree = FixtureTree.hybridV1()
        tree.v1Cgroup("/job", usage: 48 << 20, limit: limit)
        if let memsw { tree.file(directory + "/memory.memsw.limit_in_bytes", "\(memsw)\n") }
        return tree
    }

    static func open(_ tree: FixtureTree, _ path: String = "/job") throws -> MemoryCgroup {
        try MemoryCgroup.open(cgroupPath(path), in: CgroupSystem(root: tree.root))
    }

    /// A guardian that is only `cat`: what watch tells it lands in a file.
    static func recordingGuardian(_ tree: FixtureTree) throws -> (GuardianClient, String) {
        let file = tree.root + "/guardian-messages"
        let client = try GuardianClient(
            launch: GuardianLaunch(executable: "/bin/sh", arguments: ["sh", "-c", "cat > \(shellQuoted(file))"]))
        return (client, file)
    }

    // MARK: Kernel killer

    @Test func disableWritesOneAndRestoreWritesZero() throws {
        let tree = Self.tree()
        let memory = try Self.open(tree)
        let file = Self.directory + "/memory.oom_control"
        let original = ProcessRunner.readText(tree.root + "/" + file)
        let (guardian, messages) = try Self.recordingGuardian(tree)
        let control = KernelKillerControl(guardian: guardian)
        let markers = trustedAttributesWork(on: memory.cgroup)

        try control.disable(memory)
        #expect(ProcessRunner.readText(tree.root + "/" + file) == "1" + original.dropFirst())
        #expect(control.disabledCgroups == [cgroupPath("/job")])
        if markers {
            #expect(KillerDisabledMarker.read(from: memory.cgroup) == KillerDisabledMarker())
        } else {
            #expect(KillerDisabledMarker.read(from: memory.cgroup) == nil, "no trusted.* attributes here")
        }

        control.restore(cgroupPath("/job"))
        #expect(ProcessRunner.readText(tree.root + "/" + file) == "0" + original.dropFirst())
        #expect(control.disabledCgroups.isEmpty)
        #expect(KillerDisabledMarker.read(from: memory.cgroup) == nil)

        // Restoring what this process did not disable writes nothing.
        tree.file(file, oomControlText(disabled: true, underOOM: false))
        control.restore(cgroupPath("/job"))
        #expect(ProcessRunner.readText(tree.root + "/" + file) == oomControlText(disabled: true, underOOM: false))

        guardian.shutDown()
        let path = memory.cgroup.filesystemPath + "/memory.oom_control"
        #expect(ProcessRunner.readText(messages) == "+\(path)\n-\(path)\n")
    }

    @Test func restoreAllAndForget() throws {
        let tree = Self.tree()
        tree.v1Cgroup("/other", usage: 1 << 20, limit: Self.limit)
        let control = KernelKillerControl(guardian: nil)
        try control.disable(Self.open(tree))
        try control.disable(Self.open(tree, "/other"))
        #expect(control.disabledCgroups == [cgroupPath("/job"), cgroupPath("/other")])
        control.forget(cgroupPath("/other"))
        tree.file("sys/fs/cgroup/memory/other/memory.oom_control", "sentinel\n")
        control.restoreAll()
        #expect(control.disabledCgroups.isEmpty)
        #expect(ProcessRunner.readText(tree.root + "/" + Self.directory + "/memory.oom_control").hasPrefix("0"))
        #expect(
            ProcessRunner.readText(tree.root + "/sys/fs/cgroup/memory/other/memory.oom_control") == "sentinel\n",
            "a forgotten cgroup is not written")
    }

    @Test func disableIsANoOpOnV2() throws {
        let tree = FixtureTree.unifiedV2()
        tree.v2Cgroup("/app", usage: 1 << 20, max: 64 << 20)
        let control = KernelKillerControl(guardian: nil)
        try control.disable(Self.open(tree, "/app"))
        #expect(control.disabledCgroups.isEmpty)
        #expect(access(tree.root + "/sys/fs/cgroup/app/memory.oom_control", F_OK) != 0)
    }

    @Test func aMissingControlFileIsAnError() throws {
        let tree = Self.tree()
        unlink(tree.root + "/" + Self.directory + "/memory.oom_control")
        let (guardian, messages) = try Self.recordingGuardian(tree)
        let control = KernelKillerControl(guardian: guardian)
        let memory = try Self.open(tree)
        #expect(throws: CgroupError.self) { try control.disable(memory) }
        #expect(control.disabledCgroups.isEmpty, "a cgroup whose killer could not be disabled is not listed")
        // Nothing says there is a killer to restore: no marker (a next start would call it a leftover),
        // and the guardian is told to forget it.
        #expect(!memory.cgroup.extendedAttributeNames().contains(KillerDisabledMarker.attribute))
        guardian.shutDown()
        let path = memory.cgroup.filesystemPath + "/memory.oom_control"
        #expect(ProcessRunner.readText(messages) == "+\(path)\n-\(path)\n")
    }

    /// A marker left on a killer that is back (a guardian restored it, the marker stayed): removed, but
    /// not reported as a killer re-enabled, so that watch does not warn of a leftover that is not there.
    @Test func aStaleMarkerOnAnEnabledKillerIsRemovedWithoutAWord() throws {
        let tree = Self.tree()
        let file = tree.root + "/" + Self.directory + "/memory.oom_control"
        tree.file(Self.directory + "/memory.oom_control", oomControlText(disabled: false, underOOM: false))
        let job = try Self.open(tree)
        guard trustedAttributesWork(on: job.cgroup) else {
            try skip("trusted.* extended attributes do not work here (needs root and a file system with them)")
            return
        }
        try job.cgroup.setExtendedAttribute(
            KillerDisabledMarker.attribute, KillerDisabledMarker(owner: MarkerOwner(pid: deadPID())).encoded)
        #expect(KernelKillerControl.restoreLeftovers([job]).isEmpty)
        #expect(KillerDisabledMarker.read(from: job.cgroup) == nil, "the stale marker is removed")
        #expect(ProcessRunner.readText(file).hasPrefix("0"))
    }

    @Test func leftoversAreRestoredOnlyWithADeadOwnersMarker() throws {
        let tree = Self.tree()
        tree.v1Cgroup("/mine", usage: 1 << 20, limit: Self.limit)
        tree.v1Cgroup("/plain", usage: 1 << 20, limit: Self.limit)
        let file = "/memory.oom_control"
        let disabledText = oomControlText(disabled: true, underOOM: false)
        for name in ["job", "mine", "plain"] { tree.file("sys/fs/cgroup/memory/\(name)" + file, disabledText) }
        let job = try Self.open(tree)
        let mine = try Self.open(tree, "/mine")
        let plain = try Self.open(tree, "/plain")

        // Without markers nothing is touched (all this can show without privilege).
        #expect(KernelKillerControl.restoreLeftovers([job, mine, plain]).isEmpty)
        for name in ["job", "mine", "plain"] {
            #expect(ProcessRunner.readText(tree.root + "/sys/fs/cgroup/memory/\(name)" + file) == disabledText)
        }
        guard trustedAttributesWork(on: job.cgroup) else {
            try skip("trusted.* extended attributes do not work here (needs root and a file system with them)")
            return
        }
        try job.cgroup.setExtendedAttribute(
            KillerDisabledMarker.attribute, KillerDisabledMarker(owner: MarkerOwner(pid: deadPID())).encoded)
        // A live owner (PID 1 stands for another watch): left alone.
        try mine.cgroup.setExtendedAttribute(
            KillerDisabledMarker.attribute, KillerDisabledMarker(owner: MarkerOwner(pid: 1)).encoded)
        try plain.cgroup.setExtendedAttribute(KillerDisabledMarker.attribute, Array("garbage".utf8))
        #expect(KernelKillerControl.restoreLeftovers([job, mine, plain]) == [cgroupPath("/job")])
        #expect(ProcessRunner.readText(tree.root + "/" + Self.directory + file) == "0" + disabledText.dropFirst())
        #expect(KillerDisabledMarker.read(from: job.cgroup) == nil, "the marker is removed")
        #expect(ProcessRunner.readText(tree.root + "/sys/fs/cgroup/memory/mine" + file) == disabledText)
        #expect(ProcessRunner.readText(tree.root + "/sys/fs/cgroup/memory/plain" + file) == disabledText)
        // A marker with this very PID, found at start-up, is a leftover: a restart in a PID namespace
        // gets the same PID again.
        try mine.cgroup.setExtendedAttribute(
            KillerDisabledMarker.attribute, KillerDisabledMarker(owner: MarkerOwner(pid: getpid())).encoded)
        #expect(KernelKillerControl.restoreLeftovers([mine]) == [cgroupPath("/mine")])
    }

    // MARK: Reserve grants

    @Test func grantRaisesTheLimitByTheRecordedReserveAndRestoreTakesItBack() throws {
        let tree = Self.tree(memsw: 96 << 20)
        let system = try CgroupSystem(root: tree.root)
        let memory = try MemoryCgroup.open(cgroupPath("/job"), in: system)
        let store = ReserveStore(system: system)
        let storage = try store.write(ReserveRecord(size: "16M", bytes: ByteCount(Self.reserve)), for: memory)
        if case .stateFile(let path) = storage { #expect(path.hasPrefix(tree.root + "/run/oomctl/reserves/")) }
        let loop = try EventLoop()
        let (guardian, messages) = try Self.recordingGuardian(tree)
        let grants = ReserveGrants(store: store, guardian: guardian, loop: loop)
        let limitFile = tree.root + "/" + Self.directory + "/memory.limit_in_bytes"
        let memswFile = tree.root + "/" + Self.directory + "/memory.memsw.limit_in_bytes"

        let grant = try #require(try grants.grant(memory))
        #expect(grant.bytes == ByteCount(Self.reserve) && grant.originalLimit == ByteCount(Self.limit))
        #expect(grant.raisedLimit == ByteCount(80 << 20) && grant.originalMemsw == ByteCount(96 << 20))
        #expect(ProcessRunner.readText(limitFile) == "\(80 << 20)\n")
        #expect(ProcessRunner.readText(memswFile) == "\(112 << 20)\n")
        #expect(grants.grantedCgroups == [cgroupPath("/job")] && grants.grant(for: cgroupPath("/job")) == grant)
        let markers = trustedAttributesWork(on: memory.cgroup)
        if markers {
            #expect(
                ReserveGrantMarker.read(from: memory.cgroup)
                    == ReserveGrantMarker(
                        owner: .current, originalLimit: grant.originalLimit, originalMemsw: grant.originalMemsw,
                        raisedLimit: ByteCount(80 << 20), raisedMemsw: ByteCount(112 << 20)))
            #expect(ReserveGrants.grantedNow(memory)?.originalLimit == ByteCount(Self.limit))
        }

        // A second grant while one is in force changes nothing.
        #expect(try grants.grant(memory) == grant)
        #expect(ProcessRunner.readText(limitFile) == "\(80 << 20)\n")

        var restored: [(ReserveGrant, String?)] = []
        grants.restore(cgroupPath("/job")) { restored.append(($0, $1)) }
        #expect(restored.count == 1 && restored.first?.1 == nil, "restored at once: usage fits")
        #expect(ProcessRunner.readText(limitFile) == "\(64 << 20)\n")
        #expect(ProcessRunner.readText(memswFile) == "\(96 << 20)\n")
        #expect(grants.grantedCgroups.isEmpty)
        #expect(ReserveGrantMarker.read(from: memory.cgroup) == nil)

        guardian.shutDown()
        let limitPath = memory.cgroup.filesystemPath + "/memory.limit_in_bytes"
        let memswPath = memory.cgroup.filesystemPath + "/memory.memsw.limit_in_bytes"
        #expect(
            ProcessRunner.readText(messages)
                == "=\(limitPath) \(64 << 20) \(80 << 20)\n=\(memswPath) \(96 << 20) \(112 << 20)\n-\(limitPath)\n-\(memswPath)\n",
            "the guardian learns what is written, to give back only that")
    }

    @Test func noGrantWithoutAReserveALimitOrOnV2() throws {
        let tree = Self.tree()
        tree.v1Cgroup("/unlimited", usage: 1 << 20, limit: nil)
        let system = try CgroupSystem(root: tree.root)
        let store = ReserveStore(system: system)
        let grants = ReserveGrants(store: store, guardian: nil, loop: try EventLoop())
        let job = try MemoryCgroup.open(cgroupPath("/job"), in: system)
        #expect(try grants.grant(job) == nil, "no reserve recorded")
        #expect(
            ProcessRunner.readText(tree.root + "/" + Self.directory + "/memory.limit_in_bytes") == "\(Self.limit)\n")

        let unlimited = try MemoryCgroup.open(cgroupPath("/unlimited"), in: system)
        _ = try store.write(ReserveRecord(size: "16M", bytes: ByteCount(Self.reserve)), for: unlimited)
        #expect(try grants.grant(unlimited) == nil, "nothing to raise")

        let v2 = FixtureTree.unifiedV2()
        v2.v2Cgroup("/app", usage: 1 << 20, max: 64 << 20)
        let v2System = try CgroupSystem(root: v2.root)
        let app = try MemoryCgroup.open(cgroupPath("/app"), in: v2System)
        _ = try ReserveStore(system: v2System).write(
            ReserveRecord(size: "16M", bytes: ByteCount(Self.reserve)), for: app)
        #expect(
            try ReserveGrants(store: ReserveStore(system: v2System), guardian: nil, loop: try EventLoop()).grant(app)
                == nil)
        #expect(grants.grantedCgroups.isEmpty)
    }

    @Test func aFailedGrantLeavesNothingBehind() throws {
        let tree = Self.tree(memsw: 96 << 20)
        let system = try CgroupSystem(root: tree.root)
        let memory = try MemoryCgroup.open(cgroupPath("/job"), in: system)
        let store = ReserveStore(system: system)
        _ = try store.write(ReserveRecord(size: "16M", bytes: ByteCount(Self.reserve)), for: memory)
        // A limit file that can be read but not written, so that the grant fails after memsw was raised:
        // read-only for an unprivileged user; immutable (chattr +i) for root, who ignores modes.
        let limitFile = tree.root + "/" + Self.directory + "/memory.limit_in_bytes"
        if getuid() == 0 {
            guard ProcessRunner.run("/usr/bin/chattr", ["+i", limitFile]).status == 0 else {
                try skip("chattr +i does not work on this file system")
                return
            }
        } else {
            chmod(limitFile, 0o444)
        }
        defer { if getuid() == 0 { _ = ProcessRunner.run("/usr/bin/chattr", ["-i", limitFile]) } }
        let (guardian, messages) = try Self.recordingGuardian(tree)
        let grants = ReserveGrants(store: store, guardian: guardian, loop: try EventLoop())
        #expect(throws: CgroupError.self) { try grants.grant(memory) }
        #expect(grants.grantedCgroups.isEmpty)
        #expect(
            ProcessRunner.readText(tree.root + "/" + Self.directory + "/memory.memsw.limit_in_bytes") == "\(96 << 20)\n"
        )
        #expect(ReserveGrantMarker.read(from: memory.cgroup) == nil)
        guardian.shutDown()
        let text = ProcessRunner.readText(messages)
        #expect(
            text.hasSuffix(
                "-\(memory.cgroup.filesystemPath)/memory.limit_in_bytes\n-\(memory.cgroup.filesystemPath)/memory.memsw.limit_in_bytes\n"
            ), "\(text)")
    }

    @Test func grantLeftoversAreRestoredOnlyWithADeadOwnersMarker() throws {
        let tree = Self.tree()
        tree.file(Self.directory + "/memory.limit_in_bytes", "\(80 << 20)\n")
        let memory = try Self.open(tree)
        let store = ReserveStore(system: try CgroupSystem(root: tree.root))
        let limitFile = tree.root + "/" + Self.directory + "/memory.limit_in_bytes"
        #expect(ReserveGrants.restoreLeftovers([memory], store: store).isEmpty, "no marker, nothing done")
        #expect(ProcessRunner.readText(limitFile) == "\(80 << 20)\n")
        guard trustedAttributesWork(on: memory.cgroup) else {
            try skip("trusted.* extended attributes do not work here (needs root and a file system with them)")
            return
        }
        // A live owner (PID 1 stands for another watch): left alone, and granted now.
        let live = ReserveGrantMarker(
            owner: MarkerOwner(pid: 1), originalLimit: ByteCount(Self.limit), originalMemsw: nil)
        try memory.cgroup.setExtendedAttribute(ReserveGrantMarker.attribute, live.encoded)
        #expect(ReserveGrants.restoreLeftovers([memory], store: store).isEmpty, "its owner is alive")
        #expect(ReserveGrants.grantedNow(memory)?.pid == 1)
        let dead = ReserveGrantMarker(
            owner: MarkerOwner(pid: try deadPID()), originalLimit: ByteCount(Self.limit), originalMemsw: nil)
        try memory.cgroup.setExtendedAttribute(ReserveGrantMarker.attribute, dead.encoded)
        #expect(ReserveGrants.grantedNow(memory) == nil)
        let result = ReserveGrants.restoreLeftovers([memory], store: store)
        #expect(result.map(\.0) == [cgroupPath("/job")] && result.map(\.1) == [.restored])
        #expect(ProcessRunner.readText(limitFile) == "\(64 << 20)\n")
        #expect(ReserveGrantMarker.read(from: memory.cgroup) == nil)
        // A marker saying what was written (80M) where someone wrote 96M since: theirs, left; the marker goes.
        tree.file(Self.directory + "/memory.limit_in_bytes", "\(96 << 20)\n")
        let changed = ReserveGrantMarker(
            owner: MarkerOwner(pid: try deadPID()), originalLimit: ByteCount(Self.limit), originalMemsw: nil,
            raisedLimit: ByteCount(80 << 20))
        try memory.cgroup.setExtendedAttribute(ReserveGrantMarker.attribute, changed.encoded)
        let left = ReserveGrants.restoreLeftovers([memory], store: store)
        #expect(left.count == 1)
        if case .changedByOthers? = left.first?.1 {} else { Issue.record("\(left)") }
        #expect(ProcessRunner.readText(limitFile) == "\(96 << 20)\n")
        #expect(ReserveGrantMarker.read(from: memory.cgroup) == nil)
    }

    /// v2: a dead watch's grant (memory.high raised to memory.max 64M from 48M) while memory.max was
    /// since raised to 96M. The next start gives back what the running watch would have: memory.max −
    /// reserve as they are now (80M), not the 48M of the grant's start, which would throttle the cgroup
    /// 32M below what its reserve asks.
    @Test func aV2GrantLeftoverGoesBackToMaxLessTheReserveAsTheyAreNow() throws {
        let tree = FixtureTree.unifiedV2()
        tree.v2Cgroup("/app", usage: 32 << 20, max: 96 << 20, high: 64 << 20)
        let system = try CgroupSystem(root: tree.root)
        let memory = try MemoryCgroup.open(cgroupPath("/app"), in: system)
        guard trustedAttributesWork(on: memory.cgroup) else {
            try skip("trusted.* extended attributes do not work here (needs root and a file system with them)")
            return
        }
        let store = ReserveStore(system: system)
        _ = try store.write(ReserveRecord(size: "16M", bytes: ByteCount(Self.reserve)), for: memory)
        let dead = ReserveGrantMarker(
            owner: MarkerOwner(pid: try deadPID()), originalLimit: ByteCount(48 << 20), originalMemsw: nil,
            raisedLimit: ByteCount(64 << 20))
        try memory.cgroup.setExtendedAttribute(ReserveGrantMarker.attribute, dead.encoded)
        let result = ReserveGrants.restoreLeftovers([memory], store: store)
        #expect(result.map(\.1) == [.restored], "\(result)")
        #expect(try memory.high() == ByteCount(80 << 20), "memory.max 96M − reserve 16M")
        #expect(ReserveGrantMarker.read(from: memory.cgroup) == nil)
    }

    /// v2: memory.max raised from 64M to 96M while a grant holds memory.high at 64M. The guardian is told
    /// the new value to give back (96M − the 16M reserve), so a watch that dies now does not leave the
    /// cgroup throttled at the 48M of the grant's start; the running watch's restore writes the same.
    @Test func aV2GrantsGuardianEntryFollowsAChangedMemoryMax() throws {
        let tree = FixtureTree.unifiedV2()
        tree.v2Cgroup("/app", usage: 32 << 20, max: 64 << 20, high: 48 << 20)
        let system = try CgroupSystem(root: tree.root)
        let memory = try MemoryCgroup.open(cgroupPath("/app"), in: system)
        let store = ReserveStore(system: system)
        _ = try store.write(ReserveRecord(size: "16M", bytes: ByteCount(Self.reserve)), for: memory)
        let (guardian, messages) = try Self.recordingGuardian(tree)
        let grants = ReserveGrants(store: store, guardian: guardian, loop: try EventLoop())
        let grant = try #require(try grants.grant(memory))
        #expect(grant.originalLimit == ByteCount(48 << 20) && grant.raisedLimit == ByteCount(64 << 20))
        #expect(try memory.high() == ByteCount(64 << 20))
        tree.file("sys/fs/cgroup/app/memory.max", "\(96 << 20)\n")
        grants.limitChanged(cgroupPath("/app"))
        grants.limitChanged(cgroupPath("/other"))  // no grant there: nothing said
        var restored: [(ReserveGrant, String?)] = []
        grants.restore(cgroupPath("/app")) { restored.append(($0, $1)) }
        #expect(restored.count == 1 && restored.first?.1 == nil, "\(restored)")
        #expect(try memory.high() == ByteCount(80 << 20), "the running watch's restore: 96M − 16M")
        guardian.shutDown()
        let high = memory.cgroup.filesystemPath + "/memory.high"
        let told = ProcessRunner.readText(messages)
        #expect(
            told.hasPrefix("=\(high) \(48 << 20) \(64 << 20)\n=\(high) \(80 << 20) \(64 << 20)\n-\(high)\n"),
            "the guardian learns the value the restore would write now: \(told)")
    }

    // MARK: Guardian

    /// The guardian's loop run in this process on a pipe: at end of file it writes the listed killers
    /// back to 0 and the saved values back, and leaves what was forgotten.
    @Test func guardianRestoresWhatIsStillListedAtEndOfFile() throws {
        let tree = Self.tree()
        tree.v1Cgroup("/done", usage: 1 << 20, limit: Self.limit)
        let base = tree.root + "/sys/fs/cgroup/memory"
        let disabledText = oomControlText(disabled: true, underOOM: true)
        tree.file("sys/fs/cgroup/memory/job/memory.oom_control", disabledText)
        tree.file("sys/fs/cgroup/memory/done/memory.oom_control", disabledText)
        tree.file("sys/fs/cgroup/memory/job/memory.limit_in_bytes", "\(80 << 20)\n")
        let messages: [GuardianMessage] = [
            .killerDisabled(path: base + "/job/memory.oom_control"),
            .killerDisabled(path: base + "/done/memory.oom_control"),
            .restoreOnExit(path: base + "/job/memory.limit_in_bytes", value: "\(72 << 20)", expected: nil),
            .restoreOnExit(path: base + "/job/memory.limit_in_bytes", value: "\(64 << 20)", expected: "\(80 << 20)"),
            .forget(path: base + "/done/memory.oom_control"),
            .killerDisabled(path: base + "/missing/memory.oom_control"),
        ]
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        var bytes = messages.flatMap(\.encoded)
        bytes += Array("garbage line\n".utf8)
        _ = bytes.withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) }
        close(ends[1])
        defer { close(ends[0]) }

        // The guardian ignores terminal signals and protects itself (oom_score_adj -1000, root only):
        // put this test process back as it was afterwards.
        let adjustment = ProcessRunner.readText("/proc/self/oom_score_adj")
        var saved: [(Int32, sighandler_t?)] = []
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { saved.append((signal, Glibc.signal(signal, SIG_IGN))) }
        defer {
            for (signal, handler) in saved { Glibc.signal(signal, handler) }
            FileIO.writeOOMScoreAdjustment(Int(adjustment.trimmingASCIIWhitespace()) ?? 0)
        }
        var log: [String] = []
        let restored = Guardian.run(input: ends[0], patience: .milliseconds(100)) { log.append($0) }

        #expect(restored.contains(base + "/job/memory.oom_control"))
        #expect(restored.contains(base + "/job/memory.limit_in_bytes"))
        #expect(!restored.contains(base + "/done/memory.oom_control"))
        #expect(!restored.contains(base + "/missing/memory.oom_control"), "a killer it could not write is not restored")
        #expect(ProcessRunner.readText(base + "/job/memory.oom_control") == "0" + disabledText.dropFirst())
        #expect(ProcessRunner.readText(base + "/done/memory.oom_control") == disabledText, "forgotten")
        #expect(ProcessRunner.readText(base + "/job/memory.limit_in_bytes") == "\(64 << 20)\n", "the last value given")
        #expect(log.contains { $0.contains("ignored a line") })
    }
}
