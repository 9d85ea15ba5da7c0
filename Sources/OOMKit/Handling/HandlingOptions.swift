/// What the user asked `watch` (and sandbox simulations) to do when an OOM event arrives.
public struct HandlingOptions: Sendable {
    /// The action after the hooks, when the OOM is still unresolved.
    public enum Action: Sendable {
        /// Leave it to the deadline fallback (v1) or to the kernel (v2).
        case none
        /// Kill the victim the policy picks below the cgroup that hit the OOM (the cgroup itself when it
        /// has no child cgroups to choose from).
        case kill(PolicyOptions)
        /// Take the machine down on purpose, the kernel's panic_on_oom in userspace: flush the snapshot
        /// (``snapshotDirectory`` should be set), report, sync, then crash or reboot through SysRq (see
        /// ``PanicOptions``). Only for the events in ``PanicOptions/answeredEvents``; a dry run reports
        /// what it would do.
        case panic(PanicOptions)
    }

    /// What holds the cgroup while the snapshot and hooks run.
    public enum Hold: String, Sendable, CaseIterable {
        /// Nothing: the cgroup's tasks run (and allocate) meanwhile.
        case none
        /// cgroup v2: freeze the cgroup (cgroup.freeze) once distress is confirmed; thawed before a kill,
        /// when the handling ends, and when watch exits or dies. A hook that needs the cgroup running
        /// (to dump a heap) writes 0 to `$OOMCTL_CGROUP_PATH/cgroup.freeze`.
        case freeze
    }

    /// Commands run in order before the action (`/bin/sh -c`, or the program itself: ``HookCommand``).
    public var hooks: [String] = []
    /// Commands run in order after a kill.
    public var postKillHooks: [String] = []
    /// How long one hook may run before its process group is killed.
    public var hookTimeout: Duration = .seconds(10)
    public var action: Action = .none
    /// What holds the cgroup while the snapshot and hooks run (v2).
    public var hold: Hold = .none
    /// v1: how long userspace has to resolve an OOM before the kernel killer is re-enabled (the
    /// proposal's memory.oom_delay_millisecs).
    public var delay: Duration = .seconds(1)
    /// Where to write a snapshot of each event (nil: no snapshot).
    public var snapshotDirectory: String?
    /// Run hooks and decide, but never kill (and never disable the kernel killer).
    public var dryRun = false
    /// How a victim is killed.
    public var kill = KillOptions(timeout: .seconds(2))
    /// The least time between two handlings of the same cgroup; events in between are coalesced and
    /// counted (v2 `high` can fire thousands of times a second).
    public var minimumInterval: Duration = .milliseconds(250)
    /// Whether the condition is over, when the cgroup's own figures do not say it (`watch --system`:
    /// available memory back above the threshold). Checked after each hook and again just before a
    /// kill ("memory recovered while choosing": nothing is killed).
    public var resolution: (@Sendable () -> Bool)?
    /// When the policy finds nothing below the cgroup to choose from, kill the cgroup itself (a leaf
    /// that hit its limit). Off for `watch --system`, whose root is a whole subtree.
    public var killTriggeringWhenNoCandidates = true
    /// cgroup v2: what counts as distress. A `high`, `max` or `pressure` event starts a handling only
    /// when ``MemoryDistress`` says the cgroup is in distress.
    public var distress = DistressThresholds.default
    /// cgroup v2: whether wake-ups wait for a distress verdict (off for `watch --system`, whose own
    /// evidence is MemAvailable, which already counts page cache and reclaimable slab as available).
    public var confirmsDistress = true
    /// cgroup v2: how long the two samples of a wake-up are apart when the first one alone shows no
    /// distress (the stall and refault rates need an interval).
    public var distressWindow: Duration = .milliseconds(500)
    /// cgroup v2: how long the verdict must stay clear for a handling to count as resolved (not just
    /// usage below the ceiling for an instant).
    public var settleTime: Duration = .milliseconds(500)

    public init() {}
}

/// How the handling of one event ended.
public enum HandlingOutcome: String, Sendable, Codable {
    /// A hook exited 0 and the OOM was resolved: nothing was killed.
    case resolvedByHook = "resolved by hook"
    /// The OOM went away by itself while handling (memory was freed by someone else).
    case resolved
    /// The policy's victim was killed.
    case killed
    /// Userspace did not resolve it in time; the kernel OOM killer was re-enabled and acted.
    case fellBackToKernel = "fell back to the kernel"
    /// Something the kernel already did (v2 oom_kill, high, max): hooks ran, nothing else was needed.
    case reported
    /// The panic's SysRq command was written: on the kernel's trigger the machine went down, so this is
    /// only ever reported when a stand-in took it.
    case panicTriggered = "panic triggered"
    /// `simulate --panic`: everything up to the trigger ran, the trigger was not written.
    case panicRehearsed = "panic rehearsed"
    /// `--dry-run`: hooks ran and the decision was made, nothing was killed.
    case dryRun = "dry run"
    /// The cgroup was removed.
    case removed
    /// A step failed (see the errors).
    case failed
}

