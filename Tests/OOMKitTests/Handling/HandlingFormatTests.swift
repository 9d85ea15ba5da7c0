import Glibc
import Testing

@testable import OOMKit

/// The guardian's pipe format and the two crash-recovery markers: the one encoder and parser of each,
/// round trips and garbage.
@Suite struct GuardianMessageTests {
    static let paths = [
        "/sys/fs/cgroup/memory/app/memory.oom_control",
        "/sys/fs/cgroup/memory/my app/with spaces /memory.limit_in_bytes",
        "/sys/fs/cgroup/memory/a=b==c/memory.limit_in_bytes",
        "/sys/fs/cgroup/memory/ünïcødé ☃ 日本/memory.oom_control",
        "/x/'quotes\" $dollar `tick`; semi/memory.memsw.limit_in_bytes",
        "/ends with space /memory.limit_in_bytes ",
        "/1234 5678",
    ]

    @Test(arguments: paths) func roundTripsEveryCase(path: String) {
        for message: GuardianMessage in [
            .killerDisabled(path: path), .forget(path: path), .handling(path: path),
        ]
            // A value is written to an interface file, whose name has no space (the cgroup's may).
            + (path.split(separator: "/").last?.contains(" ") == true
                ? []
                : [
                    .restoreOnExit(path: path, value: "67108864", expected: nil),
                    .restoreOnExit(path: path, value: "max", expected: "1024"),
                    .restoreOnExit(path: path, value: "0", expected: "1"),
                ])
        {
            let encoded = message.encoded
            #expect(encoded.last == UInt8(ascii: "\n"))
            #expect(encoded.filter { $0 == UInt8(ascii: "\n") }.count == 1)
            #expect(GuardianMessage(line: encoded.dropLast()) == message, "\(message)")
        }
    }

