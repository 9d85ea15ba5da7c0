import Glibc
import OOMKit
import OOMTestSupport
import Testing

@testable import OomctlCommands

/// The files under contrib/ and scripts/install, by path in this checkout.
enum Contrib {
    static let root: String = #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(3)
        .joined(separator: "/")
    static let unit = root + "/contrib/systemd/oomctl-watch.service"
    static let defaults = root + "/contrib/systemd/oomctl-watch.default"
    /// The template (one watch per tree) and the example of its per-instance environment file.
    static let template = root + "/contrib/systemd/oomctl-watch@.service"
    static let example = root + "/contrib/systemd/watch-example.conf"
    static let catalog = root + "/contrib/oomctl.catalog"
    static let install = root + "/scripts/install"
    /// Where the shipped unit and environment file expect the hooks (the default PREFIX).
    static let installedHooks = "/usr/local/libexec/oomctl/hooks"

    static func hook(_ name: String) -> String { root + "/contrib/hooks/" + name }
}

// MARK: - The example hooks, run by watch on real OOMs

/// The sections of a log-vm-statistics file: "== TITLE (SOURCE)" headers, by title.
func vmStatisticsSections(_ text: String) -> [String: String] {
    var sections: [String: String] = [:]
    var title: String?
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("== ") {
            let header = line.dropFirst(3)
            title = String(header.split(separator: " (", maxSplits: 1).first ?? header)
            sections[title ?? ""] = ""
        } else if let title {
            sections[title, default: ""] += line + "\n"
        }
    }
    return sections
}

/// The entries of a directory (no "." and "..").
func directoryEntries(_ path: String) -> [String] {
    guard let handle = opendir(path) else { return [] }
    defer { closedir(handle) }
    var names: [String] = []
    while let entry = readdir(handle) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

/// The permission bits of a file, or nil.
func permissions(_ path: String) -> mode_t? {
    var info = stat()
    return lstat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
}

/// The example hooks rehearsed as an operator would: `oomctl simulate` drives a throwaway cgroup (below
/// the test's own) into a real OOM and runs the hook in watch's pipeline.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct ContribHookTests {
    @Test func logVMStatisticsWritesOneFileWithEverySectionThenTheKillFollows() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let directory = FixtureTree()
        let logs = directory.root + "/logs"
        let (result, json) = try simulate(
            ["--limit", "32M", "--hook", Contrib.hook("log-vm-statistics"), "--kill", "triggering"], in: test,
            environment: ["VM_STATISTICS_DIR": logs])
        #expect(result.status == 0, "\(result)")
        let hook = try #require(json.entries("hook-finished").first)
        #expect(hook.exitStatus == 1, "logging resolves nothing: \(hook)")
        #expect(json.outcomes == ["killed"] && json.hogsKilledByOomctl == 1, "\(json.events)")
        #expect(childCgroups(of: test).isEmpty)

        let files = directoryEntries(logs)
        try #require(files.count == 1, "\(files) \(hook)")
        #expect(files[0].hasPrefix("vm-statistics-") && files[0].contains("Z-1-"), "UTC time, then handling id 1")
        #expect(permissions(logs + "/" + files[0]) == 0o600 && permissions(logs) == 0o700)
        let text = ProcessRunner.readText(logs + "/" + files[0])
        #expect(text.hasPrefix("oomctl oom in \(json.sandbox) at "), "\(text.prefix(200))")
        let sections = vmStatisticsSections(text)
        #expect(
            Set(sections.keys)
                == ["meminfo", "page cache", "cgroup memory.stat", "vmstat", "slabinfo", "vmallocinfo"])
        #expect(sections["meminfo"]?.contains("MemAvailable:") == true)
        #expect(
            sections["page cache"]?.contains("\nCached:") == true && sections["page cache"]?.contains("Shmem:") == true)
        #expect(sections["page cache"]?.contains("\ncache ") == true, "the cgroup's file pages (v1 name)")
        #expect(sections["cgroup memory.stat"]?.contains("hierarchical_memory_limit \(32 << 20)\n") == true)
        #expect(sections["vmstat"]?.contains("nr_free_pages ") == true)
        #expect(sections["slabinfo"]?.hasPrefix("slabinfo - version") == true, "readable as root")
        #expect(sections["vmallocinfo"]?.contains("0x") == true)
    }

    @Test func dumpHeapProfileSignalsOnlyProcessesWithAHandler() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let directory = FixtureTree()
        let profile = directory.root + "/profile"
        // The workload: a process with a USR1 handler that "dumps its heap profile". A process in a v1 OOM
        // cannot allocate, so it could not write the profile: the sandbox gets a reserve, which the
        // pipeline grants before the hooks run. The hog allocates slowly, so it is still there (without a
        // handler) when the hook runs, and is never sent the USR1 that would kill it.
        let profiler = "trap 'echo dumped >\(profile)' USR1; sleep 600 & while :; do wait $!; done"
        let (result, json) = try simulate(
            [
                "--limit", "32M", "--reserve", "16M", "--hog-size", "100M", "--hog-rate", "40M", "--exec", profiler,
                "--hook", Contrib.hook("dump-heap-profile"), "--kill", "triggering", "--delay", "10s",
            ], in: test, environment: ["HEAP_PROFILE_WAIT": "0.5"])
        #expect(result.status == 0, "\(result)")
        let started = try #require(json.entries("started").first?.pid)
        let hog = try #require(json.entries("hog-started").first?.pid)
        #expect(ProcessRunner.readText(profile) == "dumped\n", "\(json.events)")
        let hook = try #require(json.entries("hook-finished").first)
        let output = hook.output ?? ""
        #expect(output.contains("sent USR1 to \(started)(sh)"), "\(output)")
        #expect(
            output.contains("not signalled (no handler for USR1):") && output.contains(" \(hog)(oomctl)"), "\(output)")
        #expect(hook.exitStatus == 1)
        let hogExit = try #require(json.entries("hog-exited").first)
        #expect(hogExit.signal == SIGKILL && hogExit.killedBy == "oomctl", "killed by the pipeline, not by USR1")
        #expect(childCgroups(of: test).isEmpty)
    }

    @Test func throttleMemoryHighOnV1SaysItNeedsV2ThenTheKillFollows() throws {
        let test = try TestCgroup()
        defer { test.destroy() }
        let (result, json) = try simulate(
            ["--limit", "32M", "--hook", Contrib.hook("throttle-memory-high"), "--kill", "triggering"], in: test)
        #expect(result.status == 0, "\(result)")
        let hook = try #require(json.entries("hook-finished").first)
        #expect(hook.exitStatus == 1)
        #expect(hook.output?.contains("memory.high needs cgroup v2 (this cgroup is on v1)") == true, "\(hook)")
        #expect(json.outcomes == ["killed"] && json.hogsKilledByOomctl == 1)
        #expect(childCgroups(of: test).isEmpty)
    }
}

