// oomkit-example: OOMKit's handler in a program of your own — one memory cgroup, a shell hook, a kill
// policy, and the guardian that gives the kernel OOM killer back if this program dies.
//
//   swift build --product oomkit-example
//   .build/debug/oomkit-example CGROUP HOOK [POLICY]      (POLICY: largest, priority, triggering, oom-score)
//
// Runs until SIGTERM, SIGINT or SIGHUP; needs the rights to write the cgroup's memory files (root on v1).
import Glibc
import OOMKit

// The guardian is this very program, started again with the argument "guardian" (GuardianLaunch's
// default): on cgroup v1 it re-enables the kernel OOM killer the moment this process dies, SIGKILL included.
Guardian.runIfRequested()

func say(_ line: String) {
    print(line)
    fflush(nil)
}

let arguments = CommandLine.arguments
guard arguments.count == 3 || arguments.count == 4 else {
    say("usage: oomkit-example CGROUP HOOK [POLICY]")
    exit(64)
}
var policy = PolicyOptions()
if arguments.count == 4 {
    guard let name = PolicyName(rawValue: arguments[3]) else {
        say("unknown policy '\(arguments[3])'; use " + PolicyName.allCases.map(\.rawValue).joined(separator: ", "))
        exit(64)
    }
    policy.policy = name
}

do {
    let system = try CgroupSystem()
    var handling = HandlingOptions()
    handling.hooks = [arguments[2]]  // /bin/sh -c HOOK, with OOMCTL_* in its environment
    handling.action = .kill(policy)  // if the hook did not resolve the OOM
    let configuration = WatchConfiguration(
        scope: .cgroups([try system.memoryCgroupPath(for: arguments[1])], recursive: false), handling: handling)
    let service = try WatchService(system: system, configuration: configuration)
    service.onNotice = { notice in
        switch notice {
        case .started(let report): say("watching \(report.cgroups) cgroup(s), guardian \(report.guardianPID ?? 0)")
        case .stopped(let signal): say("stopped by signal \(signal); kernel OOM killer restored")
        default: say("note: \(notice)")
        }
    }
    service.onStep = { step in
        switch step {
        case .detected(let report): say("\(report.event.rawValue) in \(report.cgroup)")
        case .hookFinished(_, _, let hook): say("hook \(hook.outcome): \(hook.output)")
        case .killed(_, _, let kill): say("killed \(kill.signalledPIDs), freed \(kill.freed ?? .zero)")
        case .finished(let report): say("handled: \(report.outcome.rawValue)")
        case .failed(_, _, let message): say("failed: \(message)")
        default: break
        }
    }
    try service.start()
    service.run()
} catch {
    say("oomkit-example: \(error)")
    exit(1)
}
