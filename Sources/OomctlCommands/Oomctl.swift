import ArgumentParser
import OOMKit

/// The root command: `oomctl`.
public struct Oomctl: ParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "oomctl",
        abstract: "Handle out-of-memory conditions in userspace, per memory cgroup.",
        discussion: """
            oomctl works on the memory cgroup hierarchy, cgroup v1 or v2, whichever carries the memory \
            controller. A CGROUP is named by its path in that hierarchy (/system.slice/foo.service, as \
            /proc/PID/cgroup shows it), by its path under the mount point (/sys/fs/cgroup/...), or with \
            --pid PID. Paths with '..', symbolic links and paths outside the hierarchy are refused.

            Not to be confused with systemd's oomctl(1), which shows the state of systemd-oomd.

            EXAMPLES:
              oomctl snapshot                 what is using memory, at a glance
              oomctl snapshot -o snap.json    the full diagnostics, for scripts and replay

            ENVIRONMENT:
              OOMCTL_ROOT   find /proc and the cgroup mounts below this directory
                            instead of / (fixture trees for tests)

            \(ExitStatus.helpText)
            """,
        version: version,
        subcommands: [
            WatchCommand.self, StatusCommand.self, SnapshotCommand.self, KillCommand.self, ReserveCommand.self,
            SimulateCommand.self,
            HogCommand.self,
        ]
    )

    public init() {}
}

extension Oomctl {
    /// Runs oomctl with `arguments` (without the program name) and returns the exit status. What
    /// ArgumentParser's `main()` does, with every byte of output, help and version included, written
    /// through ``Terminal``: output that could not be written (a full disk, `>/dev/full`) turns a status
    /// of 0 into 74, EX_IOERR; a command that failed keeps its own status. `help` refuses a subcommand
    /// that does not exist (64) rather than show the overview.
    public static func run(_ arguments: [String]) -> Int32 {
        var status: Int32
        do {
            try refuseUnknownHelpTopics(arguments)
            var command = try parseAsRoot(arguments)
            try command.run()
            status = ExitStatus.success.rawValue
        } catch {
            status = exitCode(for: error).rawValue
            let message = fullMessage(for: error)
            if !message.isEmpty {
                // Help and version are the output asked for; everything else is a complaint.
                if status == ExitStatus.success.rawValue {
                    Terminal.print(message)
                } else {
                    Terminal.printError(message)
                }
            }
        }
        if StandardOutput.finish() != nil && status == ExitStatus.success.rawValue {
            status = ExitStatus.ioError.rawValue
        }
        return status
    }

    /// `oomctl help WORD…`: every WORD must name a subcommand (ArgumentParser shows the overview for
    /// one that does not, and exits 0); `oomctl help help` says what help does.
    static func refuseUnknownHelpTopics(_ arguments: [String]) throws {
        guard arguments.first == "help" else { return }
        if arguments.dropFirst().first(where: { !$0.hasPrefix("-") }) == "help" {
            throw CleanExit.message(
                """
                USAGE: oomctl help [<subcommand> ...]

                  Shows the help of oomctl, or of a subcommand: `oomctl help watch` is `oomctl watch --help`.
                """)
        }
        var command: any ParsableCommand.Type = Oomctl.self
        var path = ["oomctl"]
        for word in arguments.dropFirst() where !word.hasPrefix("-") {
            let subcommands = command.configuration.subcommands
            guard let subcommand = subcommands.first(where: { $0.configuration.commandName == word }) else {
                let known = subcommands.compactMap {
                    $0.configuration.shouldDisplay ? $0.configuration.commandName : nil
                }
                throw ValidationError(
                    "\(path.joined(separator: " ")) has no subcommand '\(word)'"
                        + (known.isEmpty ? "" : "; help is there for: \(known.joined(separator: ", "))"))
            }
            command = subcommand
            path.append(word)
        }
    }
}
