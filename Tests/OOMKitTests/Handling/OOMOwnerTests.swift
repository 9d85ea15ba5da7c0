import Testing

@testable import OOMKit

/// Which cgroup a v1 OOM notification belongs to: the kernel notifies every memcg below the one whose
/// limit was hit.
@Suite struct OOMOwnerTests {
    private func level(
        _ path: String, usage: UInt64, limit: UInt64?, underOOM: Bool = true, memsw: (UInt64, UInt64)? = nil
    ) -> OOMOwner.Level {
        OOMOwner.Level(
            path: cgroupPath(path), usage: ByteCount(usage << 20),
            limit: limit.map { ByteCount($0 << 20) } ?? .unlimited,
            memswUsage: memsw.map { ByteCount($0.0 << 20) }, memswLimit: memsw.map { ByteCount($0.1 << 20) },
            underOOM: underOOM)
    }

    @Test func aChildWithoutALimitIsNotifiedOfItsParentsOOM() {
        let parent = level("/p", usage: 96, limit: 96)
        #expect(OOMOwner.find([level("/p/chill", usage: 24, limit: nil), parent]) == .ancestor(cgroupPath("/p")))
        #expect(OOMOwner.find([parent]) == .itself(atLimit: true))
        // Deeper: the nearest at its limit, passing one that is under_oom below its own limit.
        let deep = [level("/p/a/b", usage: 10, limit: nil), level("/p/a", usage: 30, limit: 200), parent]
        #expect(OOMOwner.find(deep) == .ancestor(cgroupPath("/p")))
    }

    @Test func aChildAtItsOwnLimitOwnsItsOOMEvenWhileItsParentIsInOne() {
        let lineage = [level("/p/c", usage: 16, limit: 16), level("/p", usage: 96, limit: 96)]
        #expect(OOMOwner.find(lineage) == .itself(atLimit: true))
        // Within the slack (2 MiB, at most 1/8 of the limit).
        #expect(OOMOwner.find([level("/p/c", usage: 15, limit: 16)]) == .itself(atLimit: true))
        #expect(OOMOwner.find([level("/p/c", usage: 13, limit: 16)]) == .itself(atLimit: false))
        #expect(OOMOwner.slack(for: ByteCount(8 << 20)) == ByteCount(1 << 20))
        // memory+swap: the memsw limit hit, the memory one not.
        #expect(OOMOwner.find([level("/p/c", usage: 10, limit: 64, memsw: (32, 32))]) == .itself(atLimit: true))
    }

    @Test func aCgroupNotUnderOOMOrNotAtALimitIsNoOwner() {
        // The parent at its limit but not in OOM (its marks cleared): not this notification's owner.
        let cleared = [level("/p/chill", usage: 24, limit: nil), level("/p", usage: 96, limit: 96, underOOM: false)]
        #expect(OOMOwner.find(cleared) == .none, "no limit of its own and no ancestor in OOM at one")
        // A cgroup with a limit of its own, far from it, its parent's limit raised meanwhile (a reserve).
        let raised = [level("/p/c", usage: 24, limit: 64), level("/p", usage: 96, limit: 128)]
        #expect(OOMOwner.find(raised) == .itself(atLimit: false))
        #expect(OOMOwner.find([]) == .none)
    }
}