/// The facts a handling records as it goes, from which its ``HandlingOutcome`` is derived once, when it
/// finishes (``HandlingOutcome/init(_:)``): nothing is written provisionally and corrected later.
package struct HandlingFacts: Sendable, Equatable {
    /// What the action step found or did.
    package enum Action: Sendable, Equatable {
        /// The handling ended before its action step (the cgroup was removed, or a hook resolved it).
        case notReached
        /// The OOM was over by the time the action was due.
        case alreadyResolved
        /// No action was asked for (`none`), or the kernel had already acted (an oom-kill event).
        case nothingToDo
        /// `dry run`: the victim was chosen, not killed.
        case decidedOnly
        case killed
        /// The panic's SysRq command was written (to a stand-in: this process lives on).
        case panicTriggered
        /// A rehearsed panic: reported, nothing written.
        case panicRehearsed
        /// The decision or the kill failed (see the report's errors).
        case failed
    }

    /// A v1 OOM, where the kernel waits for userspace (and a fallback can happen).
    package var kernelWaits = false
    /// The cgroup was removed while it was handled.
    package var removed = false
    /// A hook exited 0 and left the OOM resolved.
    package var resolvedByHook = false
    package var action = Action.notReached
    /// The deadline passed unresolved and the kernel killer was re-enabled.
    package var fellBack = false
    /// Some step failed.
    package var failed = false

    package init() {}
}

extension HandlingOutcome {
    /// The outcome the facts add up to. What userspace did weighs most: a kill stays a kill when the
    /// deadline's fallback came too, and a hook that resolved the OOM (before any fallback: after one,
    /// the handler records no hook resolution) outweighs a fallback; a fallback outweighs a failed step.
    package init(_ facts: HandlingFacts) {
        if facts.removed {
            self = .removed
            return
        }
        switch facts.action {
        case .killed: self = .killed
        case .panicTriggered: self = .panicTriggered
        case .panicRehearsed: self = .panicRehearsed
        case .decidedOnly: self = .dryRun
        case _ where facts.resolvedByHook: self = .resolvedByHook
        case _ where facts.fellBack: self = .fellBackToKernel
        case .alreadyResolved: self = .resolved
        // v1 with nothing to do: the OOM ended before the deadline (a granted reserve, someone else freed
        // memory); elsewhere the handling only reported what the kernel did.
        case .nothingToDo: self = facts.kernelWaits ? .resolved : .reported
        case .failed, .notReached: self = facts.failed ? .failed : .reported
        }
    }
}

/// The timeline of one handled event: what is printed, journaled and passed to post-kill hooks.
public struct HandlingReport: Sendable, Codable {
    /// A number unique within this watch run.
    public var id: Int
    public var cgroup: CgroupPath
    public var event: OOMEvent.Kind
    /// Kernel-counted events in this one (more than 1 when they were coalesced at the source).
    public var count: UInt64
    /// Further events for the same cgroup that arrived while this one was handled, or within the
    /// minimum interval before it, and were folded into it.
    public var coalesced: UInt64 = 0
    /// `oom-kill`: the kernel's kills of a whole memory.oom.group unit among them (the processes it
    /// killed are in ``count``, with those of later reads of the same kill folded in).
    public var groupKills: UInt64 = 0
    public var usage: ByteCount?
    public var limit: ByteCount?
    /// cgroup v2: the distress verdict that started the handling (nil on v1 and for `oom-kill`).
    public var distress: DistressVerdict?
    /// `--hold freeze`: whether the cgroup was frozen during the handling.
    public var held = false
    /// v1: the reserve granted while handling (the limit was raised by it).
    public var reserve: ByteCount?
    /// The snapshot written for this event.
    public var snapshotPath: String?
    public var hooks: [HookResult] = []
    public var decision: Decision?
    public var kill: KillReport?
    public var postKillHooks: [HookResult] = []
    /// What the panic action did or would do.
    public var panic: PanicReport?
    /// Whether the deadline passed and the kernel killer was re-enabled.
    public var fellBack = false
    /// Derived from the handling's ``HandlingFacts`` when it finishes.
    public var outcome: HandlingOutcome = .failed
    /// From detection to the end of handling.
    public var durationMicroseconds: Int64 = 0
    public var errors: [String] = []

    public init(id: Int, cgroup: CgroupPath, event: OOMEvent.Kind, count: UInt64) {
        self.id = id
        self.cgroup = cgroup
        self.event = event
        self.count = count
    }
}