/// The hooks run by hand on a directory laid out like a v2 cgroup (the VM test runs throttle-memory-high
/// on a real one), with a name that would run commands if a hook pasted it into one.
@Suite struct ContribHookInputTests {
    /// Relative to the working directory, which the hooks share with the test.
    static let canary = "oomctl-canary-\(getpid())"
    static let hostileName = "a b$(touch \(canary))`touch \(canary)`;'\"z"

    struct FakeCgroup {
        let tree = FixtureTree()
        var path: String { tree.root + "/" + ContribHookInputTests.hostileName }

        init(current: UInt64, max: String, high: String = "max") {
            set("memory.current", String(current))
            set("memory.max", max)
            set("memory.high", high)
        }

        func set(_ file: String, _ value: String) {
            tree.file(ContribHookInputTests.hostileName + "/" + file, value + "\n")
        }
        var high: String {
            ProcessRunner.readText(path + "/memory.high").split(separator: "\n").first.map(String.init) ?? ""
        }

        func throttle(_ environment: [String: String] = [:]) -> CommandResult {
            var variables = ["OOMCTL_CGROUP_PATH": path, "OOMCTL_CGROUP_VERSION": "2"]
            variables.merge(environment) { $1 }
            return ProcessRunner.run(Contrib.hook("throttle-memory-high"), [], environment: variables)
        }
    }

    @Test func throttleLowersMemoryHighOnceAndSaysWhetherThatResolved() {
        let cgroup = FakeCgroup(current: 48 << 20, max: String(64 << 20))
        let first = cgroup.throttle()
        #expect(first.status == 0, "usage 48M is below 90% of 64M: resolved \(first)")
        #expect(cgroup.high == String((64 << 20) / 10 * 9 / 4096 * 4096))
        let again = cgroup.throttle()
        #expect(again.status == 0 && again.standardOutput.contains("left as it is"), "no ratchet: \(again)")
        #expect(cgroup.high == String((64 << 20) / 10 * 9 / 4096 * 4096))
        cgroup.set("memory.current", String(60 << 20))
        let lower = cgroup.throttle(["THROTTLE_FRACTION": "50%"])
        #expect(lower.status == 1 && lower.standardOutput.contains("still above memory.high"), "\(lower)")
        #expect(cgroup.high == String(32 << 20))
        #expect(access(ContribHookInputTests.canary, F_OK) != 0, "nothing in the cgroup's name was run")
    }

    @Test func withoutMemoryMaxTheTargetIsAFractionOfUsage() {
        let cgroup = FakeCgroup(current: 100 << 20, max: "max")
        let result = cgroup.throttle(["THROTTLE_FRACTION": "80"])
        #expect(result.status == 1, "\(result)")
        #expect(cgroup.high == String(80 << 20))
        #expect(cgroup.throttle().standardOutput.contains("left as it is"))
    }

    @Test(arguments: ["0", "100", "ninety", "-5"])
    func aBadFractionChangesNothing(fraction: String) {
        let cgroup = FakeCgroup(current: 48 << 20, max: String(64 << 20))
        let result = cgroup.throttle(["THROTTLE_FRACTION": fraction])
        #expect(result.status == 1)
        #expect(result.standardError.contains("THROTTLE_FRACTION must be a percentage from 1 to 99"), "\(result)")
        #expect(cgroup.high == "max")
    }

