import Glibc
import Logging
import OOMKit

/// Turns what a ``WatchService`` reports besides handling steps into log lines: the start-up line,
/// what a previous watch left behind, warnings, the stop.
struct NoticeReporter {
    let configuration: WatchConfiguration
    /// Where the system scope's PSI trigger is armed (for its start-up line).
    let procPath: String
    let log = Logger(label: "oomctl.watch")

    func report(_ notice: WatchNotice) {
        switch notice {
        case .started(let started):
            if case .system(let scope) = configuration.scope {
                announceSystem(started, scope: scope)
            } else {
                announce(started)
            }
        case .leftoverKillerRestored(let path):
            log.log(
                .warning, "re-enabled the kernel OOM killer that a previous watch left disabled",
                metadata: ["cgroup": .string(path.description)])
        case .leftoverReserveRestored(let path):
            log.log(
                .warning, "restored the memory limit that a previous watch left raised by a reserve grant",
                metadata: ["cgroup": .string(path.description)])
        case .leftoverReserveStillRaised(let path):
            log.log(
                .warning,
                "a previous watch left this memory limit raised by a reserve grant; usage is still above the original limit, so it cannot be restored yet (tried again for a minute as usage falls)",
                metadata: ["cgroup": .string(path.description)])
        case .leftoverReserveNotRestored(let path, let reason):
            log.log(
                .warning, level: .error,
                "a previous watch left the memory limit of \(path.description.visibleControlCharacters) raised by a reserve grant, and it is not restored: \(reason)",
                metadata: ["cgroup": .string(path.description)])
        case .guardianRestarted(let previous, let ended, let pid):
            log.log(
                .warning, level: .error,
                "the guardian (pid \(previous)) \(ended.phrase); started a new one (pid \(pid)) and told it everything it must restore if watch dies",
                metadata: ["guardian_pid": .stringConvertible(pid)])
        case .guardianLost(let error):
            log.log(
                .warning, level: .critical, "\(error.description)",
                metadata: ["guardian_pid": .stringConvertible(error.pid)])
        case .highFollowsMax(let path, let old, let new):
            log.log(
                level: .notice,
                "memory.high of \(path.description.visibleControlCharacters) follows memory.max to keep its reserve: \(old) → \(new)",
                metadata: ["cgroup": .string(path.description), "high_bytes": .stringConvertible(new.bytes)])
        case .grantFollowsMax(let path, let then):
            log.log(
                level: .notice,
                "memory.max of \(path.description.visibleControlCharacters) changed while its reserve is granted: memory.high goes to \(then) (memory.max − reserve) when the grant ends",
                metadata: ["cgroup": .string(path.description), "high_bytes": .stringConvertible(then.bytes)])
        case .highNotReconciled(let path, let reason):
            log.log(
                .warning, "cannot keep memory.high in step with the reserve: \(reason)",
                metadata: ["cgroup": .string(path.description)])
        case .watchingNewCgroup(let path):
            log.info("watching new cgroup", metadata: ["cgroup": .string(path.description)])
        case .notWatched(let path, let reason):
            log.log(.warning, "not watched: \(reason)", metadata: ["cgroup": .string(path.description)])
        case .targetAwaited(let path):
            log.log(
                level: .notice,
                "watched cgroup \(path.description.visibleControlCharacters) was removed; it is watched again if it is made anew",
                metadata: ["cgroup": .string(path.description)])
        case .targetWatchedAgain(let path):
            log.log(
                level: .notice,
                "watched cgroup \(path.description.visibleControlCharacters) was made anew and is watched again",
                metadata: ["cgroup": .string(path.description)])
        case .inheritedKillerReleased(let path):
            log.info(
                "new cgroup inherited the disabled kernel OOM killer and got it back (not handled without --recursive)",
                metadata: ["cgroup": .string(path.description)])
        case .cannotWatchNewCgroup(let path, let reason):
            log.log(.warning, "cannot watch new cgroup: \(reason)", metadata: ["cgroup": .string(path.description)])
        case .notDelegated(let path, let what, let reason):
            log.log(.warning, "\(what): \(reason)", metadata: ["cgroup": .string(path.description)])
        case .selfProtectionWarning(let text):
            log.log(.warning, "\(text)")
        case .ownCgroupNotProtected(let problem):
            let text =
                switch problem {
                case .notInOwnV2Cgroup: "--protect-self needs watch in its own cgroup v2 (not the root); ignored"
                case .shared(let path, let others):
                    "--protect-self: \(path.description.visibleControlCharacters) holds \(others) other process(es); "
                        + "run watch in a cgroup of its own (e.g. a systemd service); ignored"
                case .failed(let reason): "--protect-self: \(reason)"
                }
            log.log(.warning, "\(text)")
        case .pressureTriggerAdjusted(let asked, let armed):
            log.log(
                .warning,
                "this process may only use PSI windows that are multiples of 2s (no CAP_SYS_RESOURCE): armed \(armed) instead of \(asked)"
            )
        case .systemMemoryShort(let level, let reason, let available, let total):
            let text =
                "system memory below the \(level == .act ? "act" : "warn") threshold (\(reason)): "
                + "available \(available?.description ?? "?") of \(total?.description ?? "?")"
            log.log(
                level == .act ? .oomDetected : .warning, "\(text)",
                metadata: ["event": "system-\(level)", "available_bytes": .stringConvertible(available?.bytes ?? 0)])
        case .reserveLeftToGuardian(let path):
            log.log(
                .warning, "usage is still above the original limit; the guardian restores it once usage allows",
                metadata: ["cgroup": .string(path.description)])
        case .controlSocketUnavailable(let reason):
            log.log(.warning, "no control socket, oomctl status will not see this watch: \(reason)")
        case .stopped(let signal):
            let restored =
                if case .system = configuration.scope { "" } else { "; the kernel OOM killer is restored everywhere" }
            log.log(
                .watchStopped, "stopped by signal \(signal)\(restored)",
                metadata: ["signal": .stringConvertible(signal)])
        }
    }

