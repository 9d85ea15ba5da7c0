import Glibc
import OOMTestSupport
import Testing

@testable import OOMKit

/// The notifier against a real datagram socket bound as systemd binds its own (no systemd needed), and
/// an event loop run by the test.
@Suite struct ServiceManagerNotifierTests {
    @Test(arguments: [false, true])
    func readyThenStoppingReachThePathOrAbstractSocketFromThisProcess(abstract: Bool) throws {
        let socket = try NotifySocket(abstract: abstract)
        let notifier = try ServiceManagerNotifier(socket: socket.address)
        let loop = try EventLoop()
        try notifier.announceReady(on: loop) { "watching 2 cgroups" }
        let ready = try #require(socket.receive(timeout: .seconds(2)))
        #expect(ready.text == "READY=1\nSTATUS=watching 2 cgroups", "no WATCHDOG=1 without a watchdog")
        #expect(ready.pid == getpid())
        #expect(loop.count == 1, "the status timer only")
        notifier.announceStopping()
        #expect(socket.receive(timeout: .seconds(2))?.assignments["STOPPING"] == "1")
        #expect(loop.count == 0, "no timer left in the loop")
    }

    @Test(arguments: [
        ("vsock:2:1234", EAFNOSUPPORT, "not an absolute path"), ("run/notify", EAFNOSUPPORT, "not an absolute path"),
        ("@", EAFNOSUPPORT, "not an absolute path"),
        ("/" + String(repeating: "x", count: 107), ENAMETOOLONG, "longer than a socket path may be (107 bytes)"),
        (
            "@" + String(repeating: "x", count: 108), ENAMETOOLONG,
            "longer than an abstract socket name may be (108 bytes with its '@')"
        ),
    ])
    func anAddressThatIsNoUnixSocketIsRefusedSayingWhy(address: String, code: Int32, reason: String) {
        #expect {
            _ = try ServiceManagerNotifier(socket: address)
        } throws: { error in
            guard let error = error as? NotifySocketError else { return false }
            return error.errno == code
                && error.description.hasPrefix("cannot notify the service manager at NOTIFY_SOCKET=")
                && error.description.contains(reason)
        }
    }

    /// The longest names that fit are taken: a 107-byte path (its NUL fills sun_path), a 108-byte @name.
    @Test func theLongestAddressesThatFitAreTaken() throws {
        _ = try ServiceManagerNotifier(socket: "/" + String(repeating: "x", count: 106))
        _ = try ServiceManagerNotifier(socket: "@" + String(repeating: "x", count: 107))
    }

    /// A thousand changes within a second of READY=1 are one STATUS=, a second after it; a line that did
    /// not change is not sent again; and nothing wakes the loop while nothing changes.
    @Test func statusChangesAreFoldedIntoOneDatagramASecondAndIdleCostsNoWakeUp() throws {
        let socket = try NotifySocket()
        let notifier = try ServiceManagerNotifier(socket: socket.address)
        let loop = try EventLoop()
        var handlings = 0
        try notifier.announceReady(on: loop) { "\(handlings) handlings" }
        let ready = try #require(socket.receive(timeout: .seconds(2)))
        #expect(ready.assignments["STATUS"] == "0 handlings")
        for _ in 0..<1000 {
            handlings += 1
            notifier.statusChanged()
        }
        let clock = ContinuousClock()
        let start = clock.now
        var wakeUps = 0
        while clock.now - start < .milliseconds(1500) { wakeUps += loop.runOnce(timeout: .milliseconds(100)) }
        let updates = socket.collect(for: .milliseconds(100))
        #expect(updates.map(\.text) == ["STATUS=1000 handlings"] && wakeUps == 1)
        if let update = updates.first {
            #expect(update.receivedAt - ready.receivedAt >= .milliseconds(900), "not sooner than a second after")
        }
        notifier.statusChanged()
        #expect(loop.runOnce(timeout: .milliseconds(1500)) == 1)
        #expect(socket.collect(for: .milliseconds(100)).isEmpty, "the same line is not sent again")
        #expect(loop.runOnce(timeout: .milliseconds(1500)) == 0, "idle: no wake-up (nothing changed, no watchdog)")
    }

    @Test func theWatchdogIsPingedFromTheLoopEveryHalfInterval() throws {
        let socket = try NotifySocket()
        let notifier = try ServiceManagerNotifier(socket: socket.address, watchdogInterval: .milliseconds(200))
        let loop = try EventLoop()
        try notifier.announceReady(on: loop) { "ready" }
        #expect(socket.receive(timeout: .seconds(2))?.text == "READY=1\nSTATUS=ready\nWATCHDOG=1")
        #expect(socket.collect(for: .milliseconds(300)).isEmpty, "a loop that does not run does not ping")
        let clock = ContinuousClock()
        let start = clock.now
        var rounds = 0
        while clock.now - start < .milliseconds(1000) { rounds += loop.runOnce(timeout: .milliseconds(50)) }
        let pings = socket.collect(for: .milliseconds(50)).filter { $0.text == "WATCHDOG=1" }
        #expect((9...11).contains(pings.count), "every 100 ms for 1 s (the first at once: one was due): \(pings.count)")
        #expect(rounds == pings.count, "one wake-up per ping")
        notifier.announceStopping()
        #expect(loop.runOnce(timeout: .milliseconds(300)) == 0, "no ping after STOPPING=1")
    }
}
