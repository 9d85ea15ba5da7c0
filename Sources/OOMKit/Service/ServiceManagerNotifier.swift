import CLinux
import Glibc

/// Tells the service manager that started this process how the service is doing, by systemd's
/// notification protocol (sd_notify(3)): newline-separated `VARIABLE=value` assignments (`READY=1`,
/// `STATUS=…`, `STOPPING=1`, `WATCHDOG=1`) in one datagram to the AF_UNIX socket that `NOTIFY_SOCKET`
/// names (a path, or `@name` in the abstract namespace).
///
/// ``fromEnvironment()`` reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` once and removes them
/// from the environment, so that no child (the guardian, a hook) inherits them and speaks for this
/// process; with `NotifyAccess=main` the manager would ignore it anyway. The datagram is written here,
/// not by libsystemd's sd_notify(), for three reasons: sd_notify() reads the address from the
/// environment at every call (the variable would have to stay there for every child to inherit, or be
/// dropped after the first message), it opens a socket for each message, and it sends blocking, so a
/// manager too busy to drain its queue (as under memory pressure) would stall the handler's only
/// thread. Here one socket is opened at start and every message is sent with `MSG_DONTWAIT`: one the
/// manager cannot take now is lost, the handler goes on. The protocol is stable and documented.
///
/// With a watchdog (`WATCHDOG_USEC`, meant for this process when `WATCHDOG_PID` is unset or this PID),
/// ``announceReady(on:status:)`` arms a timerfd in the event loop that sends `WATCHDOG=1` every half
/// interval: the ping comes from the loop itself, so a loop that is stuck misses it and the manager
/// restarts the service. That costs one wake-up per half interval (`WatchdogSec=30s`: 2 in 30 s);
/// without a watchdog there is no timer and nothing wakes the process while it is idle. `STATUS=` is
/// sent when the caller says it changed, at most once per ``statusInterval`` (a one-shot timer armed
/// only after a change), so a flood of events costs one datagram a second, and none while idle.
///
/// Single-threaded, like the ``EventLoop`` it runs on.
public final class ServiceManagerNotifier {
    /// The socket the manager listens on, as NOTIFY_SOCKET gave it.
    public let socketAddress: String
    /// The watchdog interval (WATCHDOG_USEC) when the manager expects this process to ping; nil for none.
    public let watchdogInterval: Duration?
    /// The shortest time between two `STATUS=` updates.
    public static let statusInterval = Duration.seconds(1)

    private let descriptor: Int32
    private var address = sockaddr_un()
    private let addressLength: socklen_t
    private weak var loop: EventLoop?
    private var watchdog: DeadlineTimer?
    private var statusTimer: DeadlineTimer?
    private var status: () -> String = { "" }
    private var lastStatus: String?
    private var lastStatusSent: ContinuousClock.Instant?
    private var statusPending = false

    /// The notifier the environment asks for, or nil when no manager listens (NOTIFY_SOCKET unset or
    /// empty). Removes NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment in any case.
    /// Throws when NOTIFY_SOCKET is not an AF_UNIX address (e.g. `vsock:…`) or no socket can be opened.
    public static func fromEnvironment() throws(NotifySocketError) -> ServiceManagerNotifier? {
        let socket = takeVariable("NOTIFY_SOCKET")
        let microseconds = takeVariable("WATCHDOG_USEC").flatMap { UInt64($0) }
        let watchdogPID = takeVariable("WATCHDOG_PID")
        guard let socket, !socket.isEmpty else { return nil }
        var interval: Duration?
        if let microseconds, microseconds > 0, watchdogPID == nil || watchdogPID == String(getpid()) {
            interval = .microseconds(Int64(clamping: microseconds))
        }
        return try ServiceManagerNotifier(socket: socket, watchdogInterval: interval)
    }

    /// A notifier for the datagram socket at `socket` (a path, or `@name` in the abstract namespace).
    public init(socket: String, watchdogInterval: Duration? = nil) throws(NotifySocketError) {
        let bytes = LosslessText.encode(socket)
        guard bytes.first == UInt8(ascii: "/") || (bytes.first == UInt8(ascii: "@") && bytes.count > 1) else {
            // systemd also knows vsock:CID:PORT (a manager outside a VM): not for a handler inside one.
            throw NotifySocketError(
                address: socket, reason: "not an absolute path or an @name in the abstract namespace",
                errno: EAFNOSUPPORT)
        }
        var address = sockaddr_un()
        addressLength = bytes.withUnsafeBufferPointer { name in
            name.withMemoryRebound(to: CChar.self) { oomctl_unix_address($0.baseAddress, $0.count, &address) }
        }
        guard addressLength > 0 else {
            // A path needs room for its NUL; an abstract name may fill sun_path (its '@' is the leading NUL).
            let room = MemoryLayout.size(ofValue: address.sun_path)
            let reason =
                bytes.first == UInt8(ascii: "@")
                ? "longer than an abstract socket name may be (\(room) bytes with its '@')"
                : "longer than a socket path may be (\(room - 1) bytes)"
            throw NotifySocketError(address: socket, reason: reason, errno: ENAMETOOLONG)
        }
        self.address = address
        descriptor = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else {
            let code = errno
            throw NotifySocketError(address: socket, reason: String(cString: strerror(code)), errno: code)
        }
        self.socketAddress = socket
        self.watchdogInterval = watchdogInterval
    }

