import OomctlCommands

// The entry point lives outside main.swift on purpose: `await Oomctl.main()` in main.swift picks the
// synchronous overload and every run fails (see DESIGN.md, "Swift specifics that bite").
@main
enum Entry {
    static func main() {
        // Before anything else: a kill must not wait its turn behind what it kills (see KillPriority).
        KillPriority.raiseIfKilling(Array(CommandLine.arguments.dropFirst()))
        Oomctl.main()
    }
}
