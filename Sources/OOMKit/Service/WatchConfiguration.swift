/// Everything a ``WatchService`` is asked to do: what it watches, which events it handles, how it
/// handles them, and how it protects itself.
public struct WatchConfiguration: Sendable {
    /// What is watched.
    public enum Scope: Sendable {
        /// These memory cgroups; with `recursive`, everything below them too, including cgroups created
        /// later.
        case cgroups([CgroupPath], recursive: Bool)
        /// System memory: act before the kernel's global OOM killer does.
        case system(SystemScope)
    }

    /// `watch --system`: a PSI trigger on the system's memory pressure wakes the service, and only then
    /// is available memory compared with the thresholds (no polling while memory is plentiful).
    public struct SystemScope: Sendable {
        /// The quiet period after a handling, unless one is given.
        public static let defaultCooldown = Duration.seconds(5)
        /// The longest wait between two checks of memory without pressure, unless one is given.
        public static let defaultMaxCheckInterval: Duration? = .seconds(10)

        public var thresholds: SystemMemoryThresholds
        /// The trigger armed on /proc/pressure/memory.
        public var trigger: PressureTrigger
        /// The quiet period after a handling.
        public var cooldown: Duration
        /// The longest wait between two checks of memory without pressure, shorter as memory gets short
        /// (nil: PSI wake-ups only).
        public var maxCheckInterval: Duration?
        /// Victims are picked only below these cgroups (empty: the whole hierarchy).
        public var under: [CgroupPath]

        public init(
            thresholds: SystemMemoryThresholds, trigger: PressureTrigger = .standard,
            cooldown: Duration = defaultCooldown, maxCheckInterval: Duration? = defaultMaxCheckInterval,
            under: [CgroupPath] = []
        ) {
            self.thresholds = thresholds
            self.trigger = trigger
            self.cooldown = cooldown
            self.maxCheckInterval = maxCheckInterval
            self.under = under
        }
    }

    /// Which events are handled, per cgroup version.
    public struct Events: Sendable, Equatable {
        public var v1: Set<OOMEvent.Kind>
        public var v2: Set<OOMEvent.Kind>

        /// v1: the OOM itself (the kernel waits); v2: the kernel's kills and memory.high/max.
        public static let `default` = Events(v1: [.oom], v2: [.oomKill, .high, .max])

        public init(v1: Set<OOMEvent.Kind>, v2: Set<OOMEvent.Kind>) {
            self.v1 = v1
            self.v2 = v2
        }

        /// The same kinds on both versions.
        public init(_ kinds: Set<OOMEvent.Kind>) { self.init(v1: kinds, v2: kinds) }

        public func kinds(for version: CgroupVersion) -> Set<OOMEvent.Kind> { version == .v1 ? v1 : v2 }
    }

    /// How the handler keeps itself able to run during an OOM.
    public struct SelfProtectionOptions: Sendable, Equatable {
        /// mlockall (MCL_ONFAULT) after a warm-up of the handling path.
        public var lockMemory = true
        /// oom_score_adj -1000.
        public var adjustScore = true
        /// Heap pre-faulted (and locked) for the handler's own allocations during an OOM.
        public var reserve: ByteCount?
        /// v2: memory.min of the handler's own cgroup set to what it uses (when it is alone there); the
        /// previous value comes back when the service stops.
        public var protectOwnCgroup = false

        public init(
            lockMemory: Bool = true, adjustScore: Bool = true, reserve: ByteCount? = nil,
            protectOwnCgroup: Bool = false
        ) {
            self.lockMemory = lockMemory
            self.adjustScore = adjustScore
            self.reserve = reserve
            self.protectOwnCgroup = protectOwnCgroup
        }
    }

    public var scope: Scope
    public var events: Events
    /// The PSI trigger armed on each watched cgroup's memory.pressure when `events` asks for `pressure`.
    public var pressure: PressureTrigger?
    public var handling: HandlingOptions
    /// nil: no self-protection (a sandbox run, a test).
    public var selfProtection: SelfProtectionOptions?
    /// How the guardian is started (needed on v1, where the kernel killer is disabled).
    public var guardian: GuardianLaunch
    /// Whether SIGTERM, SIGINT and SIGHUP stop the service (through a signalfd in its loop; the signals
    /// are blocked in the calling thread from ``WatchService/init(system:configuration:)`` on).
    public var handlesSignals: Bool
    /// Metrics (``WatchMetrics``) into the bootstrapped swift-metrics backend, with per-cgroup series for at
    /// most this many cgroups (``WatchMetrics/defaultCgroupLimit``); nil: none are recorded.
    public var metricsCgroupLimit: Int?

    public init(
        scope: Scope, events: Events = .default, pressure: PressureTrigger? = nil,
        handling: HandlingOptions = HandlingOptions(), selfProtection: SelfProtectionOptions? = .init(),
        guardian: GuardianLaunch = .thisProgram(), handlesSignals: Bool = true, metricsCgroupLimit: Int? = nil
    ) {
        self.scope = scope
        self.events = events
        self.pressure = pressure
        self.handling = handling
        self.selfProtection = selfProtection
        self.guardian = guardian
        self.handlesSignals = handlesSignals
        self.metricsCgroupLimit = metricsCgroupLimit
    }
}

extension PressureTrigger {
    /// "some 150ms 1s": tasks stalled on memory for 150 ms within a second (the default trigger, on a
    /// cgroup's memory.pressure and on the system's).
    public static let standard = PressureTrigger(full: false, stall: .milliseconds(150), window: .seconds(1))
}

/// How a ``WatchService`` starts its guardian: a program that runs ``Guardian/run(input:patience:log:)``
/// on its standard input.
public struct GuardianLaunch: Sendable, Equatable {
    public var executable: String
    public var arguments: [String]

