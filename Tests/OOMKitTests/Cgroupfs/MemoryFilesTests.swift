import Testing

@testable import OOMKit

@Suite struct MemoryFilesTests {
    @Test func memoryEvents() throws {
        let events = try MemoryEvents(
            parsing: "low 1\nhigh 2\nmax 3\noom 4\noom_kill 5\noom_group_kill 6\nsock_throttled 9\n")
        #expect(events == MemoryEvents(low: 1, high: 2, max: 3, oom: 4, oomKill: 5, oomGroupKill: 6))
    }

    @Test func memoryEventsFromOlderKernelsLackGroupKill() throws {
        let events = try MemoryEvents(parsing: "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n")
        #expect(events.oomGroupKill == 0 && events.max == 7)
    }

    @Test func oomControlV1() throws {
        let control = try OOMControl(parsing: "oom_kill_disable 1\nunder_oom 1\noom_kill 3\n")
        #expect(control == OOMControl(oomKillDisable: true, underOOM: true, oomKill: 3))
        let old = try OOMControl(parsing: "oom_kill_disable 0\nunder_oom 0\n")
        #expect(old.oomKill == nil)
    }

    @Test func memoryStat() throws {
        let stat = try MemoryStat(parsing: "cache 4096\nrss 8192\ntotal_rss 16384\ntotal_cache 32768\n")
        #expect(stat.anonymous == 16384 && stat.pageCache == 32768)
        let v2 = try MemoryStat(parsing: "anon 1\nfile 2\n")
        #expect(v2.anonymous == 1 && v2.pageCache == 2)
    }

    @Test(arguments: [
        "", "oom 1 2", "oom -1", "oom x", "oom_kill 18446744073709551616", "\n\n", "oom_kill_disable\n",
        "under_oom 1\n",
    ])
    func garbageIsAnErrorNotACrash(text: String) {
        #expect(throws: ParseError.self) {
            _ = try MemoryEvents(parsing: text)
            _ = try OOMControl(parsing: text)
        }
    }

    @Test func parseErrorsNameTheFile() {
        #expect {
            try MemoryStat(parsing: "cache lots\n")
        } throws: { error in
            (error as? ParseError)?.description.contains("memory.stat") == true
        }
    }
}
