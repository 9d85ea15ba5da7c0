import Glibc
import OOMTestSupport
import Testing

@testable import OomctlCommands

/// contrib/kubernetes: the DaemonSet manifest, its entrypoint and its image.
enum Kubernetes {
    static let directory = Contrib.root + "/contrib/kubernetes"
    static let manifest = directory + "/oomctl.yaml"
    static let entrypoint = directory + "/watch-kubepods"
    static let containerfile = directory + "/Containerfile"

    /// Every manifest in contrib/kubernetes.
    static var manifests: [String] {
        directoryEntries(directory).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.map {
            directory + "/" + $0
        }
    }

    /// What the capabilities of the container are for: oomctl's own (the unit's set, and CAP_IPC_LOCK for
    /// mlockall, which the unit gets from LimitMEMLOCK=infinity), and the entrypoint's (dropped from the
    /// bounding set before oomctl starts).
    static let entrypointOnlyCapabilities: Set<String> = ["SYS_PTRACE", "SETPCAP"]
    static let podOnlyCapabilities: Set<String> = ["IPC_LOCK"]
}

/// The fields of a manifest that the tests compare with oomctl, read with a YAML parser (python3-yaml):
/// `kind` of each document, and the DaemonSet's first container.
struct ManifestFields {
    var kinds: [String] = []
    var command: [String] = []
    var arguments: [String] = []
    var capabilities: Set<String> = []
    var mounts: Set<String> = []
    var failure: String?

    static let reader = """
        import sys, yaml
        docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]
        for d in docs: print("kind\\t" + d["kind"])
        for d in docs:
            if d["kind"] != "DaemonSet": continue
            c = d["spec"]["template"]["spec"]["containers"][0]
            for a in c.get("command", []): print("command\\t" + a)
            for a in c.get("args", []): print("arg\\t" + a)
            for a in c["securityContext"]["capabilities"].get("add", []): print("cap\\t" + a)
            for m in c.get("volumeMounts", []): print("mount\\t" + m["mountPath"])
        """

    init(path: String) {
        let result = ProcessRunner.run("/usr/bin/python3", ["-c", Self.reader, path])
        guard result.status == 0 else {
            failure = "\(result)"
            return
        }
        for line in result.standardOutput.split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "kind": kinds.append(parts[1])
            case "command": command.append(parts[1])
            case "arg": arguments.append(parts[1])
            case "cap": capabilities.insert(parts[1])
            case "mount": mounts.insert(parts[1])
            default: break
            }
        }
    }
}

// MARK: - The Kubernetes schema

/// kubernetes-validate (PyPI), which bundles the Kubernetes API's JSON schemas for each release, so it
/// validates offline; scripts/bootstrap installs it in a venv of its own.
enum KubernetesValidator {
    /// Kept in step with scripts/bootstrap.
    static let path = "/opt/oomctl-dev/kubernetes-validate/bin/kubernetes-validate"
    static let version = "1.37.0"
    /// The oldest release the manifest is for (securityContext.appArmorProfile is from 1.30) and the
    /// newest whose schema the validator bundles.
    static let kubernetesVersions = ["1.30.0", "1.37.0"]

    static var unavailableReason: String? {
        guard access(path, X_OK) == 0 else {
            return "kubernetes-validate is not installed at \(path) (scripts/bootstrap installs it)"
        }
        let installed = ProcessRunner.run(path, ["--version"]).standardOutput.split(separator: "\n").first
        return installed == Substring(version) ? nil : "kubernetes-validate \(installed ?? "?") is not \(version)"
    }

    /// Validates every document of a file strictly (unknown fields are errors) against one release's
    /// schema; nil when each of `documents` documents passed, else what went wrong. The validator
    /// itself only warns, exit 0, about a kind it has no schema for: that is a failure here.
    static func validate(_ file: String, kubernetes: String, documents: Int) -> String? {
        let result = ProcessRunner.run(path, ["--strict", "--kubernetes-version", kubernetes, file])
        let lines = (result.standardOutput + result.standardError).split(separator: "\n")
        let passed = lines.filter { $0.hasPrefix("INFO ") && $0.contains(" passed for resource ") }
        let problems = lines.filter { !$0.hasPrefix("INFO ") }
        if result.status == 0 && problems.isEmpty && passed.count == documents { return nil }
        return "exit \(result.status), \(passed.count) of \(documents) passed: \(problems.joined(separator: "\n"))"
    }
}