    public init(executable: String, arguments: [String]) {
        self.executable = executable
        self.arguments = arguments
    }

    /// This very program, started again with `argument` alone: its `main` must then run the guardian,
    /// e.g. with ``Guardian/runIfRequested(argument:)`` as its first statement.
    public static func thisProgram(argument: String = Guardian.defaultArgument) -> GuardianLaunch {
        let executable = ChildProcess.currentExecutable
        return GuardianLaunch(executable: executable, arguments: [executable, argument])
    }
}

/// What a ``WatchService`` reports besides the steps of handlings: how it started, what it found and
/// restored, what it could not do, how it stopped.
public enum WatchNotice: Sendable {
    case started(WatchStartReport)
    /// A previous watch left the kernel killer disabled on this cgroup; it is enabled again.
    case leftoverKillerRestored(CgroupPath)
    /// A previous watch left this limit raised by a reserve grant; it is back.
    case leftoverReserveRestored(CgroupPath)
    /// A previous watch left this limit raised; usage is still above the original, so it stays for now:
    /// tried again as a grant of this watch (every 50 ms for up to a minute, then at stop and by the
    /// guardian), and reported again when it is back (``leftoverReserveRestored(_:)``) or is not
    /// (``leftoverReserveNotRestored(_:reason:)``).
    case leftoverReserveStillRaised(CgroupPath)
    /// A previous watch left this limit raised, and it is not restored: someone set it since (theirs, left
    /// as it is), or usage never allowed it, or the write failed (why).
    case leftoverReserveNotRestored(CgroupPath, reason: String)
    /// The guardian died (how) and a new one runs in its place, told everything it must know.
    case guardianRestarted(previous: Int32, ended: ChildProcess.Termination, pid: Int32)
    /// The guardian died and no new one could be started: the service restores everything and stops
    /// (``WatchService/failure``).
    case guardianLost(GuardianLostError)
    /// v2: memory.high followed a changed memory.max to keep the reserve.
    case highFollowsMax(CgroupPath, old: ByteCount, new: ByteCount)
    case highNotReconciled(CgroupPath, reason: String)
    /// v2: memory.max changed while the reserve is granted (memory.high lifted to the old memory.max):
    /// when the grant ends, memory.high goes to `then` (memory.max − reserve as they are now), also if
    /// watch dies first (the guardian is told).
    case grantFollowsMax(CgroupPath, then: ByteCount)
    /// `recursive`: a cgroup created below a watched one is watched now.
    case watchingNewCgroup(CgroupPath)
    case cannotWatchNewCgroup(CgroupPath, reason: String)
    /// A cgroup below a target (`recursive`) that cannot be watched (no memory controller); nor is
    /// anything below it.
    case notWatched(CgroupPath, reason: String)
    /// A cgroup given to watch was removed: it is watched again if a cgroup is made at that path (with
    /// `recursive`, with what is made below it).
    case targetAwaited(CgroupPath)
    /// A removed target was made again and is watched.
    case targetWatchedAgain(CgroupPath)
    /// v1 without `recursive`: a cgroup made below a watched one inherited its disabled kernel killer and
    /// got it back (it is not handled; watch the parent recursively to handle it).
    case inheritedKillerReleased(CgroupPath)
    /// Unprivileged: something watch will not do on this cgroup because the file it would write is not
    /// the caller's (the delegation point's own files stay with whoever delegated the subtree): what,
    /// and why, said once at start.
    case notDelegated(CgroupPath, what: String, reason: String)
    /// Something self-protection could not do, phrased for the user.
    case selfProtectionWarning(String)
    /// The handler's own cgroup was not protected (``WatchConfiguration/SelfProtectionOptions/protectOwnCgroup``).
    case ownCgroupNotProtected(OwnCgroupProtectionProblem)
    /// The system scope's PSI trigger was armed differently from what was asked (no CAP_SYS_RESOURCE).
    case pressureTriggerAdjusted(asked: PressureTrigger, armed: PressureTrigger)
    /// System scope: memory fell below a threshold; a handling starts.
    case systemMemoryShort(
        level: SystemMemoryThresholds.Level, reason: String, available: ByteCount?, total: ByteCount?)
    /// At stop: usage is still above this original limit; the guardian restores it once usage allows.
    case reserveLeftToGuardian(CgroupPath)
    /// Stopped by a signal; everything the service changed is restored.
    case stopped(signal: Int32)
    /// No control socket: `oomctl status` does not see this watch (it runs on regardless).
    case controlSocketUnavailable(reason: String)
}

/// Why the handler's own cgroup could not be given memory.min.
public enum OwnCgroupProtectionProblem: Sendable {
    /// The handler is not in a cgroup v2 below the root.
    case notInOwnV2Cgroup
    /// Other processes share the handler's cgroup: protecting it would protect them too.
    case shared(CgroupPath, otherProcesses: Int)
    case failed(String)
}

/// How a ``WatchService`` started: what its start-up line says.
public struct WatchStartReport: Sendable {
    /// The cgroups watched (the cgroup scope).
    public var cgroups: Int
    public var hierarchy: Hierarchy?
    /// The event kinds handled on that hierarchy.
    public var kinds: Set<OOMEvent.Kind>
    /// System scope: the trigger as armed, and the root below which victims are picked.
    public var systemTrigger: PressureTrigger?
    public var systemRoot: CgroupPath?
    public var protection: SelfProtectionReport?
    /// The handler's own cgroup and its memory.min, when it is protected.
    public var protectedCgroup: (path: CgroupPath, minimum: ByteCount)?
    public var guardianPID: Int32?
}
