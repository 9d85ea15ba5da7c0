import ArgumentParser
import OOMKit

/// `oomctl simulate --from SNAPSHOT`: replay a victim-selection policy offline.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Replay a victim-selection policy on a saved snapshot: who would be killed, ranked, and why.",
        discussion: """
            Reads a snapshot written by `oomctl snapshot --json` or `-o FILE` (on this or another machine) \
            and runs a policy on it, offline: nothing is read from the live system and nothing is killed. \
            The ranking is the one `oomctl kill --under CGROUP --dry-run` prints on a live system with the \
            same options. Process filters see the processes the snapshot lists: take it with a large \
            --top (e.g. `--top 10000`) to replay process-level decisions faithfully.

            (Sandbox runs that drive a throwaway cgroup into a real OOM are planned; for now simulate \
            needs --from.)

            EXAMPLES:
              oomctl snapshot --top 10000 -o before.json
              oomctl simulate --from before.json --policy priority
              oomctl simulate --from before.json --under /batch.slice --policy largest --process --json

            \(ExitStatus.helpText)
            """
    )

    @Option(help: ArgumentHelp("The snapshot file to replay ('-' for standard input).", valueName: "SNAPSHOT"))
    var from: String?

    @OptionGroup var policy: PolicyArguments

    @Flag(help: "Print the decision as JSON.")
    var json = false

    func validate() throws {
        guard let from, !from.isEmpty else {
            throw ValidationError("give --from SNAPSHOT (sandbox runs are not implemented yet)")
        }
        try policy.validate()
    }

    func run() throws {
        try reportingErrors {
            let snapshot = try loadSnapshot()
            let root = try policy.under.map { try CgroupPath($0) } ?? snapshot.root
            var options = try policy.options(resolve: { try CgroupPath($0) })
            options.selfPID = snapshot.takenByPID ?? -1
            options.selfCgroup = snapshot.takenByPID.flatMap { pid in
                snapshot.cgroups.first { $0.processIDs.contains(pid) }?.path
            }
            options.triggering = root
            let decision = try PolicyEngine(options: options).decide(in: snapshot, under: root)
            if json {
                Terminal.write(bytes: JSONOutput.encode(decision))
            } else {
                Terminal.print(DecisionSummary(decision: decision).render(limit: 20))
                Terminal.print("simulated on the snapshot taken \(snapshot.takenAt); nothing was killed")
            }
        }
    }

    private func loadSnapshot() throws -> Snapshot {
        let path = from ?? "-"
        let bytes: [UInt8]
        do {
            bytes = path == "-" ? try FileIO.readAll(fd: 0, path: "standard input") : try FileIO.read(path: path)
        } catch {
            throw error.kind == .notFound
                ? SystemCallError("open snapshot", path: path, errno: error.errno) : error
        }
        return try Snapshot(json: bytes, source: path == "-" ? "standard input" : path)
    }
}
