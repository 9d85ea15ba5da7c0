import CLinux
import Glibc

/// What a ``WatchService`` needs to serve its control socket (`oomctl status`).
public struct ControlSocketOptions: Sendable, Equatable {
    /// The program's version, for ``WatchStatus/version``.
    public var version: String
    /// The directory of the socket; nil: ``ControlSocketDirectory/own()``.
    public var directory: String?

    public init(version: String, directory: String? = nil) {
        self.version = version
        self.directory = directory
    }
}

/// Where control sockets live: `/run/oomctl/watch-PID.sock` for a watch run by root, and
/// `$XDG_RUNTIME_DIR/oomctl/watch-PID.sock` for an unprivileged one (no socket when that is not set).
public enum ControlSocketDirectory {
    /// The directory of root's watches (0755, root's; its sockets 0600).
    public static let system = "/run/oomctl"

    /// The directory this process's watch uses (nil: unprivileged without XDG_RUNTIME_DIR).
    public static func own() -> String? {
        if geteuid() == 0 { return system }
        guard let runtime = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }), runtime.hasPrefix("/") else {
            return nil
        }
        return runtime + "/oomctl"
    }

    /// The directories `oomctl status` looks in: root's, then this user's; root also looks in every
    /// user's runtime directory (/run/user/UID/oomctl), since it may talk to every watch.
    public static func searched() -> [String] {
        var directories = [system]
        if geteuid() == 0 {
            let users = entries(of: "/run/user")
            directories += users.filter { $0.allSatisfy(\.isNumber) }.sorted().map { "/run/user/\($0)/oomctl" }
        } else if let own = own() {
            directories.append(own)
        }
        var seen = Set<String>()
        return directories.filter { seen.insert($0).inserted }
    }

    /// The names in a directory (none when it cannot be read), not following a link at its end.
    package static func entries(of path: String) -> [String] {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { return [] }
        guard let directory = fdopendir(descriptor) else {
            close(descriptor)
            return []
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The socket's name for a watch's PID.
    public static func socketName(pid: Int32) -> String { "watch-\(pid).sock" }

    /// The PID a socket's name carries (nil: not a watch's socket).
    public static func pid(ofSocketNamed name: String) -> Int32? {
        guard name.hasPrefix("watch-"), name.hasSuffix(".sock") else { return nil }
        return Int32(name.dropFirst("watch-".count).dropLast(".sock".count))
    }

    /// The owner of a socket directory, who alone may serve in it: root for ``system``, the user for
    /// theirs. nil when it is not a directory (a link is not followed).
    public static func owner(of directory: String) -> uid_t? {
        var status = stat()
        guard lstat(directory, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else { return nil }
        return status.st_uid
    }

    /// The watch sockets in `directory`, by PID.
    public static func sockets(in directory: String) -> [(pid: Int32, path: String)] {
        entries(of: directory).compactMap { name in pid(ofSocketNamed: name).map { ($0, directory + "/" + name) } }
            .sorted { $0.pid < $1.pid }
    }
}

/// Why the control socket could not be served (the watch runs on without it).
public struct ControlSocketError: OOMKitError {
    public var message: String
    public var kind: FailureKind { .unavailable }
    public var description: String { message }
}

/// The control socket of a running watch, served from its event loop: a UNIX stream socket that takes
/// one request line (`status`, `metrics`) and answers it, then closes.
///
/// Nothing a client does can block or delay the loop: every descriptor is non-blocking; a request is
/// at most ``maximumRequest`` bytes; a reply that the client does not read is kept (at most
/// ``maximumReply`` bytes, and at most that much for all clients together: the heap of a watch that
/// locks its memory does not shrink again) and written as the socket drains; every client is dropped
/// ``clientTimeout`` after it connected (a timerfd), whatever it is doing; at most ``maximumClients``
/// are served at once, the others are told `busy` and closed. Only root and the watch's own user are
/// served (SO_PEERCRED, after the socket's own mode 0600).
///
/// Protocol: the request is a line; the reply is `ok\n` and the body, or one line
/// `error WORD: text\n` (WORD is `refused`, `busy`, `unknown`, `too-long`, `unavailable`).
package final class ControlServer {
    /// The socket's path.
    package let path: String
    private let directory: Int32
    private let name: String
    private let listener: Int32
    private let inode: ino_t
    private let loop: EventLoop
    private let respond: (String) -> ControlReply
    private var clients: [Int32: Client] = [:]
    /// Bytes of the replies kept for clients now (``maximumReply`` at most).
    private var replyBytesKept = 0
    /// Takes the listener back into the loop after a pause (made up front: a pause comes when no
    /// descriptor is left to make one).
    private var pause: DeadlineTimer?

    package static let maximumRequest = 256
    package static let maximumReply = 1 << 20
    package static let maximumClients = 8
    package static let clientTimeout = Duration.seconds(2)
    /// Connections taken from the backlog per wake-up (the rest at the next round, after other sources).
    static let acceptsPerRound = 16

    private final class Client {
        let descriptor: Int32
        let timer: DeadlineTimer
        var request: [UInt8] = []
        var reply: [UInt8] = []
        var sent = 0
        init(descriptor: Int32, timer: DeadlineTimer) {
            self.descriptor = descriptor
            self.timer = timer
        }
    }

    /// Makes `directory` (0755 for root's, 0700 for a user's; refused when it exists and is not a
    /// directory of this user that nobody else may write to, or is a symbolic link), removes the sockets
    /// in it whose watch is gone, and listens at `directory/watch-PID.sock` with mode 0600.
    package init(
        directory path: String, loop: EventLoop, respond: @escaping (String) -> ControlReply
    ) throws(ControlSocketError) {
        self.loop = loop
        self.respond = respond
        let mode: mode_t = geteuid() == 0 && path == ControlSocketDirectory.system ? 0o755 : 0o700
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw ControlSocketError(message: "cannot make \(path): \(String(cString: strerror(errno)))")
        }
        let directory = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directory >= 0 else {
            throw ControlSocketError(
                message: "cannot open \(path) (\(String(cString: strerror(errno)))): it must be a directory, not a link"
            )
        }
        var status = stat()
        guard fstat(directory, &status) == 0, status.st_uid == geteuid(), status.st_mode & 0o022 == 0 else {
            close(directory)
            throw ControlSocketError(
                message: "\(path) is not this user's own directory (or others may write to it): no control socket")
        }
        self.directory = directory
        Self.removeStale(in: directory, path: path)
        name = ControlSocketDirectory.socketName(pid: getpid())
        self.path = path + "/" + name
        // A socket of this PID is a previous process's, unless it is listened to: then it is a watch's
        // of another PID namespace with the same PID (a container's PID 1), and it stays that one's.
        switch Self.listener(at: self.path) {
        case .listening:
            close(directory)
            throw ControlSocketError(
                message: "\(self.path) is served by another watch of the same PID (in another PID namespace)")
        case .none: break
        case .gone: _ = unlinkat(directory, name, 0)
        }
        // The directory is this user's and nobody else may write to it: the path cannot be redirected
        // between these calls. The umask gives the socket 0600 from its creation on.
        let previousMask = umask(0o177)
        let listener = oomctl_unix_listen(self.path, 16)
        let bindError = errno
        umask(previousMask)
        guard listener >= 0 else {
            close(directory)
            throw ControlSocketError(message: "cannot listen at \(self.path): \(String(cString: strerror(bindError)))")
        }
        self.listener = listener
        var socketStatus = stat()
        inode = fstatat(directory, name, &socketStatus, AT_SYMLINK_NOFOLLOW) == 0 ? socketStatus.st_ino : 0
        do {
            try loop.add(listener) { [unowned self] _ in acceptClients() }
            if let timer = try? DeadlineTimer() {
                try loop.add(timer.descriptor) { [unowned self] _ in
                    timer.acknowledge()
                    resumeAccepting()
                }
                pause = timer
            }
        } catch {
            close(listener)
            _ = unlinkat(directory, name, 0)
            close(directory)
            throw ControlSocketError(message: "cannot serve \(self.path): \(error.description)")
        }
    }

    deinit { shutDown() }

    private var closed = false

    /// Drops every client, removes the socket (when it is still this one) and closes it.
    package func shutDown() {
        guard !closed else { return }
        closed = true
        for descriptor in Array(clients.keys) { drop(descriptor) }
        loop.remove(listener)
        if let pause { loop.remove(pause.descriptor) }
        var status = stat()
        if fstatat(directory, name, &status, AT_SYMLINK_NOFOLLOW) == 0, status.st_ino == inode {
            _ = unlinkat(directory, name, 0)
        }
        Glibc.close(listener)
        Glibc.close(directory)
    }

    /// Removes the watch sockets in the directory whose watch is gone (it was SIGKILLed). A socket whose
    /// PID lives is left alone, never connected to: a probe would wake every other watch of the host
    /// at each start. One whose PID was used again by a process that is no watch stays until that
    /// process ends; `oomctl status` skips it (refused). A PID that is gone here may be a live watch's
    /// of another PID namespace (a container's, or the host's seen from one): a socket goes only when,
    /// besides, nobody listens to it.
    private static func removeStale(in directory: Int32, path: String) {
        for (pid, socket) in ControlSocketDirectory.sockets(in: path) where pid != getpid() {
            guard kill(pid, 0) != 0, errno == ESRCH, listener(at: socket) == .gone else { continue }
            var status = stat()
            let name = ControlSocketDirectory.socketName(pid: pid)
            if fstatat(directory, name, &status, AT_SYMLINK_NOFOLLOW) == 0, status.st_mode & S_IFMT == S_IFSOCK {
                _ = unlinkat(directory, name, 0)
            }
        }
    }

    /// Who listens at a socket path.
    private enum Listener {
        /// Nothing is there.
        case none
        /// Something is there that nobody listens to (a socket whose watch is gone, or a file that is
        /// no socket).
        case gone
        /// A live listener, also one too busy to take the connection now (its backlog full).
        case listening
    }

    /// Connects once, without waiting (a busy listener counts as one): a refusal is the only proof that
    /// nobody listens, whatever PID namespace the socket's watch was in.
    private static func listener(at socket: String) -> Listener {
        let descriptor = ControlClient.connect(socket, timeout: .milliseconds(1))
        if descriptor >= 0 {
            Glibc.close(descriptor)
            return .listening
        }
        switch errno {
        case ENOENT: return .none
        case EAGAIN, EINTR, ETIMEDOUT: return .listening
        default: return .gone
        }
    }

    /// Whether a peer may be served: root, or the watch's own user.
    package static func mayServe(peer uid: uid_t, own: uid_t = geteuid()) -> Bool { uid == 0 || uid == own }

    /// No descriptor (or memory) for a client: the connection stays queued and the listener readable, so
    /// the loop would wake for it at once, for ever. The listener leaves the loop for 200 ms instead (for
    /// good if no pause timer could be made: status is then unavailable, the handler unharmed).
    private func pauseAccepting() {
        loop.remove(listener)
        pause?.arm(after: .milliseconds(200))
    }

    private func resumeAccepting() {
        guard !closed else { return }
        try? loop.add(listener) { [unowned self] _ in acceptClients() }
    }

    private func acceptClients() {
        for _ in 0..<Self.acceptsPerRound {
            let descriptor = oomctl_unix_accept(listener)
            guard descriptor >= 0 else {
                if [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(errno) { pauseAccepting() }
                return
            }
            var uid: uid_t = 0
            var pid: pid_t = 0
            guard oomctl_peer_credentials(descriptor, &uid, &pid) == 0, Self.mayServe(peer: uid) else {
                refuse(descriptor, "error refused: only root and uid \(geteuid()) may ask this watch\n")
                continue
            }
            guard clients.count < Self.maximumClients else {
                refuse(descriptor, "error busy: \(Self.maximumClients) clients are being served; try again\n")
                continue
            }
            guard let timer = try? DeadlineTimer() else {
                refuse(descriptor, "error busy: no timer for this client\n")
                continue
            }
            let client = Client(descriptor: descriptor, timer: timer)
            do {
                try loop.add(descriptor) { [unowned self] _ in readRequest(from: descriptor) }
                try loop.add(timer.descriptor) { [unowned self] _ in drop(descriptor) }
            } catch {
                loop.remove(descriptor)
                Glibc.close(descriptor)
                continue
            }
            timer.arm(after: Self.clientTimeout)
            clients[descriptor] = client
        }
    }

    /// One try to say why, never waiting: a fresh socket has room for a line.
    private func refuse(_ descriptor: Int32, _ line: String) {
        let bytes = Array(line.utf8)
        _ = oomctl_send_nonblocking(descriptor, bytes, bytes.count)
        Glibc.close(descriptor)
    }

    private func readRequest(from descriptor: Int32) {
        guard let client = clients[descriptor] else { return }
        var buffer = [UInt8](repeating: 0, count: Self.maximumRequest)
        let room = Self.maximumRequest - client.request.count
        let count = read(descriptor, &buffer, room)
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
        guard count > 0 else { return drop(descriptor) }
        client.request += buffer[0..<count]
        if let end = client.request.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: client.request[..<end], as: UTF8.self)
            answer(client, respond(line.trimmingSpaces))
        } else if client.request.count >= Self.maximumRequest {
            answer(client, .error("too-long", "a request is one line of at most \(Self.maximumRequest) bytes"))
        }
    }

    /// Writes what the socket takes now, the rest as it drains (until the client's time-out).
    private func answer(_ client: Client, _ reply: ControlReply) {
        var bytes = reply.bytes
        if bytes.count > Self.maximumReply {
            bytes = ControlReply.error("unavailable", "the reply exceeds \(Self.maximumReply) bytes").bytes
        } else if replyBytesKept - client.reply.count + bytes.count > Self.maximumReply {
            bytes =
                ControlReply.error(
                    "busy", "replies to other clients take \(replyBytesKept) bytes until they are read; try again"
                ).bytes
        }
        replyBytesKept += bytes.count - client.reply.count
        client.reply = bytes
        loop.remove(client.descriptor)
        do {
            try loop.add(client.descriptor, writable: true) { [unowned self] _ in writeReply(to: client.descriptor) }
        } catch {
            return drop(client.descriptor)
        }
        writeReply(to: client.descriptor)
    }

    private func writeReply(to descriptor: Int32) {
        guard let client = clients[descriptor] else { return }
        while client.sent < client.reply.count {
            let count = client.reply.withUnsafeBytes { bytes in
                guard let base = bytes.baseAddress else { return 0 }
                return oomctl_send_nonblocking(descriptor, base + client.sent, bytes.count - client.sent)
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && errno == EAGAIN { return }
            guard count > 0 else { return drop(descriptor) }
            client.sent += count
        }
        drop(descriptor)
    }

    private func drop(_ descriptor: Int32) {
        guard let client = clients.removeValue(forKey: descriptor) else { return }
        replyBytesKept -= client.reply.count
        loop.remove(descriptor)
        loop.remove(client.timer.descriptor)
        Glibc.close(descriptor)
    }

    /// Clients being served now.
    package var clientCount: Int { clients.count }

    /// Bytes of the replies kept for clients that have not read them yet.
    package var keptReplyBytes: Int { replyBytesKept }
}

/// A reply of the control socket.
package enum ControlReply {
    case ok([UInt8])
    case error(String, String)

    var bytes: [UInt8] {
        switch self {
        case .ok(let body): Array("ok\n".utf8) + body
        case .error(let word, let text): Array("error \(word): \(text)\n".utf8)
        }
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var scalars = Substring(self)
        while let last = scalars.last, last == " " || last == "\r" || last == "\t" { scalars = scalars.dropLast() }
        while let first = scalars.first, first == " " || first == "\t" { scalars = scalars.dropFirst() }
        return String(scalars)
    }
}

/// Asks a watch's control socket: what `oomctl status` does for each watch.
public enum ControlClient {
    /// Why a watch did not answer.
    public enum Failure: Error, Sendable, Equatable {
        /// Nobody listens (a watch that was killed left its socket) or the socket is gone.
        case gone
        /// This user may not ask that watch (the socket's mode, or the watch's SO_PEERCRED check).
        case refused(String)
        /// The watch answered with an error line (`word`: see ``ControlServer``).
        case error(word: String, message: String)
        /// No answer within the time-out, or a broken one.
        case failed(String)
        /// What is at the path is no socket of the directory's owner, or another user serves it (a
        /// link or a socket put there by someone else): it was not asked.
        case notAWatch(String)
    }

    /// The largest reply read.
    public static let maximumReply = 1 << 20

    /// A socket connected to a control socket, whose sends and receives give up after `timeout`; -1 with
    /// errno set when it cannot connect.
    package static func connect(_ socket: String, timeout: Duration) -> Int32 {
        oomctl_unix_connect(socket, Int32(clamping: max(1, timeout.totalMilliseconds)))
    }

    /// Sends `request` (one line, without its newline) and returns the reply's body, all within
    /// `timeout`. With `owner`, only a socket file of that user, served by a process of that user, is
    /// asked: root looking into a user's directory talks to that user's watch and to nothing a link or
    /// a swapped file there points at (another service's socket).
    public static func ask(
        _ socket: String, _ request: String, owner: uid_t? = nil, timeout: Duration = .seconds(5)
    ) -> Result<[UInt8], Failure> {
        if let owner {
            var status = stat()
            guard lstat(socket, &status) == 0 else { return .failure(.gone) }
            guard status.st_mode & S_IFMT == S_IFSOCK, status.st_uid == owner else {
                return .failure(.notAWatch("\(socket) is not a socket of uid \(owner)"))
            }
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        let descriptor = connect(socket, timeout: timeout)
        guard descriptor >= 0 else {
            switch errno {
            case ECONNREFUSED, ENOENT: return .failure(.gone)
            case EACCES, EPERM: return .failure(.refused("\(socket): permission denied"))
            default: return .failure(.failed("\(socket): \(String(cString: strerror(errno)))"))
            }
        }
        defer { close(descriptor) }
        if let owner {
            var peer: uid_t = 0
            var peerPID: pid_t = 0
            guard oomctl_peer_credentials(descriptor, &peer, &peerPID) == 0, peer == owner else {
                return .failure(.notAWatch("\(socket) is served by uid \(peer), not by its directory's owner \(owner)"))
            }
        }
        let line = Array((request + "\n").utf8)
        // Blocking, up to the time-out (SO_SNDTIMEO); a gone watch is EPIPE, not SIGPIPE. A watch that
        // refused this peer said why and closed before the request: its line is read all the same.
        let sent = send(descriptor, line, line.count, Int32(MSG_NOSIGNAL)) == line.count
        let sendError = errno
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while reply.count <= maximumReply + 3 {
            // The time-out is for the whole reply: a server that drips a byte at a time is cut off too.
            let left = deadline - clock.now
            guard left > .zero else { return .failure(.failed("\(socket): no whole answer within \(timeout)")) }
            var wait = timeval(
                tv_sec: Int(left.components.seconds),
                tv_usec: max(1, Int(left.components.attoseconds / 1_000_000_000_000)))
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            // A watch that closes with the request unread (a refusal) resets the connection after its line.
            if count < 0 && errno == ECONNRESET && (!sent || !reply.isEmpty) { break }
            if count < 0 && errno == EAGAIN { continue }  // the time-out: told above, with the total
            if count < 0 {
                return .failure(.failed("\(socket): no answer (\(String(cString: strerror(errno))))"))
            }
            if count == 0 { break }
            reply += buffer[0..<count]
        }
        if !sent && reply.isEmpty {
            return .failure(.failed("\(socket): cannot send: \(String(cString: strerror(sendError)))"))
        }
        return parse(reply, socket: socket)
    }

    static func parse(_ reply: [UInt8], socket: String) -> Result<[UInt8], Failure> {
        let ok = Array("ok\n".utf8)
        if reply.starts(with: ok) { return .success(Array(reply.dropFirst(ok.count))) }
        let text = String(decoding: reply, as: UTF8.self)
        guard text.hasPrefix("error "), let colon = text.firstIndex(of: ":") else {
            return .failure(.failed("\(socket): an answer that is not oomctl's (\(reply.count) bytes)"))
        }
        let word = String(text[text.index(text.startIndex, offsetBy: 6)..<colon])
        var message = String(text[text.index(after: colon)...])
        while message.first == " " { message.removeFirst() }
        while message.last == "\n" { message.removeLast() }
        return .failure(word == "refused" ? .refused(message) : .error(word: word, message: message))
    }
}
