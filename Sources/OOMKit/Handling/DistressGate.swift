/// cgroup v2: a `high`, `max` or `pressure` event is a wake-up, not a verdict (an `oom` event is the
/// kernel's own verdict, and gets one at once). The gate samples the
/// cgroup and asks ``MemoryDistress`` whether it is in distress; only then does a handling start.
///
/// The first sample is taken at once: unreclaimable memory at the ceiling is distress from it alone,
/// and the handling starts without waiting. Otherwise a second sample follows after the window (the
/// stall and refault rates need an interval), and the verdict over both decides. Events for the cgroup
/// in between are folded into the one being confirmed.
package final class DistressGate {
    /// The verdict on one wake-up: the event (with what was folded into it) and the verdict.
    package typealias Completion = (OOMEvent, MemoryCgroup, DistressVerdict) -> Void

    private struct Confirmation {
        var event: OOMEvent
        let memory: MemoryCgroup
        let first: MemorySample
        let timer: DeadlineTimer
        let completion: Completion
    }

    private let system: CgroupSystem
    private let loop: EventLoop
    private let thresholds: DistressThresholds
    private let window: Duration
    private var confirming: [CgroupPath: Confirmation] = [:]

    package init(system: CgroupSystem, loop: EventLoop, thresholds: DistressThresholds, window: Duration) {
        self.system = system
        self.loop = loop
        self.thresholds = thresholds
        self.window = window
    }

    /// Whether `event` is a v2 wake-up that only a distress verdict turns into a handling.
    package static func gates(_ event: OOMEvent, in memory: MemoryCgroup) -> Bool {
        memory.version == .v2 && [.oom, .high, .max, .pressure].contains(event.kind)
    }

    /// Whether a wake-up of the cgroup is being confirmed.
    package func isConfirming(_ cgroup: CgroupPath) -> Bool { confirming[cgroup] != nil }

    /// Folds an event into the confirmation in progress for its cgroup; returns the events folded so far.
    package func fold(_ event: OOMEvent) -> UInt64 {
        guard var confirmation = confirming[event.cgroup] else { return 0 }
        confirmation.event.count += event.count
        confirming[event.cgroup] = confirmation
        return confirmation.event.count
    }

    /// Samples the cgroup and calls `completion` with the verdict: at once when the first sample shows
    /// distress, else after the window (at once, on the first sample alone, when no timer can be made).
    /// Throws when the cgroup cannot be sampled.
    package func confirm(
        _ event: OOMEvent, in memory: MemoryCgroup, completion: @escaping Completion
    ) throws(CgroupError) {
        let first = try sample(memory)
        var verdict = MemoryDistress.assess(previous: nil, current: first, thresholds: thresholds)
        // A v2 `oom` event is the kernel's own evidence (memory.events oom rose): distress at once, with a
        // verdict whose figures the handling's resolution is judged by (not by fullness).
        if event.kind == .oom && !verdict.reasons.contains(.kernelOOM) { verdict.reasons.append(.kernelOOM) }
        if verdict.inDistress { return completion(event, memory, verdict) }
        let timer: DeadlineTimer
        do {
            timer = try DeadlineTimer()
            try loop.add(timer.descriptor) { [unowned self] _ in
                timer.acknowledge()
                self.windowEnded(event.cgroup)
            }
        } catch {
            return completion(event, memory, verdict)
        }
        confirming[event.cgroup] = Confirmation(
            event: event, memory: memory, first: first, timer: timer, completion: completion)
        timer.arm(after: window)
    }

    private func windowEnded(_ cgroup: CgroupPath) {
        guard let confirmation = confirming.removeValue(forKey: cgroup) else { return }
        loop.remove(confirmation.timer.descriptor)
        guard let second = try? sample(confirmation.memory) else { return }  // removed meanwhile
        let verdict = MemoryDistress.assess(previous: confirmation.first, current: second, thresholds: thresholds)
        confirmation.completion(confirmation.event, confirmation.memory, verdict)
    }

    /// Stops confirming a wake-up of the cgroup (it was removed).
    package func cancel(_ cgroup: CgroupPath) {
        guard let confirmation = confirming.removeValue(forKey: cgroup) else { return }
        loop.remove(confirmation.timer.descriptor)
    }

    /// Stops every confirmation (shutdown).
    package func cancelAll() {
        for cgroup in Array(confirming.keys) { cancel(cgroup) }
    }

    /// One sample of the cgroup, with the swap room above it.
    package func sample(_ memory: MemoryCgroup) throws(CgroupError) -> MemorySample {
        try MemorySample.take(of: memory, systemSwapFree: swapRoom(above: memory))
    }

    /// The swap the cgroup's pages could go to besides its own allowance: the system's free swap — none
    /// with vm.swappiness 0, where cgroup reclaim never swaps anonymous pages — capped by what every
    /// limited ancestor's memory.swap.max leaves.
    private func swapRoom(above memory: MemoryCgroup) -> ByteCount? {
        guard let free = (try? system.procfs.memInfo())?.swapFree else { return nil }
        let swappiness = (try? FileIO.readText(path: system.procPath + "/sys/vm/swappiness"))?
            .trimmingASCIIWhitespace()
        if swappiness == "0" { return .zero }
        var room = free
        var ancestor = memory.path.parent
        while let path = ancestor, !path.isRoot, room.bytes > 0 {
            if let parent = try? MemoryCgroup.open(path, in: system), let max = (try? parent.swapLimit()) ?? nil,
                !max.isUnlimited
            {
                room = Swift.min(room, max - (((try? parent.swapUsage()) ?? nil) ?? .zero))
            }
            ancestor = path.parent
        }
        return room
    }
}
