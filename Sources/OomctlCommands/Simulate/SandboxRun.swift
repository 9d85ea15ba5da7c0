import Glibc
import OOMKit

/// What a sandbox run is asked to do (the options of `oomctl simulate` without --from).
struct SandboxSettings {
    /// --parent, or nil for the caller's own memory cgroup.
    var parent: String?
    var limit: ByteCount
    var reserve: ReserveSize?
    var hogSize: ByteCount
    var hogRate: ByteCount?
    var hogs: Int
    var timeout: Duration
    /// Commands started in the sandbox before the hogs (the workload a hook is rehearsed against).
    var commands: [String] = []
}

/// `oomctl simulate` without --from: a throwaway memory cgroup, memory hogs driving it into a real OOM,
/// and the same handling pipeline as `watch` (a ``WatchService`` on the sandbox), reported as a
/// timeline. Everything it creates is removed however the run ends: done, timed out, interrupted by
/// SIGINT/SIGTERM/SIGHUP (blocked from the start and read from a signalfd), or an error.
final class SandboxRun {
    private let system: CgroupSystem
    private let settings: SandboxSettings
    private let options: HandlingOptions
    /// Blocked from the start; read in the service's loop once it exists.
    private let signals: SignalSource
    private let events: WatchConfiguration.Events
    private let pressure: PressureTrigger?
    /// The service handling the sandbox's OOMs (made once the sandbox exists).
    private var service: WatchService?
    private var interruptedBy: Int32?
    private let executable: String
    private let onEntry: (TimelineEntry) -> Void
    private let clock = ContinuousClock()
    private var createdAt: ContinuousClock.Instant
    private var firstHogStartedAt: ContinuousClock.Instant?
    private var sandbox: MemorySandbox?
    private var result: SimulationResult?
    private var running: [Int32: MemorySandbox.StartedProcess] = [:]
    /// PIDs that oomctl's kills signalled (to tell its kills from the kernel's).
    private var killedByOomctl: Set<Int32> = []
    /// Hogs that a kill still in flight has signalled. Their pidfds and the kill's become readable at
    /// once, in either order; their exits are reported right after that kill's `killed` line, so that
    /// the timeline always reads cause before effect.
    private var signalledByKillInFlight: Set<Int32> = []
    private var settle: DeadlineTimer?
    private var timeout: DeadlineTimer?

    /// Blocks SIGINT, SIGTERM and SIGHUP first (into a signalfd), so that they end in a clean-up
    /// before anything exists to clean up.
    init(
        system: CgroupSystem, settings: SandboxSettings, options: HandlingOptions, events: WatchConfiguration.Events,
        pressure: PressureTrigger?, onEntry: @escaping (TimelineEntry) -> Void
    ) throws {
        self.system = system
        self.settings = settings
        self.options = options
        self.events = events
        self.pressure = pressure
        self.onEntry = onEntry
        signals = try SignalSource()
        executable = ChildProcess.currentExecutable
        createdAt = clock.now
    }

    /// Runs the whole simulation and returns its result (also when it was interrupted or timed out).
    /// Throws only when the sandbox could not be set up; whatever was created by then is removed.
    func run() throws -> SimulationResult {
        let parent = try parentCgroup()
        let sandbox = try MemorySandbox(below: parent, in: system, limit: settings.limit)
        self.sandbox = sandbox
        createdAt = clock.now
        let initial = SimulationResult(
            sandbox: sandbox, limit: settings.limit, hogs: settings.hogs, hogSize: settings.hogSize,
            hogRate: settings.hogRate)
        result = initial
        record(
            "created",
            "\(sandbox.memory.cgroup.filesystemPath) (cgroup v\(initial.cgroupVersion), limit \(settings.limit)"
                + (sandbox.swapDisabled ? ", swap off" : ", no per-cgroup swap limit") + ")",
            cgroup: sandbox.memory.path)
        for leftover in sandbox.leftovers {
            let what =
                "\(leftover.path.description), left by a run killed before its clean-up (PID \(leftover.pid) is gone)"
            if let reason = leftover.keptBecause {
                record("leftover-kept", "kept \(what): \(reason)", cgroup: leftover.path, pid: leftover.pid)
            } else {
                record("leftover-removed", "removed \(what)", cgroup: leftover.path, pid: leftover.pid)
            }
        }
        do {
            try setReserve(on: sandbox.memory)
            // The same service as watch, on the sandbox; its steps make the timeline (nothing is logged).
            let service = try WatchService(
                system: system,
                configuration: WatchConfiguration(
                    scope: .cgroups([sandbox.memory.path], recursive: false), events: events, pressure: pressure,
                    handling: options, selfProtection: nil, handlesSignals: false))
            self.service = service
            service.onStep = { [unowned self] step in self.observe(step) }
            try service.loop.add(signals.descriptor) { [unowned self] _ in
                self.interruptedBy = self.signals.read()
                self.service?.stop()
            }
            try service.start()
            try armTimeout()
            try startCommands(in: sandbox)
            try startHogs(in: sandbox)
        } catch {
            service?.stop()
            finish(sandbox)
            throw error
        }
        service?.run()
        if let signal = interruptedBy {
            result?.interruptedBy = signal
            record("interrupted", "stopped by signal \(signal); cleaning up")
        }
        finish(sandbox)
        return result ?? initial
    }

