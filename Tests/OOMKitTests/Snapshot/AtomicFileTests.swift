import Glibc
import OOMTestSupport
import SystemPackage
import Testing

@testable import OOMKit
@testable import OOMKitCore

@Suite struct AtomicFileTests {
    private func mode(_ path: String) -> mode_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
    }

    private func entries(_ directory: String) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    @Test func writesWithMode0600AndReplaces() throws {
        let tree = FixtureTree()
        let path = tree.root + "/out.json"
        let previous = umask(0)
        defer { umask(previous) }
        try AtomicFile.write(Array("first".utf8), to: path)
        #expect(mode(path) == 0o600)
        try AtomicFile.write(Array("second".utf8), to: path)
        #expect(ProcessRunner.readText(path) == "second")
        #expect(entries(tree.root) == ["out.json"])
    }

    @Test func refusesASymlinkTarget() throws {
        let tree = FixtureTree()
        tree.file("victim", "keep me")
        tree.symlink("link.json", to: tree.root + "/victim")
        #expect {
            try AtomicFile.write(Array("evil".utf8), to: tree.root + "/link.json")
        } throws: { error in
            (error as? OutputFileError)?.description.contains("symbolic link") == true
                && (error as? OutputFileError)?.kind == .cannotCreateOutput
        }
        #expect(ProcessRunner.readText(tree.root + "/victim") == "keep me")
        #expect(entries(tree.root) == ["link.json", "victim"])
    }

    @Test func refusesADirectoryAndAMissingDirectory() {
        let tree = FixtureTree()
        tree.directory("dir")
        #expect(throws: OutputFileError.self) { try AtomicFile.write([1], to: tree.root + "/dir") }
        #expect(throws: OutputFileError.self) { try AtomicFile.write([1], to: tree.root + "/missing/x") }
        #expect(throws: OutputFileError.self) { try AtomicFile.write([1], to: tree.root + "/") }
        #expect(entries(tree.root) == ["dir"])
    }

    @Test(.enabled(if: getuid() == 0, "mounting a tiny tmpfs needs root"))
    func aFullDiskLeavesNothingBehind() throws {
        let tree = FixtureTree()
        tree.directory("small")
        let mountPoint = tree.root + "/small"
        #expect(mount("tmpfs", mountPoint, "tmpfs", 0, "size=64k") == 0)
        defer { umount2(mountPoint, Int32(MNT_DETACH)) }
        tree.file("small/existing.json", "old")
        let big = [UInt8](repeating: 0x41, count: 1 << 20)
        #expect {
            try AtomicFile.write(big, to: mountPoint + "/existing.json")
        } throws: { error in
            (error as? OutputFileError)?.description.contains("No space left") == true
        }
        #expect(entries(mountPoint) == ["existing.json"])
        #expect(ProcessRunner.readText(mountPoint + "/existing.json") == "old")
    }

    @Test func keepsTheErrnoOfTheCallThatFailed() {
        let tree = FixtureTree()
        tree.file("victim", "x")
        tree.symlink("link", to: tree.root + "/victim")
        let missing = #expect(throws: OutputFileError.self) { try AtomicFile.write([1], to: tree.root + "/missing/x") }
        #expect(missing?.code == .noSuchFileOrDirectory)
        #expect(
            missing?.description
                == "cannot write '\(tree.root)/missing/x': cannot open directory: No such file or directory")
        // Refused without a failed system call: no errno to keep.
        let link = #expect(throws: OutputFileError.self) { try AtomicFile.write([1], to: tree.root + "/link") }
        #expect(link?.code == nil)
    }

    @Test func makingDirectoriesKeepsTheErrno() throws {
        let tree = FixtureTree()
        tree.file("file", "x")
        try FileIO.makeDirectories(tree.root + "/a/b", mode: 0o755)
        try FileIO.makeDirectories(tree.root + "/a/b", mode: 0o755)
        #expect(throws: OutputFileError(path: tree.root + "/file/c", reason: "Not a directory", code: .notDirectory)) {
            try FileIO.makeDirectories(tree.root + "/file/c/d", mode: 0o755)
        }
    }

    /// Whether a reserve's state file failed for lack of privilege (ReserveError.cannotRecord's `denied`)
    /// is the errno's to say, not the message's.
    @Test(arguments: [
        (Errno.permissionDenied, true), (.notPermitted, true), (.notDirectory, false), (.readOnlyFileSystem, false),
        (.noSpace, false),
    ])
    func privilegeIsTheErrnosToSay(code: Errno, denied: Bool) {
        let error = OutputFileError(
            path: "/run/oomctl/reserves", reason: String(cString: strerror(code.rawValue)), code: code)
        #expect(error.isPermissionDenied == denied)
        #expect(error.kind == .cannotCreateOutput)
    }

    @Test func aMessageAloneSaysNothingAboutPrivilege() {
        #expect(!OutputFileError(path: "/x", reason: "cannot create: Permission denied").isPermissionDenied)
        #expect(!OutputFileError(path: "/x", reason: "Operation not permitted", code: nil).isPermissionDenied)
    }

    /// A legal name of up to NAME_MAX (255) bytes is written; its temporary name is shortened to fit
    /// (by whole characters: a name of multi-byte characters stays valid UTF-8).
    @Test(arguments: [230, 240, 254, 255])
    func writesNamesUpToNameMax(length: Int) throws {
        let tree = FixtureTree()
        let name = String(repeating: "n", count: length - 5) + ".json"
        try AtomicFile.write(Array("x".utf8), to: tree.root + "/" + name)
        #expect(entries(tree.root) == [name])
        let wide = String(repeating: "é", count: 127) + "x"  // 255 bytes
        #expect(wide.utf8.count == 255)
        let temporary = AtomicFile.temporaryName(for: wide)
        #expect(temporary.utf8.count <= 255 && temporary.hasPrefix(".é") && temporary.hasSuffix(".tmp"))
        try AtomicFile.write(Array("x".utf8), to: tree.root + "/" + wide)
        #expect(entries(tree.root) == [name, wide].sorted())
    }

    @Test func aNameAboveNameMaxIsRefusedAndLeavesNothing() {
        let tree = FixtureTree()
        let name = String(repeating: "n", count: 256)
        let error = #expect(throws: OutputFileError.self) { try AtomicFile.write([1], to: tree.root + "/" + name) }
        #expect(error?.code == .fileNameTooLong, "\(String(describing: error))")
        #expect(entries(tree.root).isEmpty)
    }

    /// No directory of the path is followed when it is a symbolic link, wherever it is in the path:
    /// whoever may swap a directory for a link must not redirect the file.
    @Test func refusesASymlinkedDirectoryAnywhereOnThePath() throws {
        let tree = FixtureTree()
        tree.directory("real/deeper")
        tree.symlink("link", to: tree.root + "/real")
        tree.symlink("real/up", to: tree.root + "/real/deeper")
        // Directories others may write: their links could be anyone's (one only root could have made is
        // followed: see followsALinkOnlyRootCouldHaveMade).
        chmod(tree.root, 0o777)
        chmod(tree.root + "/real", 0o777)
        for (path, link) in [
            (tree.root + "/link/out.json", tree.root + "/link"),
            (tree.root + "/link/deeper/out.json", tree.root + "/link"),
            (tree.root + "/real/up/out.json", tree.root + "/real/up"),
        ] {
            let error = #expect(throws: OutputFileError.self) { try AtomicFile.write([1], to: path) }
            #expect(
                error?.description
                    == "cannot write '\(path)': '\(link)' is a symbolic link; refusing to follow it (give the real directory)"
            )
            #expect(error?.kind == .cannotCreateOutput)
        }
        #expect(entries(tree.root + "/real") == ["deeper", "up"])
        #expect(entries(tree.root + "/real/deeper").isEmpty)
        // The real path works, '.' and '..' included (they are no links).
        try AtomicFile.write([1], to: tree.root + "/real/./deeper/../deeper/out.json")
        #expect(entries(tree.root + "/real/deeper") == ["out.json"])
    }

    /// A link only root could have made (root's, in a directory only root may write) is followed, and
    /// its target walked the same way: a link in the target's directories anyone could write is still
    /// refused.
    @Test func followsALinkOnlyRootCouldHaveMade() throws {
        guard getuid() == 0 else {
            try skip("needs root (a link only root could have made)")
            return
        }
        let tree = FixtureTree()
        tree.directory("real/open/deeper")
        chmod(tree.root, 0o755)
        chmod(tree.root + "/real", 0o755)
        chmod(tree.root + "/real/open", 0o777)
        tree.symlink("trusted", to: "real")
        tree.symlink("real/open/untrusted", to: tree.root + "/real/open/deeper")
        try AtomicFile.write([1], to: tree.root + "/trusted/out.json")
        #expect(entries(tree.root + "/real").sorted() == ["open", "out.json"])
        let error = #expect(throws: OutputFileError.self) {
            try AtomicFile.write([1], to: tree.root + "/trusted/open/untrusted/out.json")
        }
        #expect(
            error?.description.contains("is a symbolic link; refusing to follow it") == true,
            "\(String(describing: error))")
        #expect(entries(tree.root + "/real/open/deeper").isEmpty)
    }

    /// A directory alone is opened the same way (watch --snapshot-dir checks its directory at start-up).
    @Test func opensADirectoryOnlyWithoutLinks() throws {
        let tree = FixtureTree()
        tree.directory("real")
        tree.file("file", "x")
        tree.symlink("link", to: tree.root + "/real")
        chmod(tree.root, 0o777)  // a link anyone could have made
        let link = #expect(throws: OutputFileError.self) { try AtomicFile.openDirectory(tree.root + "/link") }
        #expect(link?.code == nil)
        let file = #expect(throws: OutputFileError.self) { try AtomicFile.openDirectory(tree.root + "/file") }
        #expect(file?.code == .notDirectory)
        for path in [tree.root + "/real", tree.root + "/real/", "/", "."] {
            let directory = try AtomicFile.openDirectory(path)
            var info = stat()
            #expect(fstat(directory, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR, "\(path)")
            // Opened for reading: an fsync of the directory works on it.
            #expect(fsync(directory) == 0 || errno == EINVAL, "\(path)")
            close(directory)
        }
    }

    @Test func splitsPaths() {
        #expect(AtomicFile.split("/a/b/c") == ("/a/b", "c"))
        #expect(AtomicFile.split("c") == (".", "c"))
        #expect(AtomicFile.split("/c") == ("/", "c"))
    }
}
