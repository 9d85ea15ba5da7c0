import Glibc
import OOMKit

/// A service manager's notification socket as systemd binds it (AF_UNIX, SOCK_DGRAM, SO_PASSCRED), for
/// tests: what a process run with NOTIFY_SOCKET=``address`` says (sd_notify(3)'s protocol), with the
/// sender's PID as the kernel reports it and when each message arrived. No systemd is needed.
public final class NotifySocket {
    /// One datagram.
    public struct Message: Sendable, CustomStringConvertible {
        public var text: String
        /// The sending process (SCM_CREDENTIALS), or nil when the kernel gave none.
        public var pid: pid_t?
        public var receivedAt: ContinuousClock.Instant

        /// Its `VARIABLE=value` assignments, one a line.
        public var assignments: [String: String] {
            var result: [String: String] = [:]
            for line in text.split(separator: "\n") {
                guard let equals = line.firstIndex(of: "=") else { continue }
                result[String(line[..<equals])] = String(line[line.index(after: equals)...])
            }
            return result
        }

        public var description: String { "\(pid.map(String.init) ?? "?"): \(text.debugDescription)" }
    }

    /// The value for NOTIFY_SOCKET: a path, or `@name` in the abstract namespace.
    public let address: String
    private let descriptor: Int32
    private let path: String?

    /// A socket at a fresh path in /tmp, or (`abstract`) with a fresh abstract name.
    public init(abstract: Bool = false) throws {
        let name = "oomctl-test-\(getpid())-notify-\(UInt32.random(in: 0...UInt32.max))"
        path = abstract ? nil : "/tmp/" + name
        address = path ?? "@" + name
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw SystemCallError("open", path: "a datagram socket", errno: errno) }
        var bytes = Array(address.utf8)
        if abstract { bytes[0] = 0 }
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        var on: Int32 = 1
        guard bound == 0,
            setsockopt(descriptor, SOL_SOCKET, SO_PASSCRED, &on, socklen_t(MemoryLayout<Int32>.size)) == 0
        else {
            let code = errno
            close(descriptor)
            throw SystemCallError("bind", path: address, errno: code)
        }
    }

    deinit {
        close(descriptor)
        if let path { unlink(path) }
    }

    /// The next message, waiting at most `timeout`.
    public func receive(timeout: Duration) -> Message? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if let message = receiveNow() { return message }
            let left = deadline - clock.now
            guard left > .zero else { return nil }
            var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, Int32(clamping: max(1, left.totalMilliseconds)))
        }
    }

    /// The next message that satisfies `condition`, skipping (and returning in `skipped`) the others.
    public func receive(
        timeout: Duration, skipped: inout [Message], where condition: (Message) -> Bool
    ) -> Message? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while let message = receive(timeout: max(.zero, deadline - clock.now)) {
            if condition(message) { return message }
            skipped.append(message)
        }
        return nil
    }

    /// Every message that arrives within `duration`.
    public func collect(for duration: Duration) -> [Message] {
        let clock = ContinuousClock()
        let deadline = clock.now + duration
        var messages: [Message] = []
        while let message = receive(timeout: max(.zero, deadline - clock.now)) { messages.append(message) }
        return messages
    }

    private func receiveNow() -> Message? {
        var data = [UInt8](repeating: 0, count: 4096)
        // Room for one cmsghdr (16 bytes on 64-bit Linux) and a struct ucred (pid, uid, gid).
        var control = [UInt8](repeating: 0, count: 64)
        var controlLength = 0
        let count = data.withUnsafeMutableBytes { buffer in
            control.withUnsafeMutableBytes { controlBuffer in
                var vector = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var header = msghdr()
                    header.msg_iov = vectorPointer
                    header.msg_iovlen = 1
                    header.msg_control = controlBuffer.baseAddress
                    header.msg_controllen = controlBuffer.count
                    let received = recvmsg(descriptor, &header, Int32(MSG_DONTWAIT))
                    controlLength = header.msg_controllen
                    return received
                }
            }
        }
        guard count >= 0 else { return nil }
        var pid: pid_t?
        let headerSize = MemoryLayout<Int>.size + 2 * MemoryLayout<Int32>.size
        if controlLength >= headerSize + MemoryLayout<pid_t>.size {
            control.withUnsafeBytes { bytes in
                let level = bytes.loadUnaligned(fromByteOffset: MemoryLayout<Int>.size, as: Int32.self)
                let type = bytes.loadUnaligned(fromByteOffset: MemoryLayout<Int>.size + 4, as: Int32.self)
                if level == SOL_SOCKET && type == 2 {  // SCM_CREDENTIALS (an enum Swift does not import)
                    pid = bytes.loadUnaligned(fromByteOffset: headerSize, as: pid_t.self)
                }
            }
        }
        return Message(
            text: String(decoding: data.prefix(count), as: UTF8.self), pid: pid, receivedAt: ContinuousClock().now)
    }
}
