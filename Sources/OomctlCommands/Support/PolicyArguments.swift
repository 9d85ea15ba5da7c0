import ArgumentParser
import Glibc
import OOMKit

/// The victim-selection options shared by `kill --under`, `simulate --from` and (later) `watch`.
struct PolicyArguments: ParsableArguments {
    @Option(
        help: ArgumentHelp("Let the policy pick the victim among the descendants of CGROUP.", valueName: "CGROUP"),
        completion: .custom(CgroupCompletion.candidates))
    var under: String?

    @Option(
        name: .customLong("policy"),
        help: ArgumentHelp("With --under: how to pick the victim (default: largest).", valueName: "POLICY"))
    var policyName: PolicyName?

    @OptionGroup var filters: VictimFilterArguments

    /// Whether a policy or a filter was given (so that `kill CGROUP --policy x` can be refused).
    var isCustomized: Bool {
        policyName != nil || filters.isCustomized
    }

    func validate() throws {
        try filters.validate()
    }

    /// The policy options, with cgroup arguments turned into paths by `resolve`.
    func options(resolve: (String) throws -> CgroupPath) throws -> PolicyOptions {
        var options = try filters.options(resolve: resolve)
        options.policy = policyName ?? .largest
        return options
    }

    /// Ranks the descendants of `--under` on the live system, exactly as the handler and
    /// `simulate --from` decide (``PolicyEngine/decideLive(under:in:options:fallBackToTriggering:)``).
    func decide(in system: CgroupSystem) throws -> Decision {
        guard let under else { throw ValidationError("--under CGROUP is required") }
        let root = try system.memoryCgroupPath(for: under)
        let options = try options(resolve: { text throws(CgroupError) in try system.memoryCgroupPath(for: text) })
        return try PolicyEngine.decideLive(under: root, in: system, options: options)
    }
}

/// The filters every victim choice takes: what kind of victim, and what to prefer, avoid or protect.
struct VictimFilterArguments: ParsableArguments {
    @Flag(help: "Pick one process instead of a whole cgroup.")
    var process = false

    @Option(
        help: ArgumentHelp(
            "Rank processes (or their cgroups) whose name or command line matches first.", valueName: "REGEX"))
    var prefer: [String] = []

    @Option(
        help: ArgumentHelp(
            "Rank processes (or their cgroups) whose name or command line matches last.", valueName: "REGEX"))
    var avoid: [String] = []

    @Option(help: ArgumentHelp("Never pick this process (repeatable).", valueName: "PID"))
    var protect: [Int32] = []

    @Option(help: ArgumentHelp("Never pick this cgroup or anything below it (repeatable).", valueName: "CGROUP"))
    var protectCgroup: [String] = []

    @Option(
        name: .customLong("priority"),
        help: ArgumentHelp(
            "The priority of a cgroup without a user.oomctl.priority attribute (repeatable; higher = more important).",
            valueName: "CGROUP=N"),
        transform: PriorityAssignment.parse)
    var priorities: [PriorityAssignment] = []

    var isCustomized: Bool {
        process || !prefer.isEmpty || !avoid.isEmpty || !protect.isEmpty || !protectCgroup.isEmpty
            || !priorities.isEmpty
    }

    func validate() throws {
        if let pid = protect.first(where: { $0 <= 0 }) {
            throw ValidationError("--protect takes a positive process ID, not \(pid)")
        }
        do {
            try options(resolve: { try CgroupPath($0) }).validate()
        } catch let error as PolicyError {
            throw ValidationError(error.description + (commandLineHint(for: error).map { " (\($0))" } ?? ""))
        }
    }

    /// The filter part of the policy options, with cgroup arguments turned into paths by `resolve`.
    func options(resolve: (String) throws -> CgroupPath) throws -> PolicyOptions {
        var options = PolicyOptions()
        options.kind = process ? .process : .cgroup
        options.prefer = prefer
        options.avoid = avoid
        options.protectedPIDs = Set(protect)
        options.protectedCgroups = try protectCgroup.map(resolve)
        for entry in priorities {
            options.priorityOverrides[try resolve(entry.cgroup)] = entry.priority
        }
        return options
    }
}
