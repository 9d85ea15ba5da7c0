import ArgumentParser
import Glibc
import OOMKit

/// `oomctl status`: what each running `oomctl watch` is doing, asked over its control socket.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what running watches are doing: cgroups, handlings in progress, the last ones, the guardian.",
        discussion: """
            Asks every running oomctl watch this user may talk to (or the one of --pid, or of the systemd \
            unit --unit names) over its control \
            socket and prints its state: the options in force, every watched cgroup (on v1 whether watch \
            armed it, i.e. disabled the kernel OOM killer there, and any reserve granted now), the \
            handlings in progress with their phase and age, the last \(StatusRecorder.recentLimit) \
            handlings with their outcome, and the guardian's PID and health.

            A watch run by root listens at \(ControlSocketDirectory.system)/watch-PID.sock, an \
            unprivileged one at $XDG_RUNTIME_DIR/oomctl/watch-PID.sock; each socket is mode 0600 and \
            answers only root and the watch's own user. Root sees every watch (also those in \
            /run/user/UID/oomctl); a user sees their own. A socket a killed watch left behind is skipped \
            (and removed by the next watch).

            --json prints one JSON array with an object per watch, for scripts. --metrics prints each \
            watch's metrics in the Prometheus text format instead (a watch with no metrics says so).

            EXAMPLES:
              oomctl status                     every watch, readable
              oomctl status --pid 1234 --json   one watch, as JSON
              oomctl status --unit oomctl-watch@batch   the watch of one instance of the template unit
              oomctl status --json | jq '.[].handlings[] | {cgroup, phase, ageMilliseconds}'
              oomctl status --metrics

            Exits 69 when no watch that this user may ask is running (or answering), 77 when the watches \
            that run refuse this user (ask as root or as their user).

            \(ExitStatus.helpText)
            """
    )

    @Option(help: ArgumentHelp("Ask only the watch with this PID.", valueName: "PID"))
    var pid: Int32?

    @Option(
        help: ArgumentHelp(
            "Ask only the watch that runs in this systemd unit (its cgroup's name; .service may be left out).",
            valueName: "UNIT"))
    var unit: String?

    @Flag(help: "Print a JSON array with one object per watch.")
    var json = false

    @Flag(help: "Print each watch's metrics (Prometheus text format) instead of its status.")
    var metrics = false

    func validate() throws {
        if let pid, pid <= 0 { throw ValidationError("--pid must be positive, not \(pid)") }
        if pid != nil && unit != nil { throw ValidationError("--pid and --unit each name one watch: give one") }
        if let unit, unit.isEmpty || unit.contains("/") {
            throw ValidationError("--unit takes a unit name such as oomctl-watch@batch.service, not '\(unit)'")
        }
        if json && metrics { throw ValidationError("--metrics prints the metrics text: drop --json") }
    }

    func run() throws {
        let sockets = candidateSockets()
        var statuses: [WatchStatus] = []
        var answered = 0
        var refused: [String] = []
        var problems: [String] = []
        for (watchPID, socket, owner) in sockets {
            switch ControlClient.ask(socket, metrics ? "metrics" : "status", owner: owner) {
            case .failure(.gone): continue
            case .failure(.notAWatch(let reason)): problems.append("skipped: \(reason)")
            case .failure(.refused(let reason)): refused.append("watch \(watchPID): \(reason)")
            case .failure(.error(_, let message)): problems.append("watch \(watchPID): \(message)")
            case .failure(.failed(let message)): problems.append("watch \(watchPID): \(message)")
            case .success(let body):
                if metrics {
                    answered += 1
                    Terminal.print("# oomctl watch \(watchPID) (\(socket))")
                    Terminal.write(bytes: Array(Self.printable(String(decoding: body, as: UTF8.self)).utf8))
                    continue
                }
                switch JSONOutput.decode(WatchStatus.self, from: body) {
                case .success(let status):
                    answered += 1
                    statuses.append(status)
                case .failure(let failure):
                    problems.append("watch \(watchPID): an answer that does not parse (\(failure.reason))")
                }
            }
        }
        if json {
            Terminal.write(bytes: JSONOutput.encode(statuses))
        } else if !metrics && !statuses.isEmpty {
            Terminal.print(
                statuses.map(StatusSummary.lines).map {
                    // Each line escaped on its own: a newline inside a field sent by the watch stays visible.
                    $0.map(\.visibleControlCharacters).joined(separator: "\n")
                }.joined(separator: "\n\n"))
        }
        for problem in refused + problems { Terminal.printError("oomctl: warning: \(problem)") }
        guard answered == 0 else { return }
        if !refused.isEmpty {
            Terminal.printError(
                "oomctl: error: the running watch\(refused.count == 1 ? "" : "es") refuse\(refused.count == 1 ? "s" : "") "
                    + "uid \(geteuid()): run oomctl status as root or as the user the watch runs as")
            throw ExitCode(ExitStatus.noPermission.rawValue)
        }
        if problems.isEmpty {
            Terminal.printError("oomctl: error: \(notRunningMessage)")
        }
        throw ExitCode(ExitStatus.unavailable.rawValue)
    }

    /// A text a watch sent (the metrics), line by line, with no control sequence left to reach the
    /// terminal: it may come from another user's process.
    static func printable(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0).visibleControlCharacters }
            .joined(separator: "\n")
    }

    /// The sockets to ask, with the owner of their directory (the only user who may serve there):
    /// every watch's, or the one of --pid, or those of --unit.
    private func candidateSockets() -> [(pid: Int32, path: String, owner: uid_t)] {
        let all = ControlSocketDirectory.searched().flatMap { directory in
            ControlSocketDirectory.owner(of: directory).map { owner in
                ControlSocketDirectory.sockets(in: directory).map { (pid: $0.pid, path: $0.path, owner: owner) }
            } ?? []
        }
        if let pid { return all.filter { $0.pid == pid } }
        if let unit { return all.filter { Self.process($0.pid, runsIn: unit) } }
        return all
    }

    /// Whether the process's cgroup, in any hierarchy (systemd's name=systemd on v1, the unified one on
    /// v2), is the unit's: its last component is UNIT, or UNIT.service.
    static func process(_ pid: Int32, runsIn unit: String) -> Bool {
        let names = unit.contains(".") ? [unit] : [unit, unit + ".service"]
        let text = (try? FileIO.readText(path: "/proc/\(pid)/cgroup")) ?? ""
        return text.split(separator: "\n").contains { line in
            guard let last = line.split(separator: "/").last else { return false }
            return names.contains(String(last))
        }
    }

    private var notRunningMessage: String {
        let place = ControlSocketDirectory.searched().joined(separator: ", ")
        let which =
            pid.map { "no oomctl watch with PID \($0) is running" }
            ?? unit.map { "no oomctl watch is running in the unit \($0)" } ?? "no oomctl watch is running"
        return "\(which) (no live control socket in \(place)); start one with 'oomctl watch CGROUP' "
            + "or 'systemctl start oomctl-watch.service'"
    }
}

