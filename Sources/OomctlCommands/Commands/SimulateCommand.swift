import ArgumentParser
import Glibc
import Logging
import OOMKit

/// `oomctl simulate`: drive a throwaway cgroup into a real OOM and handle it, or (`--from`) replay a
/// victim-selection policy on a saved snapshot.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Drive a throwaway cgroup into a real OOM and handle it, or replay a policy on a snapshot.",
        discussion: """
            A SANDBOX RUN (no --from) is the safe way to see oomctl work: it creates a memory cgroup \
            below your own (or --parent) with a small --limit, starts a memory hog in it (--hog-size, \
            --hog-rate, --hogs), runs the same handling pipeline as `oomctl watch` with the same options \
            (--hook, --kill, --delay, …), prints a timeline (OOM detected +x ms, hooks and their exit \
            statuses, reserve granted, victim killed and memory freed, fallback to the kernel or not), and \
            removes everything it created: when done, on a timeout, on Ctrl-C (exit 130) and on errors. \
            Only the sandbox is ever pushed to its limit; nothing outside it is touched. Needs root (or a \
            delegated cgroup you can write to). On cgroup v2 the kernel does not wait for userspace at \
            the limit: give --reserve so that memory.high events arrive first and the pipeline acts \
            before the kernel does; without it the timeline shows the kernel's kill.

            A REPLAY (--from SNAPSHOT) reads a snapshot written by `oomctl snapshot --json` or `-o FILE` \
            (on this or another machine) and runs a policy on it offline: nothing is read from the live \
            system and nothing is killed. The ranking is the one `oomctl kill --under CGROUP --dry-run` \
            prints on a live system with the same options. Take the snapshot with a large --top (e.g. \
            `--top 10000`) to replay process-level decisions faithfully.

            EXAMPLES:
              oomctl simulate --kill largest
              oomctl simulate --hook 'grep -w oom_kill /proc/vmstat' --kill triggering
              oomctl simulate --kill none --delay 500ms        # watch the kernel killer take over
              oomctl simulate --reserve 16M --hog-rate 32M --hook ./free-caches.sh --json
              oomctl simulate --hogs 3 --hog-size 40M --limit 96M --kill largest --process
              oomctl simulate --exec 'exec java -jar app.jar' --hook ./dump-heap.sh --reserve 16M
              oomctl snapshot --top 10000 -o before.json
              oomctl simulate --from before.json --policy priority
              oomctl simulate --from before.json --under /batch.slice --process --json

            \(ExitStatus.helpText)
              130 a sandbox run was interrupted (SIGINT); everything it created was removed
            """
    )

    @Option(
        help: ArgumentHelp("Replay a policy on this snapshot file ('-' for standard input).", valueName: "SNAPSHOT"))
    var from: String?

    @Option(
        name: .customLong("policy"),
        help: ArgumentHelp("With --from: how to pick the victim (default: largest).", valueName: "POLICY"))
    var policyName: PolicyName?

    @Option(
        help: ArgumentHelp(
            "With --from: let the policy pick among the descendants of CGROUP (default: the snapshot's root).",
            valueName: "CGROUP"))
    var under: String?

    @Option(
        help: ArgumentHelp(
            "Create the sandbox below this cgroup (default: your own memory cgroup; on v2 the nearest "
                + "ancestor that delegates the memory controller).",
            valueName: "CGROUP"),
        completion: .custom(CgroupCompletion.candidates))
    var parent: String?

    @Option(
        help: ArgumentHelp("The sandbox's memory limit, 4M to 4G (default: 64M).", valueName: "SIZE"),
        transform: ByteCount.parseFinite)
    var limit: ByteCount?

    @Option(
        help: ArgumentHelp(
            "Give the sandbox a reserve (as `oomctl reserve`): v1 grants it at the OOM, v2 sets memory.high.",
            valueName: "SIZE"),
        transform: ReserveSize.parse)
    var reserve: ReserveSize?

    @Option(
        help: ArgumentHelp("How much each hog allocates (default: twice the limit).", valueName: "SIZE"),
        transform: ByteCount.parseFinite)
    var hogSize: ByteCount?

    @Option(
        help: ArgumentHelp("How fast each hog allocates, per second (default: as fast as it can).", valueName: "SIZE"),
        transform: ByteCount.parseFinite)
    var hogRate: ByteCount?

    @Option(help: ArgumentHelp("How many hogs to start in the sandbox, 1 to 64 (default: 1).", valueName: "N"))
    var hogs: Int?

    @Option(
        name: .customLong("exec"),
        help: ArgumentHelp(
            "Also run this command in the sandbox, started before the hogs and killed at the end (repeatable): "
                + "the workload to rehearse a hook against.",
            valueName: "CMD"))
    var commands: [String] = []

    @Option(
        help: ArgumentHelp(
            "Stop (and clean up) a sandbox run still going after this long (default: 30s).", valueName: "DURATION"),
        transform: Duration.parsePositive)
    var timeout: Duration?

    @OptionGroup(title: "Handling (as in oomctl watch)") var handling: HandlingArguments

    @Flag(help: "Print the result (the timeline, or the replayed decision) as JSON.")
    var json = false

    private var isReplay: Bool { from != nil }

    func validate() throws {
        if let from {
            guard !from.isEmpty else { throw ValidationError("--from needs a snapshot file ('-' for stdin)") }
            // A replay ranks candidates offline: only the policy, --under and the victim filters apply.
            let sandboxOnly: [(Bool, String)] = [
                (parent != nil, "--parent"), (limit != nil, "--limit"), (reserve != nil, "--reserve"),
                (hogSize != nil, "--hog-size"), (hogRate != nil, "--hog-rate"), (hogs != nil, "--hogs"),
                (timeout != nil, "--timeout"), (!commands.isEmpty, "--exec"),
            ]
            let given = sandboxOnly.filter(\.0).map(\.1) + handling.givenPipelineOptions
            if let name = given.first {
                throw ValidationError("\(name) goes with a sandbox run, not with --from (a replay kills nothing)")
            }
            try handling.filters.validate()
            return
        }
        if policyName != nil || under != nil {
            throw ValidationError("--policy and --under go with --from; a sandbox run takes --kill POLICY")
        }
        _ = try sandboxSettings()
        try handling.check(sandbox: true)
    }

    /// The sandbox options, checked against each other, with their defaults.
    func sandboxSettings() throws -> SandboxSettings {
        let limit = self.limit ?? ByteCount(64 << 20)
        guard limit.bytes >= 4 << 20 else {
            throw ValidationError("--limit must be at least 4M (the hog alone needs a few)")
        }
        guard limit.bytes <= 4 << 30 else {
            throw ValidationError("--limit is at most 4G: a sandbox is for a small, safe OOM")
        }
        let hogs = self.hogs ?? 1
        guard (1...64).contains(hogs) else { throw ValidationError("--hogs takes 1 to 64, not \(hogs)") }
        if let reserve, reserve.resolve(limit: limit) >= limit {
            throw ValidationError("--reserve \(reserve) is not less than the sandbox's --limit \(limit)")
        }
        return SandboxSettings(
            parent: parent, limit: limit, reserve: reserve, hogSize: hogSize ?? ByteCount(limit.bytes * 2),
            hogRate: hogRate, hogs: hogs, timeout: timeout ?? .seconds(30), commands: commands)
    }

    func run() throws {
        try reportingErrors {
            if isReplay { return try replay() }
            try sandboxRun()
        }
    }

    // MARK: Sandbox runs

    private func sandboxRun() throws {
        let system = try CgroupSystem.fromEnvironment()
        // Only problems reach the terminal from the pipeline itself; the timeline tells the rest.
        LoggingSetup.bootstrap(LogSelection(mode: .console, descriptor: STDERR_FILENO), level: .warning)
        let settings = try sandboxSettings()
        try handling.checkEvents(on: system.memoryHierarchy().version)
        let live = !json
        let run = try SandboxRun(
            system: system, settings: settings, options: try handling.resolvedHandlingOptions(in: system, live: false),
            events: WatchConfiguration.Events(
                v1: handling.eventKinds(version: .v1), v2: handling.eventKinds(version: .v2)),
            pressure: handling.pressureTrigger(),
            onEntry: { entry in if live { Terminal.print(entry.line) } })
        let result = try run.run()
        if json {
            Terminal.write(bytes: JSONOutput.encode(result))
        } else {
            Terminal.print(result.summary)
        }
        if let signal = result.interruptedBy { throw ExitCode(128 + signal) }
        if !result.removed || result.timedOut { throw ExitCode(ExitStatus.actionFailed.rawValue) }
    }

    // MARK: Replays

    private func replay() throws {
        let snapshot = try loadSnapshot()
        let root = try under.map { try CgroupPath($0) } ?? snapshot.root
        var options = try handling.filters.options(resolve: { try CgroupPath($0) })
        options.policy = policyName ?? .largest
        options.selfPID = snapshot.takenByPID ?? -1
        options.selfCgroup = snapshot.takenByPID.flatMap { pid in
            snapshot.cgroups.first { $0.processIDs.contains(pid) }?.path
        }
        let decision = try PolicyEngine.decide(in: snapshot, under: root, options: options)
        if json {
            Terminal.write(bytes: JSONOutput.encode(decision))
        } else {
            Terminal.print(DecisionSummary(decision: decision).render(limit: 20))
            Terminal.print("simulated on the snapshot taken \(snapshot.takenAt); nothing was killed")
        }
    }

    private func loadSnapshot() throws -> Snapshot {
        let path = from ?? "-"
        let bytes: [UInt8]
        do {
            bytes = path == "-" ? try FileIO.readAll(fd: 0, path: "standard input") : try FileIO.read(path: path)
        } catch {
            if error.code == .isDirectory { throw NotASnapshotFile(path: path) }
            throw error.kind == .notFound
                ? SystemCallError("open snapshot", path: path, errno: error.errno) : error
        }
        return try Snapshot(json: bytes, source: path == "-" ? "standard input" : path)
    }
}

/// `simulate --from DIR`: an input that is no file (66, EX_NOINPUT, as for a file that is not there; not
/// 74, which is for a kernel file that fails to read).
struct NotASnapshotFile: OOMKitError {
    var path: String

    var kind: FailureKind { .notFound }
    var description: String {
        "cannot read snapshot '\(path)': it is a directory; give a snapshot file (or - for standard input)"
    }
}
