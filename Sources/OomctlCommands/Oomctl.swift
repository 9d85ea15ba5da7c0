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
            WatchCommand.self, SnapshotCommand.self, KillCommand.self, ReserveCommand.self, SimulateCommand.self,
            HogCommand.self,
            GuardianCommand.self,
        ]
    )

    public init() {}
}