/// `oomctl status` for a person: a `systemctl status`-like block per watch.
enum StatusSummary {
    static func lines(_ status: WatchStatus) -> [String] {
        let options = status.options
        var fields: [(String, String)] = []
        let uptime = Duration.milliseconds(status.uptimeMilliseconds).compactDescription
        let head =
            "● oomctl watch, pid \(status.pid), uid \(status.uid)"
            + (status.version.isEmpty ? "" : ", oomctl \(status.version)")
        fields.append(("Since", "\(status.startedAt); up \(uptime)"))
        let targets =
            options.scope == "system"
            ? "the system's memory" : options.targets.map(\.description).joined(separator: " ")
        fields.append(("Targets", targets + (options.recursive ? " (recursive)" : "")))
        var action = options.action
        if options.dryRun { action += " (dry run)" }
        action += ", delay \(milliseconds(options.delayMilliseconds))"
        if options.hold != "none" { action += ", hold \(options.hold)" }
        fields.append(("Action", action))
        let events = options.events.keys.sorted().compactMap { version -> String? in
            guard let kinds = options.events[version], !kinds.isEmpty else { return nil }
            return "v\(version) " + kinds.map(\.rawValue).joined(separator: ",")
        }
        fields.append(("Events", events.joined(separator: "; ")))
        for hook in options.hooks { fields.append(("Hook", hook)) }
        for hook in options.postKillHooks { fields.append(("Post-kill", hook)) }
        if !options.hooks.isEmpty || !options.postKillHooks.isEmpty {
            fields.append(("Hook limit", milliseconds(options.hookTimeoutMilliseconds)))
        }
        if let directory = options.snapshotDirectory { fields.append(("Snapshots", directory)) }
        var protection = options.selfProtection ? "on" : "off"
        if let reserve = options.selfReserve { protection += ", self reserve \(reserve)" }
        fields.append(("Protection", protection))
        if let guardian = status.guardian {
            let restarts = guardian.restarts == 0 ? "" : ", restarted \(guardian.restarts)×"
            fields.append(("Guardian", "pid \(guardian.pid), \(guardian.alive ? "alive" : "not running")\(restarts)"))
        } else {
            fields.append(("Guardian", "none"))
        }
        let armed = status.cgroups.filter(\.armed).count
        let granted = status.cgroups.filter { $0.reserveGranted != nil }.count
        var cgroupLine = "\(status.cgroupCount) watched"
        if armed > 0 { cgroupLine += ", \(armed) armed (kernel OOM killer disabled)" }
        if granted > 0 { cgroupLine += ", \(granted) with a reserve granted" }
        fields.append(("Cgroups", cgroupLine))
        fields.append(("Handlings", "\(status.handlings.count) in progress, \(status.finishedCount) finished"))

        let width = fields.map(\.0.count).max() ?? 0
        var lines = [head]
        let pad = { (label: String) in String(repeating: " ", count: max(0, width + 4 - label.count)) + label }
        lines += fields.map { "\(pad($0.0)): \($0.1)" }
        let indent = width + 6

        var cgroups = TextTable(["CGROUP", "V", "ARMED", "RESERVE"], leftAligned: [0, 2, 3])
        for cgroup in status.cgroups {
            cgroups.append([
                cgroup.path.description, "\(cgroup.version.rawValue)", cgroup.armed ? "yes" : "no",
                cgroup.reserveGranted.map { "\($0) granted" } ?? "-",
            ])
        }
        if !status.cgroups.isEmpty { lines += [""] + cgroups.render(indent: indent) }
        if status.cgroupCount > status.cgroups.count {
            lines.append(
                String(repeating: " ", count: indent) + "… and \(status.cgroupCount - status.cgroups.count) more")
        }
        if !status.handlings.isEmpty {
            var table = TextTable(["ID", "CGROUP", "EVENT", "AGE", "PHASE"], leftAligned: [1, 2, 4])
            for handling in status.handlings {
                table.append([
                    "#\(handling.id)", handling.cgroup.description, handling.event.rawValue,
                    milliseconds(handling.ageMilliseconds),
                    handling.phase + (handling.detail.map { ": \($0)" } ?? ""),
                ])
            }
            lines += ["", pad("In progress") + ":"] + table.render(indent: indent)
        }
        if !status.recent.isEmpty {
            var table = TextTable(["ID", "CGROUP", "EVENT", "FINISHED", "TOOK", "OUTCOME"], leftAligned: [1, 2, 3, 5])
            for handling in status.recent.reversed() {
                table.append([
                    "#\(handling.id)", handling.cgroup.description, handling.event.rawValue, handling.finishedAt,
                    milliseconds(handling.durationMilliseconds),
                    handling.outcome.rawValue + (handling.killed.map { ": \($0)" } ?? ""),
                ])
            }
            lines += ["", pad("Last handlings") + ":"] + table.render(indent: indent)
        }
        return lines
    }

    private static func milliseconds(_ value: Int64) -> String {
        value == 0 ? "0s" : Duration.milliseconds(value).compactDescription
    }
}