    deinit {
        detach()
        close(descriptor)
    }

    /// Sends one notification, e.g. `"READY=1\nSTATUS=watching"`, without waiting. Returns whether the
    /// manager's socket took it (false when it is gone, or its queue is full right now).
    @discardableResult
    public func notify(_ assignments: String) -> Bool {
        var bytes = Array(assignments.utf8)
        return bytes.withUnsafeMutableBytes { message in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(
                        descriptor, message.baseAddress, message.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL), $0,
                        addressLength)
                }
            }
        } == bytes.count
    }

    /// The service is ready: sends `READY=1` with the first `STATUS=` (and a first watchdog ping), and
    /// with a watchdog arms its timer in `loop`. `status` gives the status line whenever one is sent.
    public func announceReady(on loop: EventLoop, status: @escaping () -> String) throws(SystemCallError) {
        self.loop = loop
        self.status = status
        statusTimer = try DeadlineTimer()
        if let statusTimer {
            try loop.add(statusTimer.descriptor) { [unowned self] _ in
                statusTimer.acknowledge()
                sendStatus()
            }
        }
        if let watchdogInterval {
            let timer = try DeadlineTimer()
            try loop.add(timer.descriptor) { [unowned self] _ in
                timer.acknowledge()
                notify("WATCHDOG=1")
                timer.arm(after: watchdogInterval / 2)
            }
            timer.arm(after: watchdogInterval / 2)
            watchdog = timer
        }
        let line = statusLine()
        lastStatus = line
        lastStatusSent = ContinuousClock().now
        notify("READY=1\nSTATUS=\(line)" + (watchdogInterval == nil ? "" : "\nWATCHDOG=1"))
    }

    /// What the status line shows changed: it is sent in the loop's next round, or once
    /// ``statusInterval`` has passed since the last one (changes meanwhile are folded into that one), if
    /// it differs from the last one sent. Costs nothing before
    /// ``announceReady(on:status:)`` or after ``announceStopping()``.
    public func statusChanged() {
        guard let statusTimer, !statusPending else { return }
        statusPending = true
        let elapsed = lastStatusSent.map { ContinuousClock().now - $0 } ?? Self.statusInterval
        // In the loop's next round at the earliest: the changes of this round go out as one.
        statusTimer.arm(after: max(.nanoseconds(1), Self.statusInterval - elapsed))
    }

    /// The service is stopping: sends `STOPPING=1` and ends the watchdog and status timers.
    public func announceStopping() {
        guard loop != nil else { return }
        detach()
        notify("STOPPING=1\nSTATUS=stopping")
    }

    private func sendStatus() {
        statusPending = false
        let line = statusLine()
        lastStatusSent = ContinuousClock().now
        guard line != lastStatus else { return }
        lastStatus = line
        notify("STATUS=\(line)")
    }

    /// One line: a newline would end the assignment and start another.
    private func statusLine() -> String {
        var line = ""
        line.unicodeScalars.append(contentsOf: status().unicodeScalars.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
        return line
    }

    private func detach() {
        for timer in [watchdog, statusTimer].compactMap({ $0 }) { loop?.remove(timer.descriptor) }
        watchdog = nil
        statusTimer = nil
        loop = nil
    }

    /// An environment variable's value, removed from the environment.
    private static func takeVariable(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = LosslessText.decode(cString: value)
        unsetenv(name)
        return text
    }
}

/// NOTIFY_SOCKET names nothing this process can notify: watch runs without telling the service
/// manager, whose Type=notify start then times out.
public struct NotifySocketError: OOMKitError, Hashable {
    /// NOTIFY_SOCKET's value.
    public var address: String
    public var reason: String
    /// The error code: EAFNOSUPPORT for an address that is no AF_UNIX one, ENAMETOOLONG, or socket(2)'s.
    public var errno: Int32

    public var kind: FailureKind { .unavailable }
    public var description: String {
        "cannot notify the service manager at NOTIFY_SOCKET=\(address.visibleControlCharacters): \(reason)"
    }
}
