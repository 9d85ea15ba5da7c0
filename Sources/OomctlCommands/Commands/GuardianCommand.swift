import ArgumentParser
import Glibc
import OOMKit

/// `oomctl guardian` (hidden): the process that re-enables the kernel OOM killer if watch dies.
struct GuardianCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guardian",
        abstract: "Restore the kernel OOM killer on the cgroups listed on stdin when stdin closes (used by watch).",
        shouldDisplay: false
    )

    func run() throws {
        // Never waits on a standard error nobody reads (watch's, shared): see Guardian.standardErrorLog.
        Guardian.run(input: STDIN_FILENO, log: Guardian.standardErrorLog())
    }
}