    @Test(arguments: [
        ("dump-heap-profile", ["HEAP_PROFILE_SIGNAL": "BOGUS"], "unknown signal 'BOGUS'"),
        ("dump-heap-profile", ["OOMCTL_CGROUP_PATH": "/nonexistent"], "OOMCTL_CGROUP_PATH is not a cgroup directory"),
        ("throttle-memory-high", ["OOMCTL_CGROUP_PATH": ""], "OOMCTL_CGROUP_PATH is not a cgroup directory"),
    ])
    func hooksRunWithoutTheirContextSaySoAndExit1(hook: String, environment: [String: String], message: String) {
        var variables = ["OOMCTL_CGROUP_PATH": FixtureTree.capturedProcfs]
        variables.merge(environment) { $1 }
        let result = ProcessRunner.run(Contrib.hook(hook), [], environment: variables)
        #expect(result.status == 1)
        #expect(result.standardError.contains(message), "\(result)")
    }
}

// MARK: - The unit: its settings, and watch run with its capabilities

/// The settings of a unit file, in order; comments and section headers left out.
struct UnitSettings {
    var entries: [(key: String, value: String)] = []

    init(path: String) {
        for line in ProcessRunner.readText(path).split(separator: "\n") {
            let text = line.drop { $0 == " " }
            guard let first = text.first, !"#;[".contains(first), let equals = text.firstIndex(of: "=") else {
                continue
            }
            entries.append((String(text[..<equals]), String(text[text.index(after: equals)...])))
        }
    }

    func value(_ key: String) -> String? { entries.last { $0.key == key }?.value }

    /// CapabilityBoundingSet=, e.g. ["CAP_KILL", "CAP_SYS_ADMIN"].
    var capabilities: [String] { value("CapabilityBoundingSet")?.split(separator: " ").map(String.init) ?? [] }
}

/// Capability names as setpriv spells them ("kill" for CAP_KILL).
enum Capabilities {
    static func setprivName(_ name: String) -> String {
        let lower = name.lowercased()
        return lower.hasPrefix("cap_") ? String(lower.dropFirst(4)) : lower
    }

    /// The bounding set in `setpriv --dump` output.
    static func boundingSet(inDump dump: String) -> Set<String> {
        let prefix = "Capability bounding set: "
        guard let line = dump.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return [] }
        return Set(line.dropFirst(prefix.count).split(separator: ",").map(String.init))
    }

    /// What the test process can hand on at all.
    static let ofTestProcess: Set<String> = boundingSet(
        inDump: ProcessRunner.run("/usr/bin/setpriv", ["--dump"]).standardOutput)

    /// A hexadecimal capability mask (CapEff, CapBnd) from /proc/PID/status text.
    static func mask(_ field: String, inStatus status: String) -> String? {
        status.split(separator: "\n").first { $0.hasPrefix(field + ":") }
            .flatMap { $0.split(separator: "\t").last.map(String.init) }
    }
}

/// Starts programs the way oomctl-watch.service starts watch: as root bounded to a capability set,
/// with no inheritable or ambient capabilities and NoNewPrivileges=, and — where the test process may
/// (it takes CAP_SYS_RESOURCE, which systemd has) — with the unit's LimitMEMLOCK= and OOMScoreAdjust=.
struct ServiceSandbox {
    let unit = UnitSettings(path: Contrib.unit)

    /// Whether LimitMEMLOCK=infinity and OOMScoreAdjust=-1000 can be applied here.
    static var canApplyLimits: Bool { Capabilities.ofTestProcess.contains("sys_resource") }

    /// The command prefix; it execs what follows, so the PID stays the program's.
    func launcher(capabilities: [String]) -> [String] {
        var command: [String] = []
        if Self.canApplyLimits {
            if unit.value("LimitMEMLOCK") == "infinity" {
                command += ["/usr/bin/prlimit", "--memlock=unlimited:unlimited", "--"]
            }
            if let adjustment = unit.value("OOMScoreAdjust") { command += ["/usr/bin/choom", "-n", adjustment, "--"] }
        }
        let bounding = (["-all"] + capabilities.map { "+" + Capabilities.setprivName($0) }).joined(separator: ",")
        command += ["/usr/bin/setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=" + bounding]
        if unit.value("NoNewPrivileges") == "yes" { command.append("--no-new-privs") }
        return command + ["--"]
    }

    /// Self-protection needs the limits; without them watch would only warn that it is not protected.
    var selfProtection: [String] { Self.canApplyLimits ? [] : ["--no-self-protection"] }

    func watch(
        _ arguments: [String], capabilities: [String], environment: [String: String] = [:]
    ) throws -> RunningWatch {
        try RunningWatch(
            arguments + ["--json"] + selfProtection, environment: environment,
            launcher: launcher(capabilities: capabilities))
    }

    /// The capability set the launcher really gives, as setpriv reports it.
    func boundingSet(capabilities: [String]) -> Set<String> {
        let command = launcher(capabilities: capabilities) + ["/usr/bin/setpriv", "--dump"]
        return Capabilities.boundingSet(
            inDump: ProcessRunner.run(command[0], Array(command.dropFirst())).standardOutput)
    }

    /// The unit's set without one capability.
    func capabilities(without capability: String) -> [String] { unit.capabilities.filter { $0 != capability } }
}

