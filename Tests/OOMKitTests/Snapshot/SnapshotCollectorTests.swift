import OOMTestSupport
import Testing

@testable import OOMKit

@Suite struct SnapshotCollectorTests {
    private func v2Machine() -> FixtureTree {
        let tree = FixtureTree.unifiedV2()
        tree.addCapturedSystemFiles()
        tree.v2Cgroup("/work", usage: 40 << 20, max: 64 << 20, procs: [100])
        tree.v2Cgroup(
            "/work/batch", usage: 30 << 20, max: 32 << 20, procs: [101, 102],
            events: MemoryEvents(max: 12, oom: 3, oomKill: 2))
        tree.v2Cgroup("/work/web", usage: 5 << 20, max: nil, procs: [])
        tree.process(100, name: "shell", residentKiB: 2_000, cgroupLine: "0::/work")
        tree.process(101, name: "batch-a", residentKiB: 20_000, cgroupLine: "0::/work/batch", oomScore: 900)
        tree.process(102, name: "batch-b", residentKiB: 9_000, cgroupLine: "0::/work/batch")
        tree.file("proc/sys/kernel/osrelease", "6.1.0-test\n")
        return tree
    }

    @Test func collectsTheTreeDepthFirstWithEvents() throws {
        let tree = v2Machine()
        let snapshot = try SnapshotCollector(system: CgroupSystem(root: tree.root))
            .collect(root: try CgroupPath("/work"), options: SnapshotOptions(topProcesses: 2))
        #expect(snapshot.schemaVersion == 1)
        #expect(snapshot.root.description == "/work")
        #expect(snapshot.cgroups.map(\.path.description) == ["/work", "/work/batch", "/work/web"])
        let batch = try #require(snapshot.cgroups.first { $0.path.description == "/work/batch" })
        #expect(batch.events?.oomKill == 2 && batch.ooms == 3 && batch.limit == ByteCount(32 << 20))
        #expect(snapshot.processCount == 3)
        #expect(snapshot.processes.map(\.pid) == [101, 102])
        #expect(snapshot.processes.first?.oomScore == 900)
        #expect(snapshot.processes.first?.commandLine == ["batch-a", "--flag"])
        #expect(snapshot.processes.first?.cgroup.description == "/work/batch")
        #expect(snapshot.kernel == "6.1.0-test")
        #expect(snapshot.system.memInfo?.total != nil)
        #expect(snapshot.system.slab != nil && snapshot.system.vmalloc != nil)
    }

    @Test func jsonRoundTrips() throws {
        let tree = v2Machine()
        let snapshot = try SnapshotCollector(system: CgroupSystem(root: tree.root)).collect(root: .root)
        let bytes = snapshot.jsonBytes()
        let decoded = try Snapshot(json: bytes, source: "test")
        #expect(decoded.cgroups.map(\.path) == snapshot.cgroups.map(\.path))
        #expect(decoded.cgroups.map(\.usage) == snapshot.cgroups.map(\.usage))
        #expect(decoded.hierarchy.version == .v2)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#""limit" : "max""#), "unlimited is written as \"max\", never 2^64-1")
        #expect(text.contains(#""oomKill" : 2"#))
    }

    @Test func decodingRefusesGarbageAndNewerSchemas() {
        #expect(throws: SnapshotDecodingError.self) { try Snapshot(json: Array("nope".utf8), source: "x") }
        #expect {
            try Snapshot(json: Array(#"{"schemaVersion": 99}"#.utf8), source: "x.json")
        } throws: { error in
            (error as? SnapshotDecodingError)?.description.contains("schema version 99 is not supported") == true
        }
        #expect(throws: SnapshotDecodingError.self) {
            try Snapshot(json: Array(#"{"schemaVersion": 1, "cgroups": 5}"#.utf8), source: "x")
        }
    }

    @Test func missingSystemFilesBecomeNotes() throws {
        let tree = FixtureTree.hybridV1()
        let snapshot = try SnapshotCollector(system: CgroupSystem(root: tree.root)).collect(root: .root)
        #expect(snapshot.system.memInfo == nil)
        #expect(snapshot.notes.contains { $0.hasPrefix("meminfo: cannot open") })
        #expect(snapshot.notes.contains { $0.hasPrefix("slabinfo:") })
    }

    @Test func aMissingRootIsAnError() throws {
        let tree = v2Machine()
        #expect {
            try SnapshotCollector(system: CgroupSystem(root: tree.root)).collect(root: try CgroupPath("/gone"))
        } throws: { ($0 as? CgroupError)?.kind == .notFound }
    }
}
