import CLinux
import Glibc

/// One thread, one epoll set: every source is a file descriptor with a handler. Between events the
/// process sleeps in epoll_wait with no timeout, so it costs nothing while nothing happens, whatever
/// the number of sources.
///
/// Not thread-safe, by design: `watch` runs it on its only thread (no Swift concurrency in the
/// handler process).
public final class EventLoop {
    /// What epoll reported for a descriptor.
    public struct Readiness: Sendable {
        public let raw: UInt32
        public var isReadable: Bool { raw & UInt32(EPOLLIN.rawValue) != 0 }
        public var isPriority: Bool { raw & UInt32(EPOLLPRI.rawValue) != 0 }
        public var isWritable: Bool { raw & UInt32(EPOLLOUT.rawValue) != 0 }
        public var isHangUp: Bool { raw & UInt32(EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 }
    }

    public typealias Handler = (Readiness) -> Void

    private let epoll: Int32
    private var handlers: [UInt64: (descriptor: Int32, handler: Handler)] = [:]
    private var tokens: [Int32: UInt64] = [:]
    private var nextToken: UInt64 = 1
    private var stopped = false
    /// How many ready descriptors one round takes at most (the C shim's limit too); more wait for the next.
    static let roundCapacity: Int32 = 64
    /// epoll_wait's output, kept between rounds so that waiting allocates nothing.
    private var readyTokens = [UInt64](repeating: 0, count: Int(roundCapacity))
    private var readyEvents = [UInt32](repeating: 0, count: Int(roundCapacity))

    public init() throws(SystemCallError) {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw SystemCallError("create", path: "epoll instance", errno: errno) }
    }

    deinit { close(epoll) }

    /// Watches `descriptor` for readability (priority data with `priority`, room to write with
    /// `writable`); replaces any earlier registration of the same descriptor.
    public func add(
        _ descriptor: Int32, priority: Bool = false, writable: Bool = false, handler: @escaping Handler
    ) throws(SystemCallError) {
        remove(descriptor)
        let token = nextToken
        nextToken += 1
        let events = UInt32(writable ? EPOLLOUT.rawValue : priority ? EPOLLPRI.rawValue : EPOLLIN.rawValue)
        guard oomctl_epoll_control(epoll, EPOLL_CTL_ADD, descriptor, events, token) == 0 else {
            throw SystemCallError("watch", path: "descriptor \(descriptor)", errno: errno)
        }
        handlers[token] = (descriptor, handler)
        tokens[descriptor] = token
    }

    /// Stops watching `descriptor` (closing it is the caller's business).
    public func remove(_ descriptor: Int32) {
        guard let token = tokens.removeValue(forKey: descriptor) else { return }
        handlers[token] = nil
        _ = oomctl_epoll_control(epoll, EPOLL_CTL_DEL, descriptor, 0, 0)
    }

    /// The number of registered descriptors.
    public var count: Int { handlers.count }

    /// Makes ``run()`` return at once: the handlers of the current round that have not run yet do not.
    public func stop() { stopped = true }

    /// Waits for events once (forever with a nil timeout) and calls their handlers. Returns the number
    /// of events handled.
    @discardableResult
    public func runOnce(timeout: Duration? = nil) -> Int {
        let milliseconds = timeout.map { Int32(clamping: max(0, $0.totalMilliseconds)) } ?? -1
        let count = oomctl_epoll_wait(epoll, &readyTokens, &readyEvents, Self.roundCapacity, milliseconds)
        guard count > 0 else { return 0 }
        for index in 0..<Int(count) {
            // A handler that stopped the loop ends the round: what its owner tore down must not run.
            if stopped { break }
            // A handler may have removed a later source in the same round: look each one up afresh.
            guard let entry = handlers[readyTokens[index]] else { continue }
            entry.handler(Readiness(raw: readyEvents[index]))
        }
        return Int(count)
    }

    /// Runs until ``stop()`` is called.
    public func run() {
        stopped = false
        while !stopped { runOnce() }
    }
}

/// A one-shot timer as a file descriptor (timerfd on CLOCK_MONOTONIC), for deadlines in the loop.
public final class DeadlineTimer {
    public let descriptor: Int32

    public init() throws(SystemCallError) {
        descriptor = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_CLOEXEC | TFD_NONBLOCK))
        guard descriptor >= 0 else { throw SystemCallError("create", path: "timerfd", errno: errno) }
    }

    deinit { close(descriptor) }

    /// Fires once after `delay`; re-arming replaces the previous deadline.
    public func arm(after delay: Duration) {
        _ = oomctl_timerfd_arm(descriptor, max(1, delay.totalNanoseconds))
    }

    /// Cancels a pending deadline.
    public func disarm() { _ = oomctl_timerfd_arm(descriptor, 0) }

    /// Clears the expiration count after the timer fired (call from its handler).
    public func acknowledge() {
        var expirations: UInt64 = 0
        _ = read(descriptor, &expirations, MemoryLayout<UInt64>.size)  // one 8-byte count
    }
}

/// SIGTERM, SIGINT and SIGHUP as a file descriptor: the signals are blocked and read from a signalfd,
/// so they arrive as events in the loop instead of interrupting it.
public final class SignalSource {
    public let descriptor: Int32

    public init(signals: [Int32] = [SIGTERM, SIGINT, SIGHUP]) throws(SystemCallError) {
        var mask = sigset_t()
        sigemptyset(&mask)
        for signal in signals { sigaddset(&mask, signal) }
        guard pthread_sigmask(SIG_BLOCK, &mask, nil) == 0 else {
            throw SystemCallError("block signals for", path: "signalfd", errno: errno)
        }
        descriptor = signalfd(-1, &mask, Int32(SFD_CLOEXEC | SFD_NONBLOCK))
        guard descriptor >= 0 else { throw SystemCallError("create", path: "signalfd", errno: errno) }
    }

    deinit { close(descriptor) }

    /// The signal that arrived (0 when none was pending).
    public func read() -> Int32 { oomctl_signalfd_read(descriptor) }
}
