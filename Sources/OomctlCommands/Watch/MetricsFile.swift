import Glibc
import Logging
import OOMKit

/// `watch --metrics-file`: the exposition written to a file for node_exporter's textfile collector,
/// event-driven. A change (``changed()``) arms a one-shot timer in the watch's loop, for at once or for
/// the end of ``interval`` after the previous write; when it fires, the exposition is rendered and the file
/// rewritten if the text differs. Nothing is armed while nothing changes: an idle watch is never woken.
///
/// Each write is atomic (``AtomicFile``: a temporary file in the same directory, mode 0644, renamed over
/// the target; a target or a directory on the way that is a symbolic link is refused) and not flushed
/// with fsync. A write can still wait (dirty page throttling, reclaim under the very pressure being
/// handled, a slow file system), so none is made while a handling is in progress (``isBusy``): the
/// timer looks again an interval later.
final class MetricsFile {
    let path: String
    /// The shortest time between two writes.
    let interval: Duration
    /// Writes made so far.
    private(set) var writes = 0
    private let timer: DeadlineTimer
    private var armed = false
    private var lastWrite: ContinuousClock.Instant?
    private var written: [UInt8]?
    private let clock = ContinuousClock()
    private let log = Logger(label: "oomctl.watch")
    /// Whether a handling is in progress now (the watch's ``WatchService/activeHandlings``).
    var isBusy: () -> Bool = { false }

    /// Adds the timer to `loop`; writes nothing yet.
    init(path: String, interval: Duration, loop: EventLoop) throws(SystemCallError) {
        self.path = path
        self.interval = interval
        timer = try DeadlineTimer()
        try loop.add(timer.descriptor) { [unowned self] _ in
            timer.acknowledge()
            // Not while an OOM is handled: its last step changes a figure again, and the write follows.
            if isBusy() { return timer.arm(after: max(interval, .milliseconds(100))) }
            armed = false
            do throws(OutputFileError) {
                try writeIfChanged()
            } catch {
                log.warning("metrics not written: \(error.description)")
            }
        }
    }

    /// A figure may have changed: the file is rewritten once ``interval`` allows.
    func changed() {
        guard !armed else { return }
        armed = true
        let wait = lastWrite.map { $0 + interval - clock.now } ?? .zero
        timer.arm(after: max(.zero, wait))
    }

    /// Writes the exposition now if it differs from what the file holds (at start-up and on the way out).
    func writeIfChanged() throws(OutputFileError) {
        let bytes = MetricsExposition.currentBytes()
        guard bytes != written else { return }
        lastWrite = clock.now
        try AtomicFile.write(bytes, to: path, mode: 0o644, durable: false)
        written = bytes
        writes += 1
    }
}