@Suite(.enabled(if: KubernetesValidator.unavailableReason == nil, "\(KubernetesValidator.unavailableReason ?? "")"))
struct KubernetesSchemaTests {
    @Test(arguments: KubernetesValidator.kubernetesVersions)
    func everyManifestValidatesStrictlyAgainstTheSchema(kubernetes: String) throws {
        try #require(!Kubernetes.manifests.isEmpty)
        for manifest in Kubernetes.manifests {
            let fields = ManifestFields(path: manifest)
            try #require(fields.failure == nil, "\(fields.failure ?? "")")
            #expect(fields.kinds.count >= 1)
            let problem = KubernetesValidator.validate(manifest, kubernetes: kubernetes, documents: fields.kinds.count)
            #expect(problem == nil, "\(manifest) against \(kubernetes): \(problem ?? "")")
        }
    }

    /// The DaemonSet uses securityContext.appArmorProfile, which Kubernetes 1.29 does not know: the
    /// README's "1.30 or later" is what the schema says.
    @Test func theManifestNeedsKubernetes130() {
        let problem = KubernetesValidator.validate(Kubernetes.manifest, kubernetes: "1.29.0", documents: 4)
        #expect(problem?.contains("'appArmorProfile' was unexpected") == true, "\(problem ?? "passed")")
    }

    /// The check fails on a misspelled field, a value of the wrong type, a missing required field and a
    /// kind the schema does not have, each made from the real manifest.
    @Test(arguments: [
        ("hostPID: true", "hostPid: true", "'hostPid' was unexpected"),
        ("terminationGracePeriodSeconds: 10", "terminationGracePeriodSeconds: ten", "'ten' is not of type 'integer'"),
        ("            path: /sys/fs/cgroup", "            # path: /sys/fs/cgroup", "'path' is a required property"),
        ("kind: ServiceAccount", "kind: ServiceAcount", "Couldn't find schema for kind ServiceAcount"),
    ])
    func aBrokenManifestFails(original: String, broken: String, message: String) throws {
        let text = ProcessRunner.readText(Kubernetes.manifest)
        try #require(text.contains(original))
        let fixture = FixtureTree()
        fixture.file("broken.yaml", text.replacing(original, with: broken, maxReplacements: 1))
        let problem = KubernetesValidator.validate(fixture.root + "/broken.yaml", kubernetes: "1.37.0", documents: 4)
        #expect(problem?.contains(message) == true, "\(problem ?? "passed")")
    }
}

// MARK: - The manifest against oomctl

@Suite struct KubernetesManifestTests {
    let fields = ManifestFields(path: Kubernetes.manifest)
    let state = FixtureTree()

    /// watch's options in the manifest, with the paths the container has made local to this checkout
    /// (the hooks, the snapshot and metrics directories), and the cgroup the entrypoint puts first.
    var localizedWatchArguments: [String] {
        ["watch", "/kubepods.slice"]
            + fields.arguments.map {
                $0.replacing(Contrib.installedHooks, with: Contrib.root + "/contrib/hooks")
                    .replacing("/var/lib/oomctl", with: state.root)
                    .replacing("/var/lib/node_exporter/textfile_collector", with: state.root)
            }
    }