    @Test func encodingIsTheDocumentedLine() {
        #expect(GuardianMessage.killerDisabled(path: "/a").encoded == Array("+/a\n".utf8))
        #expect(GuardianMessage.forget(path: "/a").encoded == Array("-/a\n".utf8))
        #expect(
            GuardianMessage.restoreOnExit(path: "/a b/f", value: "42", expected: nil).encoded
                == Array("=/a b/f 42\n".utf8))
        #expect(
            GuardianMessage.restoreOnExit(path: "/a 1/f", value: "42", expected: "64").encoded
                == Array("=/a 1/f 42 64\n".utf8))
        #expect(GuardianMessage.hookGroup(123).encoded == Array("%123\n".utf8))
        #expect(GuardianMessage.hookEnded(123).encoded == Array("-%123\n".utf8))
        #expect(GuardianMessage.delay(.seconds(2)).encoded == Array("~2000\n".utf8))
        #expect(GuardianMessage.handling(path: "/a").encoded == Array("!/a\n".utf8))
    }

    /// `!PATH` says a handling begins: it lists nothing, carries no directory, and leaves the state as
    /// it was (a restarted guardian is not told it again).
    @Test func aHandlingsStartChangesNoListing() {
        var state = GuardianState()
        state.apply(.killerDisabled(path: "/a/memory.oom_control"))
        let before = state
        state.apply(.handling(path: "/a/memory.oom_control"))
        #expect(state == before)
        #expect(GuardianMessage.handling(path: "/a").path == nil)
        #expect(!GuardianMessage.handling(path: "/a").carriesDirectory)
        #expect(GuardianMessage(line: Array("!".utf8)) == nil)
    }

    @Test func newKindsRoundTrip() {
        for message: GuardianMessage in [
            .hookGroup(2), .hookGroup(Int32.max), .hookEnded(4242), .delay(.zero),
            .delay(.milliseconds(1500)),
        ] {
            #expect(GuardianMessage(line: message.encoded.dropLast()) == message, "\(message)")
        }
        // A cgroup whose name ends in a number is still a path, not a value.
        #expect(
            GuardianMessage(line: Array("=/x 12/memory.high 5".utf8))
                == .restoreOnExit(
                    path: "/x 12/memory.high", value: "5", expected: nil))
        for garbage in [
            "%", "%1", "%0", "%-5", "%12a", "-%", "-%x", "~", "~1.5", "~-1", "~1s", "=/a/f 1 2 3", "=/a/f 1 x",
            "=/a/f 01", "=/a/f 1 007",
            "=/a/f 123456789012345678901",
        ] {
            #expect(GuardianMessage(line: Array(garbage.utf8)) == nil, "\(garbage)")
        }
    }

    /// The guardian's state is what the messages add up to, and its replay says the same again.
    @Test func stateReplaysToItself() {
        var state = GuardianState()
        let messages: [GuardianMessage] = [
            .delay(.seconds(1)), .killerDisabled(path: "/a/memory.oom_control"),
            .restoreOnExit(path: "/a/memory.limit_in_bytes", value: "1", expected: "2"), .hookGroup(77),
            .hookGroup(78), .hookEnded(77), .killerDisabled(path: "/b/memory.oom_control"),
            .forget(path: "/b/memory.oom_control"),
        ]
        for message in messages { state.apply(message) }
        #expect(state.hookGroups == [78] && state.killers == ["/a/memory.oom_control"] && state.values.count == 1)
        var replayed = GuardianState()
        for message in state.messages { replayed.apply(message) }
        #expect(replayed == state)
    }

    /// One decision for the running watch, the guardian and the leftover restore.
    @Test func grantRestoreWritesBackOnlyWhatIsStillOurs() {
        let original = ByteCount(32 << 20)
        let raised = ByteCount(48 << 20)
        #expect(GrantRestore.decide(current: raised, written: raised, original: original) == .writeBack)
        #expect(GrantRestore.decide(current: original, written: raised, original: original) == .alreadyBack)
        #expect(
            GrantRestore.decide(current: ByteCount(64 << 20), written: raised, original: original)
                == .changedByOthers(current: ByteCount(64 << 20)))
        #expect(GrantRestore.decide(current: .unlimited, written: raised, original: original) != .writeBack)
        #expect(GrantRestore.decide(current: nil, written: raised, original: original) == .gone)
        #expect(
            GrantRestore.decide(current: ByteCount(64 << 20), written: nil, original: original) == .writeBack,
            "an earlier version's marker: nothing to compare with")
    }

    @Test(arguments: [
        "", "+", "-", "=", "x/path", " /path", "*/path", "/path", "0", "=/path", "=/path ", "= 123", "=/path 12a",
        "=/path -1", "=/path +1", "=/path MAX", "=/path max ", "=/path 1.5", "=/path 0x10", "=/path 64M",
        "+/a\nb", "-/a\n", "=/a 1\n", "=/a\n 1", "~08", "%0123", "-%07", "~77777777777777777",
    ])
    func rejectsGarbage(line: String) {
        #expect(GuardianMessage(line: Array(line.utf8)) == nil, "\(line.debugDescription)")
    }

    @Test func rejectsEmbeddedNUL() {
        #expect(GuardianMessage(line: Array("+/a".utf8) + [0] + Array("b".utf8)) == nil)
        #expect(GuardianMessage(line: Array("-/a".utf8) + [0]) == nil)
        #expect(GuardianMessage(line: Array("=/a".utf8) + [0] + Array(" 1".utf8)) == nil)
        #expect(GuardianMessage(line: [UInt8(ascii: "+"), 0]) == nil)
    }

    @Test func aPathIsNeverEmpty() {
        // The encoder takes any path; an empty one makes a line the parser refuses (and so ignores).
        #expect(GuardianMessage(line: GuardianMessage.killerDisabled(path: "").encoded.dropLast()) == nil)
        #expect(
            GuardianMessage(line: GuardianMessage.restoreOnExit(path: "", value: "1", expected: nil).encoded.dropLast())
                == nil)
    }

    @Test func parsesFromAnySlice() {
        let buffer = Array("junk+/a/b\n".utf8)
        #expect(GuardianMessage(line: buffer[4..<9]) == .killerDisabled(path: "/a/b"))
    }
}

