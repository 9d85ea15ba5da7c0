import ArgumentParser
import OOMKit

/// `oomctl snapshot`: memory diagnostics of the system, a cgroup tree and its largest processes.
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Capture memory diagnostics: the system, a cgroup tree and its largest processes.",
        discussion: """
            Reads the memory figures of CGROUP and every cgroup below it (usage, limits, memory.stat, OOM \
            counters, pressure, priority), the processes in that tree using the most memory (resident set \
            plus swap, with oom_score), and the system-wide picture: meminfo, vmstat, PSI, the largest slab \
            caches and vmalloc callers, free pages per zone and fragmentation.

            In a terminal it prints a summary to read at a glance. --json prints the full snapshot as \
            versioned JSON (schema: docs/snapshot-schema.md); -o writes that JSON to a file, atomically and \
            with mode 0600 (command lines may hold secrets), refusing to write through a symbolic link.

            Works without root: /proc/slabinfo and /proc/vmallocinfo are readable by root only, so those \
            parts are left out with a note.

            EXAMPLES:
              oomctl snapshot                         the whole memory hierarchy
              oomctl snapshot /system.slice --top 20  one subtree, 20 processes
              oomctl snapshot --pid 1234              the cgroup of process 1234
              oomctl snapshot --json | jq '.cgroups[] | select((.events.oomKill // .oomControl.oomKill) > 0) | .path'
              oomctl snapshot -o /var/tmp/oom-$(date +%s).json

            \(ExitStatus.helpText)
            """
    )

    @OptionGroup var target: CgroupTargetOptions

    @Flag(help: "Print the full snapshot as JSON (schema version \(Snapshot.currentSchemaVersion)).")
    var json = false

    @Option(
        name: [.customShort("o"), .customLong("output")],
        help: ArgumentHelp("Write the JSON snapshot to FILE (atomically, mode 0600).", valueName: "FILE"))
    var output: String?

    @Option(help: ArgumentHelp("How many processes to list (0 to 10000).", valueName: "N"))
    var top = 10

    func validate() throws {
        try target.requireOneTarget()
        guard (0...10_000).contains(top) else {
            throw ValidationError("--top must be between 0 and 10000, not \(top)")
        }
        if let output, output.isEmpty {
            throw ValidationError("--output needs a file name")
        }
    }

    func run() throws {
        try reportingErrors {
            let system = try CgroupSystem.fromEnvironment()
            let root = try target.resolve(in: system)
            let snapshot = try SnapshotCollector(system: system)
                .collect(root: root, options: SnapshotOptions(topProcesses: top))
            if let output {
                try AtomicFile.write(snapshot.jsonBytes(), to: output, mode: 0o600)
                Terminal.printError(
                    "oomctl: wrote snapshot of \(snapshot.cgroups.count) cgroups and "
                        + "\(snapshot.processes.count) processes to \(output)")
                if json { Terminal.write(bytes: snapshot.jsonBytes()) }
            } else if json {
                Terminal.write(bytes: snapshot.jsonBytes())
            } else {
                Terminal.print(SnapshotSummary(snapshot: snapshot, cgroupLimit: max(top, 10)).render())
            }
        }
    }
}