// MARK: - Scenarios: one feature each, run with a given capability set

/// What happened when watch, bounded to some capabilities, met an OOM whose victim belongs to another
/// user (nobody).
struct KillOutcome {
    var killed: Bool
    var output: String
    var stopStatus: Int32?
    var killerRestored: Bool
    /// watch's CapEff and CapBnd, and the CapBnd the launcher gives any program.
    var effective: String?
    var bounding: String?
    var launcherBounding: String?
    /// What watch told the unit's notification socket first (Type=notify).
    var ready: NotifySocket.Message?
}

/// Whether a reserve recorded by the administrator (`oomctl reserve`, full root) was granted by watch.
struct ReserveOutcome {
    var reserveOutput: String
    var hogStatus: Int32?
    var output: String
}

enum Scenario {
    static func killAnotherUsersProcess(
        _ sandbox: ServiceSandbox, capabilities: [String], patience: Duration
    ) throws -> KillOutcome {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        // --delay 30s: only watch can kill within the patience; the kernel killer waits.
        let notifications = try NotifySocket()
        let watch = try sandbox.watch(
            [test.path.description, "--kill", "triggering", "--delay", "30s"], capabilities: capabilities,
            environment: ["NOTIFY_SOCKET": notifications.address])
        let ready = notifications.receive(timeout: .seconds(5))
        let status = ProcessRunner.readText("/proc/\(watch.pid)/status")
        let launched = sandbox.launcher(capabilities: capabilities) + ["/bin/cat", "/proc/self/status"]
        let launcherStatus = ProcessRunner.run(launched[0], Array(launched.dropFirst())).standardOutput
        let hog = try test.spawn([
            "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ProcessRunner.oomctlPath, "hog",
            "100M",
        ])
        let killed = ProcessRunner.wait(for: hog, timeout: patience) == 128 + SIGKILL
        if killed { watch.waitFor { $0.output.contains("killed in") } }
        let output = watch.output
        let stopStatus = watch.stop()
        let restored = (try? MemoryCgroup.open(test.path, in: CgroupSystem()).oomControl().oomKillDisable) == false
        return KillOutcome(
            killed: killed, output: output, stopStatus: stopStatus, killerRestored: restored,
            effective: Capabilities.mask("CapEff", inStatus: status),
            bounding: Capabilities.mask("CapBnd", inStatus: status),
            launcherBounding: Capabilities.mask("CapBnd", inStatus: launcherStatus), ready: ready)
    }

    /// Limit 32M, reserve 16M, a 40M hog: with the reserve granted the hog gets its memory and exits 0;
    /// without, it stalls in OOM until the kernel kills it at the 3 s deadline.
    static func reserveGranted(_ sandbox: ServiceSandbox, capabilities: [String]) throws -> ReserveOutcome {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let reserve = ProcessRunner.oomctl(["reserve", test.path.description, "16M"])
        defer { _ = ProcessRunner.oomctl(["reserve", test.path.description, "--clear"]) }
        let watch = try sandbox.watch([test.path.description, "--delay", "3s"], capabilities: capabilities)
        let hog = try test.spawnHog("40M", extra: ["--hold", "200ms"])
        let status = ProcessRunner.wait(for: hog, timeout: .seconds(10))
        return ReserveOutcome(reserveOutput: reserve.standardOutput, hogStatus: status, output: watch.output)
    }

    /// The start-up line of `watch --system`, which names the PSI trigger it armed.
    static func systemWatchStartLine(_ sandbox: ServiceSandbox, capabilities: [String]) throws -> String {
        let test = try TestCgroup()
        defer { test.destroy() }
        let watch = try sandbox.watch(
            ["--system", "--min-available", "64K", "--under", test.path.description, "--dry-run"],
            capabilities: capabilities)
        watch.waitFor { $0.output.contains("watching system memory") }
        return watch.output
    }
}

// MARK: - The unit's capability set: enough, and each one needed

@Suite struct ServiceUnitFileTests {
    @Test func everyCapabilityOfTheUnitIsJustifiedByATestBelow() {
        #expect(
            Set(UnitSettings(path: Contrib.unit).capabilities) == ["CAP_KILL", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE"],
            "a capability added to or dropped from the unit needs a test showing what it is for")
    }

    /// Type=notify: only watch itself may say READY=1 or STOPPING=1; a watchdog kill is a SIGKILL, which
    /// a stuck loop cannot leave pending; instances share /run/oomctl, so none removes it.
    @Test(arguments: [Contrib.unit, Contrib.template])
    func theUnitsAreTypeNotifyAndOnlyWatchSpeaksForThem(path: String) {
        let unit = UnitSettings(path: path)
        #expect(unit.value("Type") == "notify" && unit.value("NotifyAccess") == "main")
        #expect(unit.value("WatchdogSignal") == "SIGKILL" && unit.value("Restart") == "on-failure")
        #expect(unit.value("RuntimeDirectory") == "oomctl" && unit.value("RuntimeDirectoryPreserve") == "yes")
        #expect(unit.value("RuntimeDirectoryMode") == nil, "one mode for the shared directory (the default)")
    }

