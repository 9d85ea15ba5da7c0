import ArgumentParser
import OOMKit

/// The root command: `oomctl`.
public struct Oomctl: ParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "oomctl",
        abstract: "Handle out-of-memory conditions in userspace, per memory cgroup.",
        version: version,
        subcommands: [SnapshotCommand.self, HogCommand.self]
    )

    public init() {}
}