@Suite struct HandlerMarkerTests {
    @Test(arguments: [Int32(1), 2, 4242, Int32.max]) func killerDisabledRoundTrips(pid: Int32) {
        let marker = KillerDisabledMarker(owner: MarkerOwner(pid: pid))
        #expect(marker.encoded == Array(String(pid).utf8))
        #expect(KillerDisabledMarker(bytes: marker.encoded) == marker)
    }

    @Test(arguments: [
        "", "0", "-1", "+1", " 1", "1 ", "1\n", "12a", "0x10", "1.0", "2147483648", "99999999999999999999",
        "999999999999999999999", "18446744073709551616", "1 2", "-", "1:2", "1:2:3:4", "1::3", ":2:3", "1:2:",
        "0:2:3", "1:-2:3", "1:2:x",
    ])
    func killerDisabledRejectsGarbage(text: String) {
        #expect(KillerDisabledMarker(bytes: Array(text.utf8)) == nil, "\(text.debugDescription)")
    }

    /// An owner is written with its start time and PID namespace, so that a PID used again is not taken for
    /// it; the bare PID of earlier versions still reads.
    @Test func anOwnerNamesItsStartTimeAndNamespace() throws {
        let me = MarkerOwner.current
        let start = try #require(me.startTime)
        let namespace = try #require(me.namespace)
        #expect(KillerDisabledMarker().encoded == Array("\(getpid()):\(start):\(namespace)".utf8))
        #expect(KillerDisabledMarker(bytes: KillerDisabledMarker().encoded)?.owner == me)
        let grant = ReserveGrantMarker(owner: me, originalLimit: ByteCount(4096), originalMemsw: nil)
        #expect(grant.encoded == Array("\(getpid()):\(start):\(namespace) 4096 -".utf8))
        #expect(ReserveGrantMarker(bytes: grant.encoded) == grant)
    }

    /// Who still runs: this process; PID 1 (bare, or with its real start time); not PID 1 with another
    /// start time (a PID used again), not a free PID; and a namespace no process is in, seen from the
    /// initial one, is gone.
    @Test func livenessTellsAPIDUsedAgainApart() throws {
        let me = MarkerOwner.current
        let namespace = try #require(me.namespace)
        #expect(me.liveness == .thisProcess)
        #expect(!me.isLeftover)
        #expect(MarkerOwner(pid: getpid()).isLeftover, "a bare PID equal to ours: a restart in a PID namespace")
        let initStart = try #require(MarkerOwner.startTicks(of: "1"))
        #expect(MarkerOwner(pid: 1).liveness == .alive)
        #expect(MarkerOwner(pid: 1, startTime: initStart, namespace: namespace).liveness == .alive)
        // A second apart (start times within a tick are one: MarkerOwner.sameStart).
        #expect(MarkerOwner(pid: 1, startTime: initStart + 100, namespace: namespace).liveness == .gone)
        #expect(MarkerOwner(pid: 1, startTime: initStart + 1, namespace: namespace).liveness == .alive)
        #expect(MarkerOwner(pid: getpid(), startTime: (me.startTime ?? 0) + 100, namespace: namespace).isLeftover)
        var child: pid_t = 0
        try #require(posix_spawn(&child, "/bin/true", nil, nil, [strdup("true"), nil], nil) == 0)
        var status: Int32 = 0
        waitpid(child, &status, 0)
        #expect(MarkerOwner(pid: child).liveness == .gone, "a PID just freed")
        let singleNamespace =
            (try FileIO.readText(path: "/proc/self/status")).split(separator: "\n").first { $0.hasPrefix("NSpid:") }?
            .split(separator: "\t").count == 2
        if singleNamespace {
            #expect(MarkerOwner(pid: 1, startTime: initStart, namespace: 1).liveness == .gone)
        }
    }