    /// The service's loop (the hogs' pidfds and the timers sit in it).
    private var loop: EventLoop {
        guard let service else { preconditionFailure("the sandbox run has no service yet") }
        return service.loop
    }

    private var activeHandlings: Int { service?.activeHandlings ?? 0 }

    // MARK: Set-up

    /// --parent, or the caller's own memory cgroup; on v2 the nearest ancestor of it that gives the
    /// memory controller to its children (a cgroup with processes cannot, by the no-internal-process rule).
    private func parentCgroup() throws -> MemoryCgroup {
        if let parent = settings.parent {
            return try MemoryCgroup.open(try system.memoryCgroupPath(for: parent), in: system)
        }
        var candidate = try MemoryCgroup.open(try system.memoryCgroupPath(ofProcess: getpid()), in: system)
        while candidate.version == .v2, !candidate.path.isRoot,
            !((try? candidate.cgroup.subtreeControllers()) ?? []).contains("memory"),
            let up = candidate.path.parent
        {
            candidate = try MemoryCgroup.open(up, in: system)
        }
        return candidate
    }

    private func setReserve(on memory: MemoryCgroup) throws {
        guard let reserve = settings.reserve else { return }
        let status = try Reserves(system: system).set(memory, size: reserve)
        result?.reserveBytes = status.bytes.bytes
        let applied =
            memory.version == .v2
            ? "memory.high \(status.high.map(\.description) ?? "?") (max \(settings.limit) − \(status.bytes))"
            : "granted by the pipeline when the OOM comes"
        record("reserve", "\(status.bytes) recorded in \(status.storage); \(applied)", bytes: status.bytes.bytes)
    }

    private func armTimeout() throws {
        let timer = try DeadlineTimer()
        timeout = timer
        timer.arm(after: settings.timeout)
        try loop.add(timer.descriptor) { [unowned self] _ in
            timer.acknowledge()
            self.result?.timedOut = true
            self.record("timed-out", "still running after \(self.settings.timeout.compactDescription); stopping")
            self.service?.stop()
        }
    }

    /// The --exec commands: started before the hogs, killed at clean-up; the run does not wait for them.
    private func startCommands(in sandbox: MemorySandbox) throws {
        for command in settings.commands {
            let process = try sandbox.startShellCommand(command)
            record("started", "PID \(process.pid): \(command)", pid: process.pid)
            try loop.add(process.handle.descriptor) { [unowned self] _ in
                guard let termination = self.sandbox?.reap(process) else { return }
                self.loop.remove(process.handle.descriptor)
                let how =
                    switch termination {
                    case .exited(let status): "exited with status \(status)"
                    case .signaled(let signal): "killed by signal \(signal)"
                    }
                record(
                    "exited", "PID \(process.pid) \(how): \(command)", pid: process.pid,
                    exitStatus: termination.exitStatus, signal: termination.signal)
            }
        }
    }

    private func startHogs(in sandbox: MemorySandbox) throws {
        var arguments = [executable, "hog", String(settings.hogSize.bytes), "--hold", "0s", "--wait-for-start"]
        if let rate = settings.hogRate { arguments += ["--rate", String(rate.bytes)] }
        for _ in 0..<settings.hogs {
            let process = try sandbox.start(executable, arguments: arguments)
            running[process.pid] = process
            if firstHogStartedAt == nil { firstHogStartedAt = clock.now }
            let rate = settings.hogRate.map { " at \($0)/s" } ?? " as fast as it can"
            record("hog-started", "PID \(process.pid) allocates \(settings.hogSize)\(rate)", pid: process.pid)
            try watchExit(of: process)
        }
    }

    private func watchExit(of process: MemorySandbox.StartedProcess) throws {
        try loop.add(process.handle.descriptor) { [unowned self] _ in
            if self.signalledByKillInFlight.contains(process.pid) {
                self.loop.remove(process.handle.descriptor)  // until the kill reports
            } else {
                self.hogExited(process)
            }
        }
    }