    @Test func theEntrypointRunsWatchRecursivelyWithTheImagesHooks() throws {
        try #require(fields.failure == nil, "\(fields.failure ?? "")")
        #expect(fields.kinds == ["Namespace", "ServiceAccount", "ResourceQuota", "DaemonSet"])
        #expect(fields.command == ["/usr/local/bin/watch-kubepods"])
        #expect(fields.arguments.contains("--recursive"))
        let containerfile = ProcessRunner.readText(Kubernetes.containerfile)
        #expect(containerfile.contains("COPY oomctl watch-kubepods /usr/local/bin/"))
        #expect(containerfile.contains("COPY hooks/ " + Contrib.installedHooks + "/"))
        for hook in fields.arguments where hook.hasPrefix(Contrib.installedHooks) {
            let name = String(hook.dropFirst(Contrib.installedHooks.count + 1))
            #expect(access(Contrib.hook(name), X_OK) == 0, "\(hook) is not one of contrib/hooks")
        }
        // Every directory watch writes is a mount (the root file system is read-only).
        #expect(
            fields.mounts == [
                "/sys/fs/cgroup", "/var/lib/oomctl", "/var/log/oomctl", "/var/lib/node_exporter/textfile_collector",
                "/run/oomctl",
            ])
    }

    /// The manifest's options, `--metrics-file` included, are parsed and validated by watch's own parser,
    /// so they cannot drift from the CLI.
    @Test func everyWatchOptionOfTheManifestIsAcceptedByWatch() throws {
        try #require(fields.failure == nil, "\(fields.failure ?? "")")
        let arguments = localizedWatchArguments
        #expect(arguments.contains("--metrics-file"))
        _ = try Oomctl.parseAsRoot(arguments)
    }

    /// The check above fails on an option watch does not have.
    @Test func aMisspelledOptionIsRefusedByWatch() {
        #expect(throws: (any Error).self) {
            try Oomctl.parseAsRoot(["watch", "/kubepods.slice", "--recursive", "--kill", "oom_score"])
        }
        #expect(throws: (any Error).self) { try Oomctl.parseAsRoot(["watch", "/kubepods.slice", "--recursiv"]) }
    }

    /// The container's capabilities are the unit's (established by ServiceCapabilityTests), CAP_IPC_LOCK
    /// for mlockall (a pod has no LimitMEMLOCK=), and the entrypoint's two, which oomctl never has.
    @Test func theCapabilitiesAreTheUnitsPlusWhatAPodLacks() throws {
        try #require(fields.failure == nil, "\(fields.failure ?? "")")
        let unit = Set(UnitSettings(path: Contrib.unit).capabilities.map { String($0.dropFirst("CAP_".count)) })
        #expect(
            fields.capabilities
                == unit.union(Kubernetes.podOnlyCapabilities).union(Kubernetes.entrypointOnlyCapabilities))
        #expect(ProcessRunner.readText(Kubernetes.entrypoint).contains("--bounding-set=-sys_ptrace,-setpcap"))
    }
}

// MARK: - The entrypoint

/// watch-kubepods run as the container runs it — in a cgroup namespace of its own, bounded to the
/// manifest's capabilities — with a stand-in oomctl that reports its arguments, cgroup, cgroup
/// namespace and capabilities, and a directory laid out like the node's cgroup2 mount. The "host" whose
/// cgroup namespace it enters is a process of the test, which has more capabilities than the entrypoint
/// (as the node's init does), so opening its namespace takes CAP_SYS_PTRACE.
@Suite(.enabled(if: getuid() == 0, "needs root (unshare --cgroup)"))
struct KubernetesEntrypointTests {
    let fixture = FixtureTree()
    let capabilities = ManifestFields(path: Kubernetes.manifest).capabilities

    init() {
        fixture.file(
            "oomctl",
            """
            #!/bin/sh
            echo "args $*"
            grep '^CapBnd:' /proc/self/status
            grep ':memory:' /proc/self/cgroup
            echo "namespace $(readlink /proc/self/ns/cgroup)"
            """, mode: 0o755)
    }

    func cgroupMount(_ children: [String], v2: Bool = true) -> String {
        let name = "mount-\(children.joined(separator: "-"))-\(v2)"
        if v2 { fixture.file(name + "/cgroup.controllers", "memory pids\n") } else { fixture.directory(name) }
        for child in children { fixture.directory(name + "/" + child) }
        return fixture.root + "/" + name
    }