    @Test func reserveGrantRoundTrips() {
        for marker in [
            ReserveGrantMarker(owner: MarkerOwner(pid: 17), originalLimit: ByteCount(64 << 20), originalMemsw: nil),
            ReserveGrantMarker(
                owner: MarkerOwner(pid: 17), originalLimit: ByteCount(64 << 20), originalMemsw: ByteCount(96 << 20)),
            ReserveGrantMarker(owner: MarkerOwner(pid: Int32.max), originalLimit: .zero, originalMemsw: .zero),
            ReserveGrantMarker(
                owner: MarkerOwner(pid: 1), originalLimit: ByteCount(UInt64.max - 1), originalMemsw: nil),
        ] {
            #expect(ReserveGrantMarker(bytes: marker.encoded) == marker, "\(marker)")
        }
        let encoded = ReserveGrantMarker(
            owner: MarkerOwner(pid: 17), originalLimit: ByteCount(4096), originalMemsw: nil
        ).encoded
        #expect(encoded == Array("17 4096 -".utf8))
        let full = ReserveGrantMarker(
            owner: MarkerOwner(pid: 17), originalLimit: ByteCount(4096), originalMemsw: ByteCount(8192),
            raisedLimit: ByteCount(12288),
            raisedMemsw: ByteCount(16384))
        #expect(full.encoded == Array("17 4096 8192 12288 16384".utf8))
        #expect(ReserveGrantMarker(bytes: full.encoded) == full)
        #expect(ReserveGrantMarker(bytes: Array("17 4096 - 8192 -".utf8))?.raisedLimit == ByteCount(8192))
        #expect(ReserveGrantMarker(bytes: Array("17 4096 - 8192 5".utf8)) == nil, "memsw raised, never set")
        #expect(ReserveGrantMarker(bytes: Array("17 4096 5 8192 -".utf8)) == nil)
    }

    @Test(arguments: [
        "", " ", "  ", "17", "17 4096", "17 4096 - 1", "17 4096 -  ", "0 4096 -", "-1 4096 -", "17 -4096 -",
        "17 4096 -1", "17 4096 --", "17 4096 x", "17 40a6 -", "17  4096 -", " 17 4096 -", "17 4096 - ",
        "17\t4096\t-", "2147483648 4096 -", "17 18446744073709551616 -", "17 4096 184467440737095516160",
        "17 4096 -\n", "a b c",
    ])
    func reserveGrantRejectsGarbage(text: String) {
        #expect(ReserveGrantMarker(bytes: Array(text.utf8)) == nil, "\(text.debugDescription)")
    }

    @Test func reserveGrantRejectsNUL() {
        #expect(ReserveGrantMarker(bytes: Array("17 4096".utf8) + [0] + Array(" -".utf8)) == nil)
        #expect(ReserveGrantMarker(bytes: Array("17 4096 -".utf8) + [0]) == nil)
        #expect(KillerDisabledMarker(bytes: [UInt8(ascii: "1"), 0]) == nil)
    }
}

/// Random bytes into every parser here: whatever comes in, nothing crashes, and whatever parses encodes
/// back to the same value.
@Suite struct HandlingFormatFuzzTests {
    static let alphabet = Array("+-= 0123456789max/\n\0ab\u{FF}".utf8) + [0xC3, 0xA9, 0xFF, 0x80]

    @Test func randomBytesNeverCrashAndParsedValuesRoundTrip() {
        var generator = SystemRandomNumberGenerator()
        var parsed = 0
        for round in 0..<20_000 {
            let count = Int.random(in: 0...24, using: &generator)
            let bytes: [UInt8] = (0..<count).map { _ in
                round.isMultiple(of: 2)
                    ? UInt8.random(in: 0...255, using: &generator) : Self.alphabet.randomElement(using: &generator)!
            }
            if let message = GuardianMessage(line: bytes) {
                parsed += 1
                #expect(GuardianMessage(line: message.encoded.dropLast()) == message, "\(bytes)")
            }
            if let marker = KillerDisabledMarker(bytes: bytes) {
                #expect(marker.pid > 0 && KillerDisabledMarker(bytes: marker.encoded) == marker)
            }
            if let marker = ReserveGrantMarker(bytes: bytes) {
                #expect(marker.pid > 0 && ReserveGrantMarker(bytes: marker.encoded) == marker)
            }
        }
        #expect(parsed > 0, "the alphabet makes some valid messages")
    }
}

