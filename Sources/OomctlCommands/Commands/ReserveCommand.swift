import ArgumentParser
import OOMKit

/// `oomctl reserve`: memory reserves for cgroups (the proposal's memory.oom_reserve_in_bytes).
struct ReserveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reserve",
        abstract: "Give a memory cgroup an OOM reserve, show it, list or clear reserves.",
        discussion: """
            A reserve is memory a cgroup may overdraw while its OOM is handled, so that its stalled tasks \
            and any handler inside it can still run. oomctl reserve CGROUP SIZE records it (an extended \
            attribute on the cgroup directory, trusted.oomctl.reserve, else user.oomctl.reserve, else a \
            state file under /run/oomctl/reserves; the output says which). SIZE is an amount (64M, 1.5G) \
            or a percentage of the cgroup's limit (25%).

            cgroup v2: memory.high is set to memory.max − SIZE at once, so the kernel throttles and raises \
            `high` events before the hard limit and a handler has time to act; --clear puts the previous \
            memory.high back.

            cgroup v1: oomctl watch grants the reserve when the cgroup hits OOM: memory.limit_in_bytes (and \
            memory.memsw.limit_in_bytes when set) go up by SIZE, the cgroup ranks lowest for the priority \
            policy ("overlimit"), and the original limit comes back once usage allows it — also when watch \
            dies (its guardian process writes it back).

            A reserve must be smaller than the cgroup's limit; on v1 it must also fit in what the nearest \
            limited ancestor has free and in the machine's MemAvailable. The same call twice changes \
            nothing the second time.

            EXAMPLES:
              oomctl reserve /batch.slice 64M
              oomctl reserve /batch.slice 10% -q
              oomctl reserve --pid 4242 64M      the cgroup of process 4242
              oomctl reserve /batch.slice
              oomctl reserve /batch.slice --json
              oomctl reserve --list --under /batch.slice
              oomctl reserve /batch.slice --clear

            \(ExitStatus.helpText)
            """
    )

    @OptionGroup var target: CgroupTargetOptions

    @Argument(
        help: ArgumentHelp("The reserve: an amount (64M, 1.5G) or a percentage of the limit (25%).", valueName: "SIZE"),
        transform: ReserveSize.parse)
    var size: ReserveSize?

    @Flag(help: "Remove the reserve and undo what it set (v2: the previous memory.high).")
    var clear = false

    @Flag(help: "List every reserve (below --under, default the whole hierarchy).")
    var list = false

    @Option(help: ArgumentHelp("With --list: only below this cgroup.", valueName: "CGROUP"))
    var under: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print nothing on success (the exit status says it all).")
    var quiet = false

    mutating func validate() throws {
        // `reserve --pid PID SIZE`: ArgumentParser fills the positionals in order, so SIZE lands in CGROUP.
        if target.pid != nil, size == nil, let word = target.cgroup {
            do {
                size = try ReserveSize.parse(word)
                target.cgroup = nil
            } catch {
                throw ValidationError(
                    "with --pid the argument is the SIZE, and '\(word)' is not one: \(error.description) "
                        + "(give either a CGROUP or --pid, not both)")
            }
        }
        try target.requireOneTarget()
        if list {
            guard target.cgroup == nil, target.pid == nil, size == nil, !clear else {
                throw ValidationError("--list takes no CGROUP, --pid, SIZE or --clear; use --under CGROUP")
            }
        } else {
            if under != nil { throw ValidationError("--under goes with --list") }
            if target.cgroup == nil && target.pid == nil {
                throw ValidationError("give a CGROUP (or --pid PID), or --list")
            }
            if clear && size != nil { throw ValidationError("give a SIZE or --clear, not both") }
        }
        if json && quiet { throw ValidationError("give --json or --quiet, not both") }
    }

    func run() throws {
        try reportingErrors {
            let system = try CgroupSystem.fromEnvironment()
            let reserves = Reserves(system: system)
            if list {
                let root = try under.map { text throws(CgroupError) in try system.memoryCgroupPath(for: text) } ?? .root
                let all = try reserves.list(under: root)
                if json {
                    Terminal.write(bytes: JSONOutput.encode(all))
                } else if !quiet {
                    print(all)
                }
                return
            }
            let memory = try MemoryCgroup.open(target.resolve(in: system), in: system)
            if clear {
                let cleared = try reserves.clear(memory)
                if json {
                    Terminal.write(bytes: JSONOutput.encode(Cleared(cgroup: memory.path, cleared: cleared)))
                } else if !quiet {
                    guard let cleared else { return Terminal.print("\(Self.shown(memory.path)): no reserve") }
                    var line = "\(Self.shown(memory.path)): reserve \(cleared.size) cleared"
                    if cleared.highLeft == true {
                        line +=
                            "; memory.high \(cleared.high?.description ?? "?") left as it is: it was set "
                            + "since the reserve (not memory.max − reserve), so it is not the reserve's to undo"
                    } else if let high = cleared.high {
                        line += "; memory.high \(high) again"
                    }
                    Terminal.print(line)
                }
                return
            }
            if let size {
                let status = try reserves.set(memory, size: size)
                if json {
                    Terminal.write(bytes: JSONOutput.encode(status))
                } else if !quiet {
                    Terminal.print(
                        "\(Self.shown(memory.path)): reserve \(status.size)\(status.changed ? "" : " (unchanged)")")
                    describe(status)
                }
                return
            }
            let status = try reserves.status(memory)
            if json {
                Terminal.write(bytes: JSONOutput.encode(Shown(cgroup: memory.path, reserve: status)))
            } else if !quiet {
                guard let status else { return Terminal.print("\(Self.shown(memory.path)): no reserve") }
                Terminal.print("\(Self.shown(memory.path)): reserve \(status.size)")
                describe(status)
            }
        }
    }

    private struct Cleared: Encodable {
        var cgroup: CgroupPath
        var cleared: ReserveStatus?
    }

    private struct Shown: Encodable {
        var cgroup: CgroupPath
        var reserve: ReserveStatus?
    }

    private func describe(_ status: ReserveStatus) {
        let size = status.size == status.bytes.description ? "\(status.bytes)" : "\(status.bytes) (\(status.size))"
        Terminal.print("  size      \(size), in \(status.storage)")
        if status.version == 2 {
            let previous = status.previousHigh.map { ", was \($0)" } ?? ""
            if status.inStep == false {
                let wanted =
                    status.expectedHigh.map {
                        "memory.max \(status.limit?.description ?? "?") − \(status.bytes) = \($0)"
                    }
                    ?? "a memory.max above the reserve \(status.bytes), which memory.max \(status.limit?.description ?? "?") is not"
                Terminal.print(
                    "  applied   NOT IN STEP: memory.high \(status.high?.description ?? "?"), the reserve wants "
                        + "\(wanted)\(previous); memory.max or memory.high changed with no watch running to follow "
                        + "it: set the reserve again (oomctl reserve CGROUP SIZE), or run oomctl watch, which keeps "
                        + "them in step")
            } else {
                Terminal.print(
                    "  applied   memory.high \(status.high?.description ?? "?") = memory.max \(status.limit?.description ?? "?") − \(status.bytes)\(previous)"
                )
            }
        } else if status.granted, let original = status.originalLimit {
            Terminal.print("  applied   GRANTED now: limit \(status.limit?.description ?? "?") (original \(original))")
        } else {
            Terminal.print(
                "  applied   pending: watch raises the limit \(status.limit?.description ?? "?") by \(status.bytes) on OOM; not granted now"
            )
        }
    }

    private func print(_ all: [ReserveStatus]) {
        guard !all.isEmpty else { return Terminal.print("no reserves") }
        var table = TextTable(["RESERVE", "LIMIT", "APPLIED", "STORED IN", "CGROUP"], leftAligned: [2, 3, 4])
        for status in all {
            let applied =
                status.version == 2
                ? "high \(status.high?.description ?? "?")\(status.inStep == false ? " NOT IN STEP" : "")"
                : status.granted ? "GRANTED" : "on OOM"
            table.append([
                status.size, status.limit?.description ?? "?", applied, status.storage, Self.shown(status.cgroup),
            ])
        }
        table.render(indent: 0).forEach { Terminal.print($0) }
    }

    private static func shown(_ path: CgroupPath) -> String { path.description.visibleControlCharacters }
}
