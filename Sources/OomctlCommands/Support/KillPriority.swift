import Glibc

/// `oomctl kill` is often run against what takes the CPU (a fork bomb): it raises its own scheduling
/// priority to nice −20, where it may (root, CAP_SYS_NICE), as the first thing the process does.
///
/// Measured in the project's VM (Tests/vm/76-v2-units-reserves.sh, one vCPU, ~40 forking shells in a
/// cgroup): `oomctl --version` took 11.4–12.5 s to run at nice 0 and 0.17–0.18 s at nice −20.
package enum KillPriority {
    /// The nice value asked for.
    package static let niceness: Int32 = -20

    /// Raises the priority when `arguments` (without the program name) run the `kill` subcommand.
    /// Without the privilege it stays as it was, silently: the kill works the same, only later.
    package static func raiseIfKilling(_ arguments: [String]) {
        guard arguments.first == "kill" else { return }
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
    }
}