    private func announce(_ started: WatchStartReport) {
        let options = configuration.handling
        var parts = ["watching \(started.cgroups) cgroup\(started.cgroups == 1 ? "" : "s")"]
        if let hierarchy = started.hierarchy {
            parts.append("on cgroup \(hierarchy.version) at \(hierarchy.mountPoint)")
            parts.append("for " + started.kinds.map(\.rawValue).sorted().joined(separator: ","))
        }
        parts.append("hooks \(options.hooks.count)")
        switch options.action {
        case .none: break
        case .kill(let policy): parts.append("kill \(policy.policy.rawValue)")
        case .panic(let panic): parts.append("PANIC \(panic.mode.rawValue) through \(panic.trigger.path)")
        }
        parts.append("delay \(options.delay.compactDescription)")
        if options.dryRun { parts.append("DRY RUN") }
        parts += protectionParts(started)
        if let guardian = started.guardianPID { parts.append("guardian pid \(guardian)") }
        log.log(
            .watchStarted, "\(parts.joined(separator: "; "))",
            metadata: ["cgroups": .stringConvertible(started.cgroups), "pid": .stringConvertible(getpid())])
    }

    private func announceSystem(_ started: WatchStartReport, scope: WatchConfiguration.SystemScope) {
        let thresholds = scope.thresholds
        var line =
            "watching system memory: PSI trigger \(started.systemTrigger ?? scope.trigger) on \(procPath)/pressure/memory; "
        line += "act below \(thresholds.actAvailable) available"
        if let warn = thresholds.warnAvailable { line += ", warn below \(warn)" }
        if let swap = thresholds.actSwapFree { line += " (and below \(swap) free swap where swap exists)" }
        let root = started.systemRoot ?? .root
        if case .panic(let panic) = configuration.handling.action {
            line += "; PANIC \(panic.mode.rawValue) through \(panic.trigger.path) below it"
        } else {
            line += "; victims under \(root.description.visibleControlCharacters)"
        }
        line += "; cooldown \(scope.cooldown.compactDescription)"
        if configuration.handling.dryRun { line += "; DRY RUN" }
        if let maxCheckInterval = scope.maxCheckInterval {
            line += "; re-checks at most every \(maxCheckInterval.compactDescription) (sooner as memory gets short)"
        }
        let protection = protectionParts(started)
        if !protection.isEmpty { line += "; " + protection.joined(separator: "; ") }
        log.log(.watchStarted, "\(line)", metadata: ["pid": .stringConvertible(getpid())])
    }

    /// "memory locked (resident …, locked …)", the self reserve, oom_score_adj, memory.min.
    private func protectionParts(_ started: WatchStartReport) -> [String] {
        var parts: [String] = []
        if let protection = started.protection {
            var memory =
                protection.memoryLocked
                ? "memory locked" : protection.handlingCodeLocked != nil ? "handling code locked" : "memory not locked"
            if let resident = protection.resident {
                memory += " (resident \(resident)" + (protection.locked.map { ", locked \($0)" } ?? "") + ")"
            }
            parts.append(memory)
            if let reserve = protection.selfReserve { parts.append("self reserve \(reserve) pre-faulted") }
            if protection.scoreAdjusted { parts.append("oom_score_adj -1000") }
        }
        if let (path, minimum) = started.protectedCgroup {
            parts.append("memory.min \(minimum) on \(path.description.visibleControlCharacters)")
        }
        return parts
    }
}
