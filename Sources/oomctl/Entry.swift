import Glibc
import OOMKit
import OOMKitCore
import OomctlCommands

// The entry point lives outside main.swift on purpose: `await Oomctl.main()` in main.swift picks the
// synchronous overload and every run fails (see DESIGN.md, "Swift specifics that bite").
@main
enum Entry {
    static func main() {
        // The guardian (`oomctl guardian`, started by watch) first of all: it must stay small, and the
        // command-line parser alone would touch megabytes of code it never needs (see ARCHITECTURE.md).
        Guardian.runIfRequested()
        // The arguments as the bytes they are: CommandLine.arguments repairs bytes that are not UTF-8,
        // so a cgroup named so could not be given (LosslessText keeps them).
        let arguments = (1..<Int(CommandLine.argc)).compactMap { index in
            CommandLine.unsafeArgv[index].map { LosslessText.decodeArgument(cString: $0) }
        }
        // Before anything else: a kill must not wait its turn behind what it kills (see KillPriority).
        KillPriority.raiseIfKilling(arguments)
        // Oomctl.run, not Oomctl.main: its output is checked to the last byte (exit 74 when it was lost).
        exit(Oomctl.run(arguments))
    }
}
