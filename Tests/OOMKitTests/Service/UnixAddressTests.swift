import CLinux
import Glibc
import Testing

/// `oomctl_unix_address`, the one place an AF_UNIX address is built (the status socket, the journald
/// probe, NOTIFY_SOCKET): a path keeps room for its NUL, an abstract name is exactly its bytes.
@Suite struct UnixAddressTests {
    private func address(_ name: String) -> (length: socklen_t, address: sockaddr_un, errno: Int32) {
        var address = sockaddr_un()
        errno = 0
        let bytes = Array(name.utf8)
        let length = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { oomctl_unix_address($0.baseAddress, $0.count, &address) }
        }
        return (length, address, errno)
    }

    private var capacity: Int { MemoryLayout.size(ofValue: sockaddr_un().sun_path) }
    private var header: Int { MemoryLayout<sa_family_t>.size }

    @Test func aPathEndsAtItsNul() {
        let path = "/run/oomctl/1234.sock"
        let built = address(path)
        #expect(Int(built.length) == header + path.utf8.count + 1)
        #expect(built.address.sun_family == sa_family_t(AF_UNIX))
        let copied = withUnsafeBytes(of: built.address.sun_path) { Array($0.prefix(path.utf8.count + 1)) }
        #expect(copied == Array(path.utf8) + [0])
    }

    @Test func anAbstractNameIsExactlyItsBytesWithALeadingNul() {
        let built = address("@oomctl-notify")
        #expect(Int(built.length) == header + "@oomctl-notify".utf8.count)
        let copied = withUnsafeBytes(of: built.address.sun_path) { Array($0.prefix(14)) }
        #expect(copied == [0] + Array("oomctl-notify".utf8))
    }

    @Test func theLongestThatFitAndTheFirstThatDoNot() {
        #expect(address("/" + String(repeating: "p", count: capacity - 2)).length > 0, "a path of capacity-1 bytes")
        let path = address("/" + String(repeating: "p", count: capacity - 1))
        #expect(path.length == 0 && path.errno == ENAMETOOLONG, "no room for the NUL")
        #expect(address("@" + String(repeating: "a", count: capacity - 1)).length > 0, "an abstract name fills it")
        let abstract = address("@" + String(repeating: "a", count: capacity))
        #expect(abstract.length == 0 && abstract.errno == ENAMETOOLONG)
        for empty in ["", "@"] {
            #expect(address(empty).length == 0 && address(empty).errno == ENAMETOOLONG, "'\(empty)'")
        }
    }
}
