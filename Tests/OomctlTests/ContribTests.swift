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

extension RunningWatch {
    /// The JSON record of the first finished hook.
    var finishedHook: [String: String]? { records.first { $0["messageID"] == MessageID.hookFinished.rawValue } }
}

@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct ContribHookTests {
    @Test func logVMStatisticsWritesOneFileWithEverySectionThenTheKillFollows() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let directory = FixtureTree()
        let logs = directory.root + "/logs"
        let watch = try RunningWatch(
            [
                test.path.description, "--hook", Contrib.hook("log-vm-statistics"), "--kill", "triggering", "--json",
                "--no-self-protection",
            ],
            environment: ["VM_STATISTICS_DIR": logs])
        let hog = try test.spawnHog("100M")
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
        #expect(watch.waitFor { $0.records.contains { $0["outcome"] == "killed" } }, "\(watch.output)")
        #expect(watch.finishedHook?["exit_status"] == "1", "logging resolves nothing")

        let files = directoryEntries(logs)
        try #require(files.count == 1, "\(files) \(watch.output)")
        #expect(files[0].hasPrefix("vm-statistics-") && files[0].contains("Z-1-"), "UTC time, then handling id 1")
        #expect(permissions(logs + "/" + files[0]) == 0o600 && permissions(logs) == 0o700)
        let text = ProcessRunner.readText(logs + "/" + files[0])
        #expect(text.hasPrefix("oomctl oom in \(test.path) at "), "\(text.prefix(200))")
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
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        // A process in a v1 OOM cannot allocate, so it could not write its profile: watch grants the
        // reserve before the hooks run.
        let reserve = ProcessRunner.oomctl(["reserve", test.path.description, "16M"])
        defer { _ = ProcessRunner.oomctl(["reserve", test.path.description, "--clear"]) }
        #expect(reserve.status == 0, "\(reserve)")
        let directory = FixtureTree()
        let profile = directory.root + "/profile"
        let profiler = try test.spawn([
            "/bin/sh", "-c", #"trap 'echo dumped >"$1"' USR1; sleep 600 & while :; do wait $!; done"#, "sh", profile,
        ])
        let watch = try RunningWatch(
            [
                test.path.description, "--hook", Contrib.hook("dump-heap-profile"), "--kill", "triggering", "--delay",
                "10s", "--json", "--no-self-protection",
            ],
            environment: ["HEAP_PROFILE_WAIT": "0.5"])
        let hog = try test.spawnHog("40M")
        #expect(
            ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL,
            "killed by watch, not by a USR1 it has no handler for")
        #expect(watch.waitFor { $0.records.contains { $0["outcome"] == "killed" } }, "\(watch.output)")
        #expect(ProcessRunner.readText(profile) == "dumped\n", "\(watch.output)")
        let output = watch.finishedHook?["output"] ?? ""
        #expect(output.contains("sent USR1 to \(profiler)(sh)"), "\(output)")
        #expect(output.contains("not signalled (no handler for USR1):") && output.contains(" \(hog)(oomctl)"))
        #expect(watch.finishedHook?["exit_status"] == "1")
    }

    @Test func throttleMemoryHighOnV1SaysItNeedsV2ThenTheKillFollows() throws {
        let test = try TestCgroup(limit: ByteCount(32 << 20))
        defer { test.destroy() }
        let watch = try RunningWatch([
            test.path.description, "--hook", Contrib.hook("throttle-memory-high"), "--kill", "triggering", "--json",
            "--no-self-protection",
        ])
        let hog = try test.spawnHog("100M")
        #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
        #expect(watch.waitFor { $0.records.contains { $0["outcome"] == "killed" } }, "\(watch.output)")
        #expect(watch.finishedHook?["exit_status"] == "1")
        #expect(watch.finishedHook?["output"]?.contains("memory.high needs cgroup v2 (this cgroup is on v1)") == true)
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