    /// The kill that signalled the hogs in ``signalledByKillInFlight`` has reported (or its handling
    /// ended without one): reports the exits of those that are gone and watches the others again.
    private func reportExitsAfterTheKill() {
        let signalled = signalledByKillInFlight
        signalledByKillInFlight = []
        for pid in signalled.sorted() {
            guard let process = running[pid] else { continue }
            if !hogExited(process) { try? watchExit(of: process) }
        }
    }

    // MARK: Events

    /// Reports the hog's exit if it has exited (false if it has not yet).
    @discardableResult
    private func hogExited(_ process: MemorySandbox.StartedProcess) -> Bool {
        guard let sandbox, let termination = sandbox.reap(process) else { return false }
        loop.remove(process.handle.descriptor)
        running[process.pid] = nil
        switch termination {
        case .exited(let code):
            result?.hogsFinished += 1
            record(
                "hog-exited",
                code == 0
                    ? "PID \(process.pid) finished: it allocated all \(settings.hogSize) (the OOM was resolved under it)"
                    : "PID \(process.pid) exited with status \(code)", pid: process.pid, exitStatus: code,
                killedBy: "nobody")
        case .signaled(let signal):
            let byOomctl = killedByOomctl.contains(process.pid)
            if byOomctl { result?.hogsKilledByOomctl += 1 } else { result?.hogsKilledByKernel += 1 }
            let who = byOomctl ? "oomctl" : signal == SIGKILL ? "the kernel OOM killer" : "signal \(signal)"
            record(
                "hog-exited", "PID \(process.pid) killed by signal \(signal) from \(who)", pid: process.pid,
                signal: signal, killedBy: byOomctl ? "oomctl" : signal == SIGKILL ? "kernel" : "signal")
        }
        checkDone()
        return true
    }

    /// Done when every hog has exited and no handling is in progress; after a short settle time, so that
    /// events the kernel reports after the fact (v2 oom_kill) still reach the timeline.
    private func checkDone() {
        guard running.isEmpty, activeHandlings == 0, settle == nil else { return }
        guard let timer = try? DeadlineTimer() else {
            service?.stop()
            return
        }
        settle = timer
        timer.arm(after: .milliseconds(150))
        do {
            try loop.add(timer.descriptor) { [unowned self] _ in
                timer.acknowledge()
                self.loop.remove(timer.descriptor)
                self.settle = nil
                if self.running.isEmpty && self.activeHandlings == 0 { self.service?.stop() }
            }
        } catch {
            service?.stop()
        }
    }

