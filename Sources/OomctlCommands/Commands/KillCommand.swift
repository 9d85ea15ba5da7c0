import ArgumentParser
import Glibc
import OOMKit

/// `oomctl kill`: kill a cgroup, one process, or the victim a policy picks.
struct KillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill",
        abstract: "Kill a memory cgroup, a process, or the victim a policy picks.",
        discussion: """
            oomctl kill CGROUP kills every process in CGROUP and below. On cgroup v2 it writes \
            cgroup.kill first, before it lists anything (a fork bomb gets no time to grow), then waits \
            until the subtree is empty (cgroup.events populated 0); a threaded cgroup, which refuses \
            cgroup.kill, is killed by its threads' processes. On v1 it reads cgroup.procs and signals \
            every process through a pidfd, again and again until no process is left that was not \
            signalled, so a forking task cannot escape. Signals always go through pidfds: never to a \
            bare PID that may have been reused. After SIGKILL, process_mrelease reaps the memory early \
            where the kernel has it. It runs at nice -20 where it may (root), so that what it kills \
            cannot keep it from the CPU.

            oomctl kill --pid PID kills one process. oomctl kill --under CGROUP lets a policy pick the \
            victim among CGROUP's descendants (see POLICIES); --process picks one process instead of a \
            whole cgroup. --dry-run prints the ranked decision and kills nothing.

            Refuses to kill the root cgroup, PID 1, oomctl itself or a cgroup that contains it.

            POLICIES:
              largest     the descendant cgroup (or process) using the most memory (default)
              priority    at each level the child with the lowest user.oomctl.priority
                          (then trusted.oomctl.priority, then --priority; none set:
                          the highest set among its siblings, else 0; higher = more
                          important), ties by memory; down to a leaf or a
                          memory.oom.group unit; when CGROUP has a limit, candidates
                          too small to get it 1/32 of the limit below it rank last
              triggering  CGROUP itself, no scan
              oom-score   the process with the highest /proc/PID/oom_score
            With --process, a process in a memory.oom.group=1 unit stands for its unit, which is \
            killed whole, as the kernel's own OOM killer does.

            EXAMPLES:
              oomctl kill /batch.slice/job-42.scope
              oomctl kill --pid 4242 --signal TERM --grace 5s
              oomctl kill --under /batch.slice --policy priority --dry-run
              oomctl kill --under / --policy largest --process --avoid '^(sshd|systemd)$'

            \(ExitStatus.helpText)
            """
    )

    @Argument(
        help: ArgumentHelp("The cgroup to kill (every process in it and below).", valueName: "CGROUP"),
        completion: .custom(CgroupCompletion.candidates))
    var cgroup: String?

    @Option(help: ArgumentHelp("Kill this one process instead.", valueName: "PID"))
    var pid: Int32?

    @OptionGroup var policy: PolicyArguments

    @OptionGroup var signalling: KillSignalArguments

    @Option(
        help: ArgumentHelp(
            "How long to wait for the processes to exit after SIGKILL (default: 10s).", valueName: "DURATION"),
        transform: Duration.parsePositive)
    var timeout: Duration?

    @Flag(help: "Print what would be killed, and why, without killing anything.")
    var dryRun = false

    @Flag(help: "Print the result (and the decision) as JSON.")
    var json = false

    func validate() throws {
        let targets = [cgroup != nil, pid != nil, policy.under != nil].filter { $0 }.count
        guard targets == 1 else {
            throw ValidationError("give exactly one of CGROUP, --pid PID or --under CGROUP")
        }
        if policy.under == nil && policy.isCustomized {
            throw ValidationError("--policy, --process and the filters go with --under CGROUP")
        }
        if let pid, pid <= 0 { throw ValidationError("--pid must be a positive process ID, not \(pid)") }
        try signalling.validate()
        try policy.validate()
    }

    /// How the victim is killed: --signal, then SIGKILL after --grace, then up to --timeout for the exit.
    var killOptions: KillOptions {
        signalling.killOptions(timeout: timeout ?? .seconds(10))
    }

    func run() throws {
        try reportingErrors {
            let system = try CgroupSystem.fromEnvironment()
            let killer = Killer(system: system)
            let options = killOptions
            var decision: Decision?
            let target: KillTarget
            if let pid {
                target = .process(pid)
            } else if let cgroup {
                target = .cgroup(try system.memoryCgroupPath(for: cgroup))
            } else {
                let chosen = try policy.decide(in: system)
                decision = chosen
                guard let victim = chosen.victim else {
                    throw PolicyError.noCandidates(under: chosen.root, excluded: 0)
                }
                switch victim.target {
                case .cgroup(let path): target = .cgroup(path)
                case .process(let pid, _, _): target = .process(pid)
                }
            }
            // An unprivileged caller is refused (77) before anything is signalled, naming the owner.
            try requireMayKill(target, system: system)
            if dryRun {
                try printDryRun(target: target, decision: decision, system: system)
                return
            }
            let report: KillReport
            switch target {
            case .process(let pid): report = try killer.kill(pid: pid, options: options)
            case .cgroup(let path): report = try killer.kill(MemoryCgroup.open(path, in: system), options: options)
            }
            if json {
                Terminal.write(bytes: JSONOutput.encode(KillOutput(dryRun: false, report: report, decision: decision)))
            } else {
                if let decision { Terminal.print(DecisionSummary(decision: decision).render(limit: 5)) }
                Terminal.print(KillSummary(report: report).render())
            }
        }
    }

    /// Refuses a target outside what the caller may kill: another user's process, or a cgroup outside the
    /// subtree delegated to the caller (``Delegation``). Root is never refused here.
    private func requireMayKill(_ target: KillTarget, system: CgroupSystem) throws {
        let delegation = Delegation(system: system, hierarchy: try system.memoryHierarchy())
        guard !delegation.isPrivileged else { return }
        switch target {
        case .process(let pid):
            try delegation.requireSignallable(
                pid, procfs: system.procfs, cgroup: try? system.memoryCgroupPath(ofProcess: pid))
        case .cgroup(let path):
            try delegation.requireMayKill(MemoryCgroup.open(path, in: system), procfs: system.procfs)
        }
    }

    private func printDryRun(target: KillTarget, decision: Decision?, system: CgroupSystem) throws {
        // Check the target as a real kill would, so a dry run fails where the kill would.
        let killer = Killer(system: system)
        switch target {
        case .process(let pid):
            try killer.checkAllowed(pid: pid)
            _ = try system.memoryCgroupPath(ofProcess: pid)
        case .cgroup(let path):
            _ = try MemoryCgroup.open(path, in: system)
            try killer.checkAllowed(path)
        }
        if json {
            Terminal.write(bytes: JSONOutput.encode(KillOutput(dryRun: true, report: nil, decision: decision)))
            return
        }
        if let decision { Terminal.print(DecisionSummary(decision: decision).render(limit: 20)) }
        switch target {
        case .process(let pid): Terminal.print("dry run: would kill process \(pid); nothing was killed")
        case .cgroup(let path):
            Terminal.print(
                "dry run: would kill cgroup \(path.description.visibleControlCharacters); nothing was killed")
        }
    }
}