    /// Runs the entrypoint with `watch` options; the host is a sleeping child of the test.
    func run(
        mount: String, capabilities: Set<String>, environment: [String: String] = [:]
    ) throws -> CommandResult {
        let host = try #require(ProcessRunner.spawn("/bin/sleep", ["30"]))
        defer {
            kill(host, SIGKILL)
            _ = ProcessRunner.wait(for: host)
        }
        let bounding = (["-all"] + capabilities.map { "+" + $0.lowercased() }).joined(separator: ",")
        var variables = [
            "OOMCTL_BINARY": fixture.root + "/oomctl", "CGROUP2_MOUNT": mount, "HOST_CGROUPNS_PID": String(host),
        ]
        variables.merge(environment) { $1 }
        return ProcessRunner.run(
            "/usr/bin/unshare",
            [
                "--cgroup", "--", "/usr/bin/setpriv", "--inh-caps=-all", "--ambient-caps=-all",
                "--bounding-set=" + bounding, "--", Kubernetes.entrypoint, "--recursive", "--kill", "oom-score",
            ], environment: variables)
    }

    static var ownMemoryCgroupLine: String {
        ProcessRunner.readText("/proc/self/cgroup").split(separator: "\n").first { $0.contains(":memory:") }
            .map(String.init) ?? ""
    }

    @Test func entersTheHostsCgroupNamespaceAndDropsTheEntrypointsCapabilities() throws {
        let result = try run(mount: cgroupMount(["kubepods.slice"]), capabilities: capabilities)
        #expect(result.status == 0, "\(result)")
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.first == "args watch /kubepods.slice --recursive --kill oom-score", "\(result)")
        #expect(lines.contains(Self.ownMemoryCgroupLine), "host paths, not '/': \(result)")
        #expect(lines.contains("namespace " + (readLink("/proc/self/ns/cgroup") ?? "?")), "\(result)")
        // What oomctl may have: the manifest's set less the entrypoint's, within what the test process has.
        let wanted = capabilities.subtracting(Kubernetes.entrypointOnlyCapabilities).map { $0.lowercased() }
        let launched = ProcessRunner.run(
            "/usr/bin/setpriv",
            [
                "--bounding-set=" + (["-all"] + wanted.map { "+" + $0 }).joined(separator: ","), "--", "/bin/grep",
                "^CapBnd:", "/proc/self/status",
            ])
        #expect(
            launched.status == 0 && lines.contains(String(launched.standardOutput.dropLast())), "\(result) \(launched)")
        #expect(result.standardError.contains("watch-kubepods: watching /kubepods.slice"))
    }

    @Test func withoutCapSysPtraceItSaysWhatThePodNeeds() throws {
        let result = try run(
            mount: cgroupMount(["kubepods.slice"]), capabilities: capabilities.subtracting(["SYS_PTRACE"]))
        #expect(result.status == 77, "\(result)")
        #expect(result.standardError.contains("the pod needs hostPID: true and CAP_SYS_PTRACE"), "\(result)")
        #expect(result.standardOutput.isEmpty)
    }

    @Test(arguments: [
        (["kubepods.slice", "kubepods"], true, [:], Int32(0), "args watch /kubepods.slice "),
        (["kubepods"], true, [:], 0, "args watch /kubepods "),
        (["kubepods"], true, ["KUBEPODS_CGROUP": "/kubepods/burstable"], 0, "args watch /kubepods/burstable "),
        ([], true, [:], 66, "no kubepods cgroup in "),
        (["kubepods.slice"], false, [:], 69, "is not a cgroup v2 hierarchy"),
    ])
    func picksTheCgroupDriversTree(
        children: [String], v2: Bool, environment: [String: String], status: Int32, message: String
    ) throws {
        let result = try run(mount: cgroupMount(children, v2: v2), capabilities: capabilities, environment: environment)
        #expect(result.status == status, "\(result)")
        #expect((result.standardOutput + result.standardError).contains(message), "\(result)")
    }
}

/// The target of a symbolic link, or nil.
func readLink(_ path: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 256)
    let count = readlink(path, &buffer, buffer.count - 1)
    return count >= 0 ? String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
}