    private func observe(_ step: HandlingStep) {
        switch step {
        case .detected(let report):
            if result?.detectedAfterMilliseconds == nil, let started = firstHogStartedAt {
                result?.detectedAfterMilliseconds = Self.milliseconds(clock.now - started)
            }
            let verdict = report.distress.map { "; \($0.summary)" } ?? ""
            record(
                "detected",
                "\(report.event.rawValue): usage \(report.usage?.description ?? "?") of \(report.limit?.description ?? "?")\(verdict)",
                cgroup: report.cgroup, bytes: report.usage?.bytes)
        case .coalesced, .notifiedOfOtherOOM:
            break
        case .notInDistress(let cgroup, let event, let count, let verdict):
            result?.wakeUpsNotInDistress += 1
            record(
                "not-in-distress", "\(event.rawValue) (\(count)x), nothing to do: \(verdict.summary)", cgroup: cgroup)
        case .snapshotWritten(_, let cgroup, let path):
            record("snapshot", "written to \(path)", cgroup: cgroup)
        case .hookStarted(_, let cgroup, let command):
            record("hook-started", command, cgroup: cgroup, hook: command)
        case .hookFinished(_, let cgroup, let hook):
            let took = SimulationResult.milliseconds(Double(hook.durationMicroseconds) / 1000)
            var message = "\(hook.outcome) after \(took): \(hook.command)"
            if let line = hook.output.split(separator: "\n").first {
                message += " → " + (line.count > 80 ? line.prefix(79) + "…" : line)
            }
            var entry = makeEntry("hook-finished", message, cgroup: cgroup)
            entry.hook = hook.command
            entry.exitStatus = hook.exitStatus
            entry.signal = hook.signal
            entry.durationMilliseconds = Double(hook.durationMicroseconds) / 1000
            entry.output = hook.output.isEmpty ? nil : hook.output
            append(entry)
        case .decided(_, let cgroup, let decision):
            var message = "\(decision.policy.rawValue): \(decision.summary)"
            if case .kill(let asked) = options.action, asked.policy != decision.policy {
                message +=
                    " (\(asked.policy.rawValue) found no candidate below the sandbox, so the pipeline "
                    + "took the cgroup that hit the OOM)"
            }
            var entry = makeEntry("decided", message, cgroup: cgroup)
            entry.victim = decision.victim?.target.description
            append(entry)
        case .victimSignalled(_, _, let pids):
            killedByOomctl.formUnion(pids)
            signalledByKillInFlight.formUnion(pids.filter { running[$0] != nil })
        case .killed(_, let cgroup, let kill):
            killedByOomctl.formUnion(kill.signalledPIDs)
            var entry = makeEntry("killed", KillSummary(report: kill).render(), cgroup: cgroup)
            entry.bytes = kill.freed?.bytes
            entry.durationMilliseconds = Double(kill.elapsedMicroseconds) / 1000
            entry.victim = kill.pid.map(String.init) ?? kill.cgroup?.description
            append(entry)
            reportExitsAfterTheKill()
        case .fellBack(_, let cgroup, let after):
            result?.fellBack = true
            record(
                "fell-back", HandlingStep.fallbackSummary(after: after),
                cgroup: cgroup)
        case .panicking(_, let cgroup, let panic):
            record(
                panic.triggerKind == .rehearsal && !panic.dryRun ? "panic-rehearsed" : "panic",
                PanicSummary(panic, cgroup: cgroup).description, cgroup: cgroup, bytes: panic.snapshotBytes)
        case .reserveGranted(_, let grant):
            record(
                "reserve-granted", "limit \(grant.originalLimit) → \(grant.raisedLimit) (reserve \(grant.bytes))",
                cgroup: grant.cgroup, bytes: grant.bytes.bytes)
        case .reserveRestored(_, let grant, let problem):
            record(
                "reserve-restored",
                problem.map { "cannot take it back yet: \($0)" } ?? "limit \(grant.originalLimit) again",
                cgroup: grant.cgroup)
        case .held(_, let cgroup):
            record("held", "frozen (cgroup.freeze 1) while the snapshot and hooks run", cgroup: cgroup)
        case .released(_, let cgroup, let problem):
            record("released", problem.map { "cannot thaw: \($0)" } ?? "thawed (cgroup.freeze 0)", cgroup: cgroup)
        case .failed(_, let cgroup, let message):
            record("failed", message, cgroup: cgroup)
            reportExitsAfterTheKill()
        case .removed:
            break
        case .finished(let report):
            result?.outcomes.append(report.outcome.rawValue)
            var entry = makeEntry(
                "handled",
                "\(report.outcome.rawValue) in \(SimulationResult.milliseconds(Double(report.durationMicroseconds) / 1000))",
                cgroup: report.cgroup)
            entry.outcome = report.outcome.rawValue
            entry.durationMilliseconds = Double(report.durationMicroseconds) / 1000
            append(entry)
            reportExitsAfterTheKill()
            checkDone()
        }
    }

    // MARK: Clean-up

    private func finish(_ sandbox: MemorySandbox) {
        reportExitsAfterTheKill()
        if settings.reserve != nil {
            // The record goes with the cgroup when it is an attribute; a state file would outlive it.
            _ = try? Reserves(system: system).clear(sandbox.memory)
        }
        let problems = sandbox.destroy()
        result?.cleanupProblems = problems
        result?.removed = problems.isEmpty
        if problems.isEmpty {
            record("removed", "\(sandbox.memory.cgroup.filesystemPath) and everything in it")
        } else {
            record("failed", problems.joined(separator: "; "))
        }
    }

    // MARK: Timeline

    /// An entry stamped now. Messages name the sandbox `…/NAME` after the `created` line (which gives
    /// its whole path); the `cgroup` field always holds the whole path.
    private func makeEntry(_ event: String, _ message: String, cgroup: CgroupPath? = nil) -> TimelineEntry {
        var text = message
        if let sandbox, event != "created", event != "removed" {
            text = text.replacing(sandbox.memory.path.description, with: "…/" + sandbox.name)
        }
        return TimelineEntry(
            atMilliseconds: Self.milliseconds(clock.now - createdAt), event: event,
            message: text.visibleControlCharacters, cgroup: cgroup?.description)
    }

    private func record(
        _ event: String, _ message: String, cgroup: CgroupPath? = nil, pid: Int32? = nil, exitStatus: Int32? = nil,
        signal: Int32? = nil, bytes: UInt64? = nil, hook: String? = nil, killedBy: String? = nil
    ) {
        var entry = makeEntry(event, message, cgroup: cgroup)
        entry.pid = pid
        entry.exitStatus = exitStatus
        entry.signal = signal
        entry.bytes = bytes
        entry.hook = hook
        entry.killedBy = killedBy
        append(entry)
    }

    private func append(_ entry: TimelineEntry) {
        result?.timeline.append(entry)
        onEntry(entry)
    }

    private static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.totalNanoseconds) / 1_000_000
    }
}