/// What `kill` aims at once the arguments (or the policy) have been resolved.
enum KillTarget {
    case cgroup(CgroupPath)
    case process(Int32)
}

/// The JSON `kill --json` prints.
struct KillOutput: Encodable {
    var dryRun: Bool
    var report: KillReport?
    var decision: Decision?
}

/// How a victim is signalled, shared by `kill` and the handling of `watch` and `simulate`: a first
/// signal, and SIGKILL after a grace when it is not KILL.
struct KillSignalArguments: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Signal to send first: a name (TERM, INT, HUP, …; SIG optional) or a number (default: KILL).",
            valueName: "SIGNAL"),
        completion: SignalArgument.defaultCompletionKind, transform: SignalArgument.parse)
    var signal: SignalArgument?

    @Option(
        help: ArgumentHelp(
            "With a --signal other than KILL: how long to wait before SIGKILL (default: 5s; watch sends it "
                + "only if the OOM or distress lasts).",
            valueName: "DURATION"),
        transform: Duration.parse)
    var grace: Duration?

    /// The options given, by flag name.
    var given: [String] { [(signal != nil, "--signal"), (grace != nil, "--grace")].filter(\.0).map(\.1) }

    func validate() throws {
        if grace != nil && (signal ?? .kill) == .kill {
            throw ValidationError(
                "--grace is the wait after a first --signal other than KILL; SIGKILL is not waited out")
        }
    }

    func killOptions(timeout: Duration) -> KillOptions {
        KillOptions(signal: (signal ?? .kill).number, grace: grace ?? .seconds(5), timeout: timeout)
    }
}
