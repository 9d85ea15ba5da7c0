import OomctlCommands

// The entry point lives outside main.swift on purpose: `await Oomctl.main()` in main.swift picks the
// synchronous overload and every run fails (see DESIGN.md, "Swift specifics that bite").
@main
enum Entry {
    static func main() {
        Oomctl.main()
    }
}
