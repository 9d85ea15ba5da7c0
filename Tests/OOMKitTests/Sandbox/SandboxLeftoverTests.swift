import Glibc
import OOMTestSupport
import Testing

@testable import OOMKit

/// What a sandbox run killed before its clean-up leaves (`oomctl-simulate-PID`), and the next run's
/// removal of it: only what is empty, named for a PID that is gone, and marked by the sandbox itself.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct SandboxLeftoverTests {
    @Test func theMarkerRoundTripsAndRefusesGarbage() {
        let marker = SandboxMarker(pid: 4242, namespace: "pid:[4026531836]")
        #expect(SandboxMarker(bytes: marker.encoded) == marker)
        #expect(String(decoding: marker.encoded, as: UTF8.self) == "4242 pid:[4026531836]")
        for text in ["", "4242", "x pid:[1]", "-1 pid:[1]", "0 pid:[1]"] {
            #expect(SandboxMarker(bytes: Array(text.utf8)) == nil, "\(text)")
        }
        #expect(SandboxMarker.current.pid == getpid())
        #expect(SandboxMarker.current.namespace.hasPrefix("pid:["))
    }

    @Test func onlyEmptyMarkedSandboxesOfDeadRunsAreRemoved() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let system = try CgroupSystem()
        let parent = try MemoryCgroup.open(test.path, in: system)
        let namespace = SandboxMarker.current.namespace
        func make(_ name: String, marker: SandboxMarker?) throws -> CgroupPath {
            let path = try test.makeChild(name)
            if let marker {
                try Cgroup.open(path, in: test.hierarchy).setExtendedAttribute(
                    SandboxMarker.attributes[0], marker.encoded)
            }
            return path
        }
        let dead = try (0..<7).map { _ in try deadPID() }
        let removable = try make(
            "oomctl-simulate-\(dead[0])", marker: SandboxMarker(pid: dead[0], namespace: namespace))
        let busy = try make("oomctl-simulate-\(dead[1])", marker: SandboxMarker(pid: dead[1], namespace: namespace))
        _ = try test.spawn(["/bin/sleep", "30"], in: busy)
        let parentOfMore = try make(
            "oomctl-simulate-\(dead[2])", marker: SandboxMarker(pid: dead[2], namespace: namespace))
        try test.makeChild("oomctl-simulate-\(dead[2])/more")
        // Never touched: no marker (a user's cgroup of that name), a marker for another PID, one from
        // another PID namespace, a live run's, this run's own name, another name.
        let untouched = [
            try make("oomctl-simulate-\(dead[3])", marker: nil),
            try make("oomctl-simulate-\(dead[4])", marker: SandboxMarker(pid: dead[5], namespace: namespace)),
            try make("oomctl-simulate-\(dead[6])", marker: SandboxMarker(pid: dead[6], namespace: "pid:[1]")),
            try make("oomctl-simulate-1", marker: SandboxMarker(pid: 1, namespace: namespace)),
            try make("oomctl-simulate-\(getpid())", marker: SandboxMarker.current),
            try make("other-\(dead[0])", marker: SandboxMarker(pid: dead[0], namespace: namespace)),
        ]

        let found = MemorySandbox.removeLeftovers(below: parent, in: system)
        let kept = [
            MemorySandbox.Leftover(path: busy, pid: dead[1], keptBecause: "it still has 1 process"),
            MemorySandbox.Leftover(path: parentOfMore, pid: dead[2], keptBecause: "it has child cgroups"),
        ]
        #expect(Set(found.map(\.path)) == [removable, busy, parentOfMore], "\(found)")
        #expect(found.contains(MemorySandbox.Leftover(path: removable, pid: dead[0])), "\(found)")
        for leftover in kept { #expect(found.contains(leftover), "\(found)") }
        #expect(access(test.filesystemPath(removable), F_OK) != 0, "removed")
        for path in [busy, parentOfMore] + untouched {
            #expect(access(test.filesystemPath(path), F_OK) == 0, "\(path) is kept")
        }

        // A new sandbox does the same first, and carries the marker itself.
        let sandbox = try MemorySandbox(
            below: parent, in: system, name: "oomctl-simulate-\(getpid())-new", limit: ByteCount(16 << 20))
        defer { sandbox.destroy() }
        #expect(Set(sandbox.leftovers.map(\.path)) == [busy, parentOfMore], "\(sandbox.leftovers)")
        #expect(SandboxMarker.read(from: sandbox.memory.cgroup) == SandboxMarker.current)
    }
}