    /// The template is the unit, but for what makes an instance: its description and its own file.
    @Test func theTemplateHasEverySettingOfTheUnitButItsInstancesConfiguration() {
        let perInstance: Set = ["Description", "EnvironmentFile"]
        let unit = UnitSettings(path: Contrib.unit).entries.filter { !perInstance.contains($0.key) }
        let template = UnitSettings(path: Contrib.template)
        #expect(
            template.entries.filter { !perInstance.contains($0.key) }.map { "\($0.key)=\($0.value)" }
                == unit.map { "\($0.key)=\($0.value)" })
        #expect(template.value("EnvironmentFile") == "/etc/oomctl/watch-%i.conf", "required: a typo fails the start")
        #expect(template.value("Description")?.hasSuffix("(oomctl watch, %i)") == true)
    }

    @Test func theUnitNeverMakesTheCgroupFileSystemReadOnly() {
        let unit = UnitSettings(path: Contrib.unit)
        #expect(unit.value("ProtectControlGroups") == nil)
        #expect(unit.value("ProtectKernelTunables") == nil)
        #expect(unit.value("ProtectSystem") == "strict" && unit.value("ReadWritePaths") == "/sys/fs/cgroup")
        #expect(unit.value("KillMode") == "mixed" && unit.value("OOMScoreAdjust") == "-1000")
        #expect(unit.value("LimitMEMLOCK") == "infinity")
    }
}

@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct ServiceCapabilityTests {
    let sandbox = ServiceSandbox()

    @Test func withTheUnitsCapabilitiesWatchKillsAnotherUsersProcessAndRestoresTheKiller() throws {
        let wanted = Set(sandbox.unit.capabilities.map(Capabilities.setprivName)).intersection(
            Capabilities.ofTestProcess)
        #expect(
            sandbox.boundingSet(capabilities: sandbox.unit.capabilities) == wanted, "the launcher bounds as the unit")
        let outcome = try Scenario.killAnotherUsersProcess(
            sandbox, capabilities: sandbox.unit.capabilities, patience: .seconds(15))
        #expect(outcome.killed, "\(outcome.output)")
        #expect(outcome.effective != nil && outcome.effective == outcome.bounding, "root: all of its bounding set")
        #expect(outcome.bounding == outcome.launcherBounding, "watch ran with only the unit's capabilities")
        #expect(outcome.stopStatus == 0, "\(outcome.output)")
        #expect(outcome.killerRestored, "memory.oom_control restored on SIGTERM")
        #expect(
            outcome.ready?.assignments["READY"] == "1",
            "Type=notify works bounded: \(String(describing: outcome.ready))")
        if ServiceSandbox.canApplyLimits {
            #expect(outcome.output.contains("memory locked") && outcome.output.contains("oom_score_adj -1000"))
            #expect(!outcome.output.contains("not locked"))
        }
    }

    /// Without CAP_KILL watch cannot kill another user's process: it says why and, having nothing more
    /// it can do, hands the OOM to the kernel at once (whose killer then takes the victim).
    @Test func withoutCapKillWatchSaysWhyAndHandsTheOOMToTheKernel() throws {
        let outcome = try Scenario.killAnotherUsersProcess(
            sandbox, capabilities: sandbox.capabilities(without: "CAP_KILL"), patience: .seconds(3))
        #expect(outcome.output.contains("Operation not permitted"), "\(outcome.output)")
        #expect(outcome.output.contains("the kernel OOM killer is re-enabled at once"), "\(outcome.output)")
        #expect(outcome.killed, "by the kernel's killer: \(outcome.output)")
        #expect(outcome.killerRestored)
    }

    @Test func withTheUnitsCapabilitiesTheAdministratorsReserveIsGranted() throws {
        let outcome = try Scenario.reserveGranted(sandbox, capabilities: sandbox.unit.capabilities)
        #expect(outcome.reserveOutput.contains("in attribute trusted.oomctl.reserve"), "\(outcome.reserveOutput)")
        #expect(outcome.hogStatus == 0, "the hog got its 40M on the reserve: \(outcome.output)")
        #expect(outcome.output.contains("reserve 16M granted"))
    }

    @Test func withoutCapSysAdminTheReserveIsInvisibleAndNeverGranted() throws {
        let outcome = try Scenario.reserveGranted(sandbox, capabilities: sandbox.capabilities(without: "CAP_SYS_ADMIN"))
        #expect(outcome.hogStatus == 128 + SIGKILL, "\(outcome.output)")
        #expect(!outcome.output.contains("granted"))
    }

    @Test(
        .enabled(
            if: ServiceSandbox.canApplyLimits,
            "the test process lacks CAP_SYS_RESOURCE, so it cannot hand it on (systemd can)"))
    func withTheUnitsCapabilitiesThePSITriggerIsArmedAsAsked() throws {
        let output = try Scenario.systemWatchStartLine(sandbox, capabilities: sandbox.unit.capabilities)
        #expect(output.contains("PSI trigger some 150ms 1s"), "\(output)")
        #expect(!output.contains("multiples of 2s"))
    }

    @Test func withoutCapSysResourcePSIWindowsFallBackToMultiplesOf2s() throws {
        let output = try Scenario.systemWatchStartLine(
            sandbox, capabilities: sandbox.capabilities(without: "CAP_SYS_RESOURCE"))
        #expect(output.contains("multiples of 2s"), "\(output)")
        #expect(output.contains("PSI trigger some 300ms 2s"))
    }
}

