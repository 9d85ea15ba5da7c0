import CLinux
import Glibc

/// The kernel's `panic_on_oom`, reimplemented in userspace as the 2014 proposal said it trivially could
/// be: when hooks did not resolve an OOM, take the machine down on purpose, but only once the evidence
/// is on disk.
///
/// At the action step of a still unresolved OOM, in this order:
/// 1. the event's snapshot (written before the hooks, into ``HandlingOptions/snapshotDirectory``) is
///    flushed again with fsync, and so is its directory;
/// 2. the reason is reported (``HandlingStep/panicking(id:cgroup:report:)``, which `watch` journals);
/// 3. every file system is synced (sync(2), waited for at most ``syncTimeout``);
/// 4. the SysRq command is written to the ``trigger``: `c` crashes the kernel, `b` reboots.
///
/// In a dry run, and with a rehearsal trigger, steps 1 and 2 happen and nothing is synced or written.
public struct PanicOptions: Sendable {
    /// Crash or reboot.
    public var mode: PanicMode
    /// Where the command goes: the kernel's trigger, a test's stand-in, or a rehearsal.
    public var trigger: SysrqTrigger
    /// How long sync(2) is waited for before the trigger is written anyway.
    public var syncTimeout: Duration = .seconds(10)

    /// A panic of `mode` through `trigger`.
    public init(mode: PanicMode, trigger: SysrqTrigger) {
        self.mode = mode
        self.trigger = trigger
    }

    /// The events a panic answers: an OOM the kernel declared (v1: tasks stalled at the limit; v2:
    /// memory.events `oom`) and memory pressure (a PSI trigger; `watch --system`'s thresholds). v2 `high`
    /// and `max` events are wake-ups that a healthy cgroup at its limit raises all day, never verdicts: they
    /// take no machine down. After an `oom-kill` the kernel has already acted.
    public static let answeredEvents: Set<OOMEvent.Kind> = [.oom, .pressure]

    /// Checks, before the watch starts, that snapshots can be written into `directory` the way the
    /// handling writes them (a probe file written atomically and flushed, then removed). Returns the
    /// file system's name when it does not survive a reboot (tmpfs, ramfs), nil otherwise.
    package static func probeSnapshotDirectory(_ directory: String) throws(OutputFileError) -> String? {
        let probe = directory + "/.oomctl-panic-probe-\(getpid())"
        try AtomicFile.write(Array("oomctl --panic checks that snapshots can be written here\n".utf8), to: probe)
        unlink(probe)
        var system = statfs()
        guard statfs(directory, &system) == 0 else { return nil }
        switch system.f_type {
        case 0x0102_1994: return "tmpfs"
        case 0x8584_58f6: return "ramfs"
        default: return nil
        }
    }
}

/// What a panic did, or in a dry run or rehearsal would do; reported before file systems are synced and
/// the trigger is written.
public struct PanicReport: Sendable, Codable {
    /// Crash or reboot.
    public var mode: PanicMode
    /// The trigger file (the kernel's, for a rehearsal or a dry run).
    public var trigger: String
    /// The kernel's trigger, a stand-in, or a rehearsal.
    public var triggerKind: SysrqTrigger.Kind
    /// A dry run: nothing is synced or written.
    public var dryRun: Bool
    /// The event whose handling panics.
    public var event: OOMEvent.Kind
    /// The snapshot of the event, when one was written.
    public var snapshotPath: String?
    /// Its size on disk.
    public var snapshotBytes: UInt64?
    /// Whether it and its directory were flushed to the device (fsync).
    public var snapshotSynced = false
    /// Why there is no snapshot, or why it is not synced.
    public var snapshotProblem: String?
}

/// The panic step of a handling (see ``PanicOptions``).
package enum PanicStep {
    /// How it ended, for the handling's facts.
    package enum Result: Equatable {
        /// The event is not one a panic answers (``PanicOptions/answeredEvents``): nothing was done.
        case notAnswered
        /// A dry run: reported, nothing synced or written.
        case dryRun
        /// A rehearsal trigger: reported, nothing synced or written.
        case rehearsed
        /// The command was written (and this process, on a stand-in, lives on).
        case triggered
        /// The command could not be written.
        case failed(String)

        /// What the handling records of it.
        package var factsAction: HandlingFacts.Action {
            switch self {
            case .notAnswered: .nothingToDo
            case .dryRun: .decidedOnly
            case .rehearsed: .panicRehearsed
            case .triggered: .panicTriggered
            case .failed: .failed
            }
        }
    }

    /// Runs the panic. `announce` gets the report after the snapshot is flushed and before anything is
    /// synced or written; `warn` gets problems that do not stop the panic (a sync that timed out).
    package static func run(
        _ options: PanicOptions, snapshot: String?, event: OOMEvent.Kind, dryRun: Bool,
        announce: (PanicReport) -> Void, warn: (String) -> Void
    ) -> Result {
        guard PanicOptions.answeredEvents.contains(event) else { return .notAnswered }
        var report = PanicReport(
            mode: options.mode, trigger: options.trigger.path, triggerKind: options.trigger.kind, dryRun: dryRun,
            event: event)
        if let snapshot {
            report.snapshotPath = snapshot
            switch flush(snapshot) {
            case .success(let bytes):
                report.snapshotBytes = bytes
                report.snapshotSynced = true
            case .failure(let problem):
                report.snapshotProblem = problem.text
            }
        } else {
            report.snapshotProblem = "no snapshot was written for this event"
        }
        announce(report)
        if dryRun { return .dryRun }
        if options.trigger.kind == .rehearsal { return .rehearsed }
        switch FilesystemSync.run(timeout: options.syncTimeout) {
        case .synced: break
        case .timedOut:
            warn("sync did not finish within \(options.syncTimeout.compactDescription); writing the trigger anyway")
        case .syncedInline(let code):
            warn("sync ran in watch itself (no child process: \(String(cString: strerror(code))))")
        }
        do {
            try options.trigger.send(options.mode)
        } catch {
            return .failed("panic: \(error.description)")
        }
        return .triggered
    }

    /// fsync of the file and of its directory; the file's size, or what failed.
    private static func flush(_ path: String) -> Swift.Result<UInt64, FlushProblem> {
        let file = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard file >= 0 else { return .failure(FlushProblem("cannot open it: \(String(cString: strerror(errno)))")) }
        defer { close(file) }
        var info = stat()
        guard fstat(file, &info) == 0 else {
            return .failure(FlushProblem("cannot stat it: \(String(cString: strerror(errno)))"))
        }
        guard fsync(file) == 0 else { return .failure(FlushProblem("fsync: \(String(cString: strerror(errno)))")) }
        let parent = path.lastIndex(of: "/").map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        let directory = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else {
            return .failure(FlushProblem("cannot open its directory: \(String(cString: strerror(errno)))"))
        }
        defer { close(directory) }
        guard fsync(directory) == 0 else {
            return .failure(FlushProblem("fsync of its directory: \(String(cString: strerror(errno)))"))
        }
        return .success(UInt64(max(0, info.st_size)))
    }

    /// Why a snapshot could not be flushed, in words.
    private struct FlushProblem: Error {
        var text: String
        init(_ text: String) { self.text = text }
    }
}
