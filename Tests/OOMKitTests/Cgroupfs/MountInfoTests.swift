import Testing

@testable import OOMKit
@testable import OOMKitCore

@Suite struct MountInfoTests {
    /// Lines captured from a test machine's /proc/self/mountinfo (hybrid: memory on v1).
    static let captured = """
        22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """

    @Test func findsCgroupMountsOnly() {
        let mounts = CgroupMount.parse(mountInfo: Self.captured)
        #expect(
            mounts.map(\.mountPoint) == [
                "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified",
            ])
        #expect(mounts.map(\.version) == [.v1, .v1, .v1, .v2])
        #expect(mounts[1].v1Controllers == ["memory"])
        #expect(mounts[2].v1Controllers == ["name=systemd"])
    }

    @Test func optionalFieldsAndEscapes() {
        let line =
            "30 22 0:26 /sub /sys/fs/cgroup/my\\040mount rw,nosuid shared:4 master:1 - cgroup cgroup rw,xattr,memory,release_agent=/x"
        let mounts = CgroupMount.parse(mountInfo: line)
        #expect(mounts.count == 1)
        #expect(mounts.first?.mountPoint == "/sys/fs/cgroup/my mount")
        #expect(mounts.first?.root == "/sub")
        #expect(mounts.first?.v1Controllers == ["memory"])
    }

    @Test(arguments: [
        "", "garbage", "1 2 3", "- - - - - - -", "31 23 0:28 / /x rw - cgroup", "a b c d e f - cgroup2",
        "31 23 0:28 / /sys/fs/cgroup/bad\\9 rw - cgroup2 cgroup2 rw", String(repeating: "x ", count: 10_000),
    ])
    func neverCrashesOnGarbage(text: String) {
        for mount in CgroupMount.parse(mountInfo: text) {
            #expect(!mount.mountPoint.isEmpty)
        }
    }

    @Test func liveMountInfoHasAMemoryHierarchy() throws {
        let system = try CgroupSystem()
        let memory = try system.memoryHierarchy()
        #expect(memory.hasMemoryController)
        #expect(memory.mountPoint.hasPrefix("/"))
    }
}

@Suite struct CgroupPathTests {
    @Test(arguments: [
        ("/", "/"), ("", "/"), ("/a/b", "/a/b"), ("a/b", "/a/b"), ("//a///b/", "/a/b"), ("/a/./b", "/a/b"),
        ("/name with spaces/$x;`y`'\"", "/name with spaces/$x;`y`'\""),
    ])
    func normalizes(text: String, expected: String) throws {
        #expect(try CgroupPath(text).description == expected)
    }

    @Test(arguments: ["/a/../b", "..", "/a/..", "/a\0b", "/a\nb"])
    func rejects(text: String) {
        #expect(throws: CgroupError.self) { try CgroupPath(text) }
    }

    /// Found by the cgroup-path fuzz target: a name that starts with a combining mark (U+065E) made
    /// the `/` before it part of one Character, so a Character-wise split did not split there, and
    /// the description of a one-component path read back as another path.
    @Test func aSlashBeforeACombiningMarkSeparatesComponents() throws {
        #expect(try CgroupPath("a/\u{65E}b").components == ["a", "\u{65E}b"])
        let single = try CgroupPath("\u{65E}\tx")
        #expect(single.components == ["\u{65E}\tx"])
        #expect(try CgroupPath(single.description) == single)
    }

    /// "\r\n" is one Character: a Character-wise search for "\n" missed the newline in it.
    @Test func aNewlineAfterACarriageReturnIsRefused() {
        #expect(throws: CgroupError.self) { try CgroupPath("/a\r\nb") }
    }

    @Test func errorsNameTheInput() {
        #expect {
            try CgroupPath("/a/../b")
        } throws: { error in
            (error as? CgroupError)?.description.contains("'/a/../b'") == true
                && (error as? CgroupError)?.kind == .badInput
        }
    }

    @Test func relations() throws {
        let path = try CgroupPath("/a/b")
        #expect(path.parent == (try CgroupPath("/a")))
        #expect(path.isDescendant(of: try CgroupPath("/a")))
        #expect(path.isDescendant(of: .root))
        #expect(!(try CgroupPath("/ab")).isDescendant(of: try CgroupPath("/a")))
        #expect(path.appending("c").description == "/a/b/c")
        #expect(CgroupPath.root.parent == nil)
        #expect(path.depth == 2)
    }

    @Test func controlCharactersAreShownNotEmitted() {
        #expect("/a\u{1b}[2Jb".visibleControlCharacters == "/a\\x1b[2Jb")
        #expect("/plain".visibleControlCharacters == "/plain")
    }
}