/// ``HandlingOutcome/init(_:)``: the one place an outcome is derived from a handling's facts.
@Suite struct HandlingOutcomeTests {
    static func facts(
        kernelWaits: Bool = false, removed: Bool = false, resolvedByHook: Bool = false,
        action: HandlingFacts.Action = .notReached, fellBack: Bool = false, failed: Bool = false
    ) -> HandlingFacts {
        var facts = HandlingFacts()
        facts.kernelWaits = kernelWaits
        facts.removed = removed
        facts.resolvedByHook = resolvedByHook
        facts.action = action
        facts.fellBack = fellBack
        facts.failed = failed
        return facts
    }

    @Test func freshFactsAreReported() {
        #expect(HandlingOutcome(HandlingFacts()) == .reported)
    }

    @Test func removedWinsOverEverything() {
        for action: HandlingFacts.Action in [
            .notReached, .alreadyResolved, .nothingToDo, .decidedOnly, .killed, .failed,
        ] {
            let all = Self.facts(
                kernelWaits: true, removed: true, resolvedByHook: true, action: action, fellBack: true, failed: true)
            #expect(HandlingOutcome(all) == .removed, "\(action)")
        }
    }

    @Test func aKillStaysAKill() {
        #expect(HandlingOutcome(Self.facts(kernelWaits: true, action: .killed, fellBack: true)) == .killed)
        #expect(HandlingOutcome(Self.facts(action: .killed, failed: true)) == .killed)
        #expect(HandlingOutcome(Self.facts(action: .decidedOnly, fellBack: true)) == .dryRun)
    }

    @Test func resolvedByHookThenFallbackThenTheRest() {
        #expect(HandlingOutcome(Self.facts(resolvedByHook: true)) == .resolvedByHook)
        #expect(HandlingOutcome(Self.facts(kernelWaits: true, resolvedByHook: true, fellBack: true)) == .resolvedByHook)
        #expect(HandlingOutcome(Self.facts(kernelWaits: true, fellBack: true)) == .fellBackToKernel)
        #expect(
            HandlingOutcome(Self.facts(kernelWaits: true, action: .failed, fellBack: true, failed: true))
                == .fellBackToKernel)
        #expect(
            HandlingOutcome(Self.facts(kernelWaits: true, action: .nothingToDo, fellBack: true)) == .fellBackToKernel)
        #expect(
            HandlingOutcome(Self.facts(kernelWaits: true, action: .alreadyResolved, fellBack: true))
                == .fellBackToKernel)
    }

    @Test func nothingToDoDependsOnWhetherTheKernelWaits() {
        #expect(HandlingOutcome(Self.facts(kernelWaits: true, action: .nothingToDo)) == .resolved)
        #expect(HandlingOutcome(Self.facts(kernelWaits: false, action: .nothingToDo)) == .reported)
        #expect(HandlingOutcome(Self.facts(action: .alreadyResolved)) == .resolved)
        #expect(HandlingOutcome(Self.facts(kernelWaits: true, action: .alreadyResolved)) == .resolved)
    }

    @Test func failedOnlyWithErrors() {
        #expect(HandlingOutcome(Self.facts(action: .failed, failed: true)) == .failed)
        #expect(HandlingOutcome(Self.facts(action: .failed)) == .reported)
        #expect(HandlingOutcome(Self.facts(action: .notReached, failed: true)) == .failed)
        #expect(HandlingOutcome(Self.facts(kernelWaits: true, action: .notReached)) == .reported)
        // A failure elsewhere (a snapshot) does not hide what the action found.
        #expect(HandlingOutcome(Self.facts(action: .nothingToDo, failed: true)) == .reported)
        #expect(HandlingOutcome(Self.facts(action: .alreadyResolved, failed: true)) == .resolved)
    }

    @Test func outcomesPrintAsDocumented() {
        #expect(HandlingOutcome.resolvedByHook.rawValue == "resolved by hook")
        #expect(HandlingOutcome.fellBackToKernel.rawValue == "fell back to the kernel")
        #expect(HandlingOutcome.dryRun.rawValue == "dry run")
    }
}