// MARK: - The environment file's examples

/// Splits a value the way systemd splits `$VAR` in ExecStart= (EXTRACT_UNQUOTE | EXTRACT_RELAX): at
/// whitespace, '…' and "…" grouping words, a backslash escaping the next character outside '…'.
func systemdWords(_ value: String) -> [String] {
    var words: [String] = []
    var word: String?
    var quote: Character?
    var escaped = false
    for character in value {
        if escaped {
            word = (word ?? "") + String(character)
            escaped = false
        } else if character == "\\" && quote != "'" {
            escaped = true
            word = word ?? ""
        } else if let open = quote {
            if character == open { quote = nil } else { word = (word ?? "") + String(character) }
        } else if character == "'" || character == "\"" {
            quote = character
            word = word ?? ""
        } else if character == " " || character == "\t" {
            if let finished = word { words.append(finished) }
            word = nil
        } else {
            word = (word ?? "") + String(character)
        }
    }
    if let finished = word { words.append(finished) }
    return words
}

@Suite struct ServiceDefaultsTests {
    /// Every OOMCTL_WATCH_ARGS value in the two environment files, commented out or not, as arguments.
    static let examples: [[String]] =
        (ProcessRunner.readText(Contrib.defaults)
        + ProcessRunner.readText(
            Contrib.example)).split(separator: "\n").compactMap {
            line in
            let assignment = line.drop { $0 == "#" }
            guard assignment.hasPrefix("OOMCTL_WATCH_ARGS=") else { return nil }
            var value = assignment.dropFirst("OOMCTL_WATCH_ARGS=".count)
            if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 {
                value = value.dropFirst().dropLast()
            }
            return value.isEmpty ? nil : systemdWords(String(value))
        }

    @Test func splittingKeepsQuotedHookCommandsWhole() {
        #expect(
            systemdWords(#"/a --hook 'logger -t x OOM now' --x "b c" d\ e"#) == [
                "/a", "--hook", "logger -t x OOM now", "--x", "b c", "d e",
            ])
        #expect(Self.examples.count >= 8, "\(Self.examples)")
    }

    /// Parsed (and validated: hook programs exist, the snapshot directory exists) as watch would parse
    /// them under the unit, with the hooks and the state directory where an install puts them.
    @Test(arguments: ServiceDefaultsTests.examples)
    func everyExampleIsAcceptedByWatch(arguments: [String]) throws {
        let state = FixtureTree()
        let localized = arguments.map {
            $0.replacing(Contrib.installedHooks, with: Contrib.root + "/contrib/hooks")
                .replacing("/var/lib/oomctl", with: state.root)
        }
        _ = try Oomctl.parseAsRoot(["watch"] + localized)
    }
}

// MARK: - scripts/install

/// Every regular file below `root`, by path relative to it, with its permission bits.
func installedFiles(_ root: String, under relative: String = "") -> [String: mode_t] {
    var files: [String: mode_t] = [:]
    for name in directoryEntries(root + relative) {
        let path = relative + "/" + name
        var info = stat()
        guard lstat(root + path, &info) == 0 else { continue }
        if info.st_mode & S_IFMT == S_IFDIR {
            files.merge(installedFiles(root, under: path)) { $1 }
        } else {
            files[path] = info.st_mode & 0o7777
        }
    }
    return files
}

@Suite(.serialized) struct InstallScriptTests {
    static let binary = ProcessRunner.oomctlPath

    /// What an install with PREFIX=/usr/local must leave below DESTDIR.
    static var expectedTree: [String: mode_t] {
        var files: [String: mode_t] = [
            "/usr/local/bin/oomctl": 0o755,
            "/usr/local/share/bash-completion/completions/oomctl": 0o644,
            "/usr/local/share/zsh/site-functions/_oomctl": 0o644,
            "/usr/local/share/fish/vendor_completions.d/oomctl.fish": 0o644,
            "/usr/local/lib/systemd/system/oomctl-watch.service": 0o644,
            "/usr/local/lib/systemd/system/oomctl-watch@.service": 0o644,
            "/usr/local/lib/systemd/user/oomctl-watch.service": 0o644,
            "/usr/local/lib/systemd/catalog/oomctl.catalog": 0o644,
            "/etc/default/oomctl-watch": 0o644,
            "/etc/oomctl/watch-example.conf": 0o644,
        ]
        for hook in directoryEntries(Contrib.root + "/contrib/hooks") {
            files["/usr/local/libexec/oomctl/hooks/" + hook] = 0o755
        }
        for page in directoryEntries(Contrib.root + "/man") where page.hasSuffix(".1") {
            files["/usr/local/share/man/man1/" + page] = 0o644
        }
        return files
    }

    func install(_ arguments: [String] = [], destination: String) -> CommandResult {
        ProcessRunner.run(
            Contrib.install, arguments, environment: ["DESTDIR": destination, "OOMCTL_BINARY": Self.binary])
    }

    @Test func installTwiceThenUninstallKeepingAnEditedEnvironmentFile() throws {
        let destination = FixtureTree()
        let first = install(destination: destination.root)
        #expect(first.status == 0, "\(first)")
        #expect(installedFiles(destination.root) == Self.expectedTree, "\(first)")
        #expect(first.standardOutput.contains("installed \(destination.root)/usr/local/bin/oomctl\n"))
        let unit = UnitSettings(path: destination.root + "/usr/local/lib/systemd/system/oomctl-watch.service")
        #expect(unit.value("ExecStart") == "/usr/local/bin/oomctl watch $OOMCTL_WATCH_ARGS")
        #expect(unit.value("EnvironmentFile") == "-/etc/default/oomctl-watch")
        let template = UnitSettings(path: destination.root + "/usr/local/lib/systemd/system/oomctl-watch@.service")
        #expect(template.value("ExecStart") == "/usr/local/bin/oomctl watch $OOMCTL_WATCH_ARGS")
        #expect(template.value("EnvironmentFile") == "/etc/oomctl/watch-%i.conf")
        #expect(
            ProcessRunner.readText(destination.root + "/etc/oomctl/watch-example.conf")
                == ProcessRunner.readText(Contrib.example))
        #expect(
            ProcessRunner.run("/usr/bin/cmp", [Self.binary, destination.root + "/usr/local/bin/oomctl"]).status == 0)
        for hook in directoryEntries(Contrib.root + "/contrib/hooks") {
            #expect(
                ProcessRunner.readText(destination.root + Contrib.installedHooks + "/" + hook)
                    == ProcessRunner.readText(Contrib.hook(hook)))
        }

        // The administrator configures the service; a second install changes nothing and keeps that.
        let defaults = destination.root + "/etc/default/oomctl-watch"
        let edited = ProcessRunner.readText(defaults) + "OOMCTL_WATCH_ARGS=\"--system\"\n"
        destination.file("etc/default/oomctl-watch", edited)
        let example = destination.root + "/etc/oomctl/watch-example.conf"
        let editedExample = ProcessRunner.readText(example) + "OOMCTL_WATCH_ARGS=/batch.slice\n"
        destination.file("etc/oomctl/watch-example.conf", editedExample)
        let second = install(destination: destination.root)
        #expect(second.status == 0, "\(second)")
        #expect(installedFiles(destination.root) == Self.expectedTree)
        #expect(ProcessRunner.readText(defaults) == edited && ProcessRunner.readText(example) == editedExample)
        #expect(second.standardOutput.contains("kept \(defaults) (it exists"), "\(second)")
        #expect(second.standardOutput.contains("kept \(example) (it exists"), "\(second)")

        let removal = install(["--uninstall"], destination: destination.root)
        #expect(removal.status == 0, "\(removal)")
        #expect(
            installedFiles(destination.root)
                == ["/etc/default/oomctl-watch": 0o644, "/etc/oomctl/watch-example.conf": 0o644],
            "only the edited files")
        #expect(removal.standardOutput.contains("kept \(defaults) (changed since it was installed)"))
        #expect(removal.standardOutput.contains("kept \(example) (changed since it was installed)"))
        #expect(access(destination.root + "/usr/local/libexec/oomctl", F_OK) != 0, "its own directories go too")
    }

    @Test func uninstallRemovesAnUnchangedEnvironmentFile() {
        let destination = FixtureTree()
        #expect(install(destination: destination.root).status == 0)
        let removal = install(["--uninstall"], destination: destination.root)
        #expect(removal.status == 0 && installedFiles(destination.root).isEmpty, "\(removal)")
        #expect(removal.standardOutput.contains("uninstall: \(Self.expectedTree.count) files removed"))
    }

    /// journalctl finds the installed catalog under PREFIX/lib/systemd/catalog: every entry is listed.
    @Test(.enabled(if: access("/bin/journalctl", X_OK) == 0, "journalctl is not installed"))
    func journalctlFindsTheInstalledCatalog() {
        let destination = FixtureTree()
        #expect(install(destination: destination.root).status == 0)
        let update = ProcessRunner.run("/bin/journalctl", ["--root=" + destination.root, "--update-catalog"])
        #expect(update.status == 0, "\(update)")
        let listed = ProcessRunner.run("/bin/journalctl", ["--root=" + destination.root, "--list-catalog"])
        for id in MessageID.allCases {
            #expect(listed.standardOutput.contains(id.rawValue + " oomctl: "), "\(id) \(listed)")
        }
    }

    /// Runs scripts/install with a fixture PREFIX (and its etc/ as --sysconfdir), expecting success.
    private func installUnderPrefix() -> FixtureTree {
        let prefix = FixtureTree()
        let result = ProcessRunner.run(
            Contrib.install, ["--prefix", prefix.root, "--sysconfdir", prefix.root + "/etc"],
            environment: ["OOMCTL_BINARY": Self.binary])
        #expect(result.status == 0, "\(result)")
        return prefix
    }

    /// Installed with a PREFIX (no DESTDIR), the unit names the installed binary, environment file and
    /// hooks, and systemd-analyze verify finds nothing to complain about.
    @Test(.enabled(if: access("/usr/bin/systemd-analyze", X_OK) == 0, "systemd-analyze is not installed"))
    func theInstalledUnitVerifiesCleanAndNamesTheInstalledFiles() {
        let prefix = installUnderPrefix()
        let path = prefix.root + "/lib/systemd/system/oomctl-watch.service"
        let unit = UnitSettings(path: path)
        #expect(unit.value("ExecStart") == prefix.root + "/bin/oomctl watch $OOMCTL_WATCH_ARGS")
        #expect(unit.value("EnvironmentFile") == "-" + prefix.root + "/etc/default/oomctl-watch")
        let defaults = ProcessRunner.readText(prefix.root + "/etc/default/oomctl-watch")
        #expect(defaults.contains(prefix.root + "/libexec/oomctl/hooks/log-vm-statistics"))
        #expect(!defaults.contains(Contrib.installedHooks))
        // Documentation=man:… is checked only where the man pages are installed system-wide.
        let verify = ProcessRunner.run("/usr/bin/systemd-analyze", ["verify", "--man=no", path])
        #expect(verify.status == 0 && verify.standardOutput.isEmpty && verify.standardError.isEmpty, "\(verify)")
    }

    /// The template is installed naming the installed binary and SYSCONFDIR/oomctl/watch-%i.conf, the
    /// example beside where instances find their files; systemd-analyze verify finds nothing to
    /// complain about, in the template and in an instance of it.
    @Test(.enabled(if: access("/usr/bin/systemd-analyze", X_OK) == 0, "systemd-analyze is not installed"))
    func theInstalledTemplateAndAnInstanceVerifyClean() {
        let prefix = installUnderPrefix()
        let directory = prefix.root + "/lib/systemd/system"
        let unit = UnitSettings(path: directory + "/oomctl-watch@.service")
        #expect(unit.value("ExecStart") == prefix.root + "/bin/oomctl watch $OOMCTL_WATCH_ARGS")
        #expect(unit.value("EnvironmentFile") == prefix.root + "/etc/oomctl/watch-%i.conf")
        let example = ProcessRunner.readText(prefix.root + "/etc/oomctl/watch-example.conf")
        #expect(example.contains(prefix.root + "/libexec/oomctl/hooks/log-vm-statistics"))
        #expect(example.contains(prefix.root + "/etc/oomctl/watch-NAME.conf"))
        prefix.symlink("lib/systemd/system/oomctl-watch@batch.service", to: "oomctl-watch@.service")
        for name in ["oomctl-watch@.service", "oomctl-watch@batch.service"] {
            let verify = ProcessRunner.run("/usr/bin/systemd-analyze", ["verify", "--man=no", directory + "/" + name])
            #expect(
                verify.status == 0 && verify.standardOutput.isEmpty && verify.standardError.isEmpty, "\(name) \(verify)"
            )
        }
    }

    /// The user unit (systemctl --user) is installed naming the installed binary, and a user manager's
    /// systemd-analyze verify finds nothing to complain about (it needs a runtime directory, as a
    /// user's session has: a private one here).
    @Test(.enabled(if: access("/usr/bin/systemd-analyze", X_OK) == 0, "systemd-analyze is not installed"))
    func theInstalledUserUnitVerifiesCleanForAUserManager() throws {
        let prefix = installUnderPrefix()
        let path = prefix.root + "/lib/systemd/user/oomctl-watch.service"
        let unit = UnitSettings(path: path)
        #expect(unit.value("ExecStart") == prefix.root + "/bin/oomctl watch ${OOMCTL_WATCH_CGROUP} $OOMCTL_WATCH_ARGS")
        #expect(unit.value("RestartPreventExitStatus") == "64 69 77")
        #expect(unit.value("NoNewPrivileges") == "yes")
        #expect(unit.value("Type") == "notify" && unit.value("NotifyAccess") == "main")
        let runtime = prefix.root + "/run-user"
        #expect(mkdir(runtime, 0o700) == 0)
        let verify = ProcessRunner.run(
            "/usr/bin/systemd-analyze", ["verify", "--user", "--man=no", path],
            environment: ["XDG_RUNTIME_DIR": runtime])
        #expect(verify.status == 0 && verify.standardOutput.isEmpty && verify.standardError.isEmpty, "\(verify)")
    }

    @Test(arguments: [
        (["--prefix", "relative/dir"], Int32(64), "is not an absolute path"),
        (["--prefix", "/opt/my oomctl"], 64, "holds whitespace, quotes or one of"),
        (["--sysconfdir", "/etc;x"], 64, "holds whitespace, quotes or one of"),
        (["--binary", "/nonexistent/oomctl"], 66, "no oomctl binary at /nonexistent/oomctl"),
        (["--frobnicate"], 64, "unknown argument: --frobnicate"),
    ])
    func badArgumentsInstallNothing(arguments: [String], status: Int32, message: String) {
        let destination = FixtureTree()
        let result = install(arguments, destination: destination.root)
        #expect(result.status == status, "\(result)")
        #expect(result.standardError.contains(message), "\(result)")
        #expect(installedFiles(destination.root).isEmpty)
    }
}
