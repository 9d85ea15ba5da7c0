import CLinux
import Glibc

/// Something the kernel reported about a watched memory cgroup.
public struct OOMEvent: Sendable {
    /// The kinds of event, as `watch --on` names them.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// The cgroup hit its limit and is out of memory (v1: tasks stall when the killer is disabled).
        case oom
        /// The kernel OOM killer killed a process in the cgroup (v2 memory.events oom_kill).
        case oomKill = "oom-kill"
        /// Usage went over memory.high (v2).
        case high
        /// Usage hit memory.max (v2).
        case max
        /// A PSI trigger fired on the cgroup's (or the system's) memory pressure.
        case pressure
        /// The cgroup was removed; it is no longer watched.
        case removed

        /// The kinds the kernel can report on a cgroup of `version`: v1 has no memory.events, so no
        /// `high`, `max` or `oom-kill` (its OOMs come through memory.oom_control; `pressure` needs a
        /// memory.pressure file, which only some kernels give v1 cgroups).
        public static func reported(on version: CgroupVersion) -> Set<Kind> {
            version == .v1 ? [.oom, .pressure, .removed] : Set(allCases)
        }
    }

    public var kind: Kind
    public var cgroup: CgroupPath
    /// How many times the kernel counted the event since the previous report (events that arrived while
    /// none was read are coalesced into one).
    public var count: UInt64
    /// `oom-kill` (v2): how many of the kernel's kills were of a whole memory.oom.group unit
    /// (memory.events oom_group_kill); `count` is then the processes killed that this cgroup counted.
    public var groupKills: UInt64 = 0
    /// When oomctl saw it (monotonic).
    public var detectedAt: ContinuousClock.Instant
    /// The watcher's own open handle on the cgroup, when the event came from one: a handler works
    /// through it rather than open `cgroup` again, which would fail at the descriptor limit, or find
    /// nothing (or another cgroup) after a rename.
    public var memory: MemoryCgroup?

    public init(
        kind: Kind, cgroup: CgroupPath, count: UInt64, detectedAt: ContinuousClock.Instant, memory: MemoryCgroup? = nil
    ) {
        self.kind = kind
        self.cgroup = cgroup
        self.count = count
        self.detectedAt = detectedAt
        self.memory = memory
    }
}

/// A PSI trigger: "some 150ms 1s" means wake when tasks stalled on memory for 150 ms within any 1 s window.
public struct PressureTrigger: Sendable, Hashable, CustomStringConvertible {
    public var full: Bool
    public var stall: Duration
    public var window: Duration

    public init(full: Bool, stall: Duration, window: Duration) {
        self.full = full
        self.stall = stall
        self.window = window
    }

    /// Parses `some 150ms 1s` or `full 100ms 2s` (the kernel needs a window of 500 ms to 10 s).
    public init(parsing text: String) throws(ParseError) {
        let fields = text.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count == 3, fields[0] == "some" || fields[0] == "full" else {
            throw ParseError(
                "pressure trigger", input: text, reason: "expected 'some|full STALL WINDOW', e.g. 'some 150ms 1s'")
        }
        let stall = try Duration(parsing: fields[1])
        let window = try Duration(parsing: fields[2])
        guard window >= .milliseconds(500), window <= .seconds(10) else {
            throw ParseError("pressure trigger", input: text, reason: "the window must be between 500ms and 10s")
        }
        guard stall > .zero, stall <= window else {
            throw ParseError(
                "pressure trigger", input: text, reason: "the stall must be above 0 and at most the window")
        }
        self.init(full: fields[0] == "full", stall: stall, window: window)
    }

    /// The text written to a pressure file to arm the trigger (microseconds).
    public var kernelText: String {
        "\(full ? "full" : "some") \(stall.totalNanoseconds / 1000) \(window.totalNanoseconds / 1000)"
    }

    public var description: String {
        "\(full ? "full" : "some") \(stall.compactDescription) \(window.compactDescription)"
    }

    /// The trigger a process without CAP_SYS_RESOURCE may arm: the kernel accepts only windows that are
    /// multiples of 2 s from it, so the window is rounded up and the stall scaled with it. Nil when this
    /// trigger already qualifies.
    public var unprivilegedEquivalent: PressureTrigger? {
        let twoSeconds: Int64 = 2_000_000_000
        let window = self.window.totalNanoseconds
        guard window % twoSeconds != 0 else { return nil }
        let rounded = (window / twoSeconds + 1) * twoSeconds
        // stall × rounded reaches 1.2e20 ns² (above Int64.max) for a stall of seconds: a full-width
        // product, whose quotient fits again since stall ≤ window.
        let product = self.stall.totalNanoseconds.multipliedFullWidth(by: rounded)
        let stall = window.dividingFullWidth(product).quotient
        return PressureTrigger(full: full, stall: .nanoseconds(stall), window: .nanoseconds(rounded))
    }

    /// Arms the trigger on an open pressure file (writing its text); where the kernel refuses the window
    /// for lack of privilege, arms ``unprivilegedEquivalent`` instead. Returns the trigger armed.
    public func arm(on descriptor: Int32, path: @autoclosure () -> String) throws(SystemCallError) -> PressureTrigger {
        func write(_ trigger: PressureTrigger) -> Int32 {
            trigger.kernelText.withCString { Glibc.write(descriptor, $0, strlen($0) + 1) } >= 0 ? 0 : errno
        }
        var failure = write(self)
        if failure == EINVAL, let fallback = unprivilegedEquivalent {
            failure = write(fallback)
            if failure == 0 { return fallback }
        }
        guard failure == 0 else {
            throw SystemCallError("arm the pressure trigger '\(self)' on", path: path(), errno: failure)
        }
        return self
    }
}

/// Watches memory cgroups for OOM events without polling: v1 eventfds registered through
/// cgroup.event_control on memory.oom_control, v2 inotify on memory.events with counter diffs, PSI
/// triggers on memory.pressure — all file descriptors in one ``EventLoop``. This is the library the
/// 2014 proposal asked for: it hides the eventfd registration.
///
/// ```swift
/// let loop = try EventLoop()
/// let watcher = try OOMWatcher(loop: loop) { event in print(event.kind, event.cgroup) }
/// try watcher.watch(MemoryCgroup.open(path, in: CgroupSystem()))
/// loop.run()
/// ```
/// Or, without a loop of your own, `try watcher.next()` blocks until the next event.
public final class OOMWatcher {
    private let loop: EventLoop
    /// Called with every event, from the loop's thread.
    public var onEvent: (OOMEvent) -> Void
    private let inotify: Int32
    private var watches: [CgroupPath: Watch] = [:]
    private var byInotifyWatch: [Int32: CgroupPath] = [:]
    /// Cgroup directories watched for children made or removed, by inotify watch descriptor.
    private var directories: [Int32: DirectoryWatch] = [:]
    private var directoryByPath: [CgroupPath: Int32] = [:]
    /// Cgroups awaited by ``awaitCreation(of:handler:)``.
    private var awaited: [CgroupPath: (MemoryCgroup) -> Void] = [:]
    private var fileWatches: [Int32: (cgroup: CgroupPath, handler: () -> Void)] = [:]
    private var pending: [OOMEvent] = []
    private let clock = ContinuousClock()

    /// One watched cgroup and the descriptors that report on it.
    private final class Watch {
        let memory: MemoryCgroup
        let kinds: Set<OOMEvent.Kind>
        /// v2: counters from memory.events.local (this cgroup's own events) rather than memory.events.
        let local: Bool
        var descriptors: [Int32] = []
        var inotifyWatches: [Int32] = []
        var counters: MemoryEvents?
        /// The PSI trigger on the cgroup's memory.pressure, with `pressure` events.
        var pressure: PressureSource?

        init(memory: MemoryCgroup, kinds: Set<OOMEvent.Kind>, local: Bool) {
            self.memory = memory
            self.kinds = kinds
            self.local = local
        }

        deinit { descriptors.forEach { close($0) } }
    }

    /// One cgroup directory's inotify watch (IN_CREATE and IN_DELETE of sub-directories), shared by
    /// every reason to watch it; removed when none is left, so a removed cgroup keeps no watch or fd.
    private final class DirectoryWatch {
        let directory: MemoryCgroup
        /// New children are reported through ``onChildCreated``.
        var followsChildren = false
        /// v2: watched children whose removal this watch reports (v2 memory.events watches never see
        /// their cgroup go: an inotify watch pins the file, and kernfs tells no removal to it).
        var removalWatched: Set<String> = []
        /// Children awaited by name.
        var awaited: Set<String> = []
        /// Children whose own watch awaits a cgroup: their removal is watched here, to await them in turn
        /// (a removed directory's watch never hears of what is made at its path again).
        var awaitingChildren: Set<String> = []

        init(directory: MemoryCgroup) { self.directory = directory }

        var isUnused: Bool { !followsChildren && removalWatched.isEmpty && awaited.isEmpty && awaitingChildren.isEmpty }
    }

    /// The mask of every directory watch: the same for all, because inotify keeps one watch (and one
    /// mask) per inode.
    private static let directoryMask = UInt32(IN_CREATE | IN_DELETE | IN_ONLYDIR)

    /// A watcher that reports through `onEvent` from the loop's thread.
    public init(loop: EventLoop, onEvent: @escaping (OOMEvent) -> Void = { _ in }) throws(SystemCallError) {
        self.loop = loop
        self.onEvent = onEvent
        inotify = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard inotify >= 0 else { throw SystemCallError("create", path: "inotify instance", errno: errno) }
        try loop.add(inotify) { [unowned self] _ in self.readInotify() }
    }

    deinit {
        loop.remove(inotify)
        for watch in watches.values { watch.descriptors.forEach { loop.remove($0) } }
        close(inotify)
    }

    /// The cgroups being watched.
    public var watched: [CgroupPath] { watches.keys.sorted() }

    /// The first `count` watched cgroups in order, without sorting them all (a status reply's page).
    public func watched(first count: Int) -> [CgroupPath] { watches.keys.smallest(count) }

    /// How many cgroups are watched (without sorting them: asked on every adoption).
    public var watchedCount: Int { watches.count }

    /// Whether a cgroup is watched.
    public func isWatching(_ path: CgroupPath) -> Bool { watches[path] != nil }

    /// The PSI trigger armed on the cgroup's memory.pressure, nil when none is: it may differ from the
    /// one asked for (``PressureTrigger/unprivilegedEquivalent``).
    public func armedPressureTrigger(for path: CgroupPath) -> PressureTrigger? { watches[path]?.pressure?.armed }

    /// Starts watching a cgroup for the given kinds of event (and for its removal, always). With a
    /// pressure trigger and `.pressure` in `kinds`, arms a PSI trigger on its memory.pressure.
    ///
    /// v2: with `localEvents`, the counters come from memory.events.local, which counts only what
    /// happened in this cgroup itself (its own limits hit, its own processes killed); memory.events also
    /// counts every descendant's. Use it when the descendants are watched too, so that each kernel event
    /// is reported once, in the cgroup where it happened.
    public func watch(
        _ memory: MemoryCgroup, for kinds: Set<OOMEvent.Kind> = [.oom, .oomKill], pressure: PressureTrigger? = nil,
        localEvents: Bool = false
    ) throws(CgroupError) {
        removeEventWatch(memory.path)
        let local = localEvents && memory.version == .v2 && memory.cgroup.hasFile("memory.events.local")
        let watch = Watch(memory: memory, kinds: kinds, local: local)
        do throws(CgroupError) {
            switch memory.version {
            case .v1:
                if kinds.contains(.oom) || kinds.contains(.removed) || kinds.isEmpty {
                    try registerOOMEventfd(watch)
                }
            case .v2:
                watch.counters = try? memory.events(local: local)
                let file = local ? "memory.events.local" : "memory.events"
                let path = memory.cgroup.filesystemPath + "/" + file
                let descriptor = inotify_add_watch(inotify, memory.cgroup.descriptorPath(file), UInt32(IN_MODIFY))
                guard descriptor >= 0 else {
                    throw .system(SystemCallError("watch", path: path, errno: errno))
                }
                watch.inotifyWatches.append(descriptor)
                byInotifyWatch[descriptor] = memory.path
                // Best effort: a parent that cannot be watched (unreadable to this user, or no inotify watch
                // left) leaves the cgroup watched; only its removal then goes unnoticed.
                if let parent = memory.path.parent {
                    let parentWasWatched = directoryByPath[parent] != nil
                    if let directory = try? directoryWatch(for: parent, in: memory.cgroup.hierarchy) {
                        directory.removalWatched.insert(memory.path.name)
                        // A watch made just now never tells of a removal before it: one is looked for.
                        if !parentWasWatched,
                            !directory.directory.cgroup.holdsChild(named: memory.path.name, memory.cgroup)
                        {
                            throw .noSuchCgroup(memory.path, hierarchy: memory.cgroup.hierarchy)
                        }
                    }
                }
            }
            if kinds.contains(.pressure), let pressure {
                try armPressureTrigger(pressure, file: "memory.pressure", in: watch)
            }
        } catch {
            // Nothing of a half-made watch stays: its descriptors, inotify watches and PSI trigger go.
            watch.descriptors.forEach { loop.remove($0) }
            watch.pressure = nil
            for descriptor in watch.inotifyWatches {
                inotify_rm_watch(inotify, descriptor)
                byInotifyWatch[descriptor] = nil
            }
            stopWatchingRemoval(of: memory.path)
            throw error
        }
        watches[memory.path] = watch
    }

    /// Stops watching everything: no event, new child or file change is reported any more (the
    /// watcher's descriptors leave the loop). Safe to call from inside one of its callbacks.
    public func unwatchAll() {
        for path in watched { unwatch(path) }
        for descriptor in directories.keys { inotify_rm_watch(inotify, descriptor) }
        for descriptor in fileWatches.keys { inotify_rm_watch(inotify, descriptor) }
        directories = [:]
        directoryByPath = [:]
        awaited = [:]
        fileWatches = [:]
        loop.remove(inotify)
    }

    /// Stops watching a cgroup: its events, its new children, its file changes; every descriptor and
    /// inotify watch it held goes.
    public func unwatch(_ path: CgroupPath) {
        removeEventWatch(path)
        stopWatchingRemoval(of: path)
        if let descriptor = directoryByPath[path], let directory = directories[descriptor] {
            directory.followsChildren = false
            releaseIfUnused(descriptor)
        }
        for (descriptor, watch) in fileWatches where watch.cgroup == path {
            inotify_rm_watch(inotify, descriptor)
            fileWatches[descriptor] = nil
        }
    }

    /// Stops reporting a cgroup's events (not its children, nor its file changes).
    private func removeEventWatch(_ path: CgroupPath) {
        guard let watch = watches.removeValue(forKey: path) else { return }
        watch.descriptors.forEach { loop.remove($0) }
        watch.pressure = nil
        for descriptor in watch.inotifyWatches {
            inotify_rm_watch(inotify, descriptor)
            byInotifyWatch[descriptor] = nil
        }
    }

    /// Calls `handler` once when a cgroup is made at `path`: e.g. a watched cgroup that was removed, to
    /// watch it again when it is made anew. Its parents may be gone too, or go while it is awaited: then
    /// the nearest one that exists is watched, and each level is awaited in turn (`mkdir -p` of the whole
    /// path is seen however fast it is). Throws only when no watch could be set up (inotify's limit, a
    /// directory this user may not read); a failure later, while a parent is awaited again from the
    /// loop, goes to ``onAwaitFailed``.
    public func awaitCreation(
        of path: CgroupPath, in hierarchy: Hierarchy, handler: @escaping (MemoryCgroup) -> Void
    )
        throws(CgroupError)
    {
        guard let parentPath = path.parent else { return }
        let directory: DirectoryWatch
        do {
            directory = try directoryWatch(for: parentPath, in: hierarchy)
        } catch .noSuchCgroup {
            // The parent went too: it is awaited first, then this path below it.
            try awaitCreation(of: parentPath, in: hierarchy) { [unowned self] _ in
                awaitAgain(path, in: hierarchy, handler: handler)
            }
            return
        }
        // Made already, before the watch was in place (a quick restart): no IN_CREATE will tell.
        if let child = try? directory.directory.cgroup.child(named: path.name), let memory = try? MemoryCgroup(child) {
            return handler(memory)
        }
        directory.awaited.insert(path.name)
        // Several may await one path (two targets below one removed parent, or a target that is also a
        // level above another): each is called.
        if let earlier = awaited[path] {
            awaited[path] = {
                earlier($0); handler($0)
            }
        } else {
            awaited[path] = handler
        }
        // The parent's removal is seen in the grandparent's directory (its own watch never tells).
        guard let grandparent = parentPath.parent else { return }
        let above: DirectoryWatch
        do {
            above = try directoryWatch(for: grandparent, in: hierarchy)
        } catch .noSuchCgroup {
            // The grandparent went, so the parent went before it (a cgroup with children stays).
            return awaitedDirectoryRemoved(parentPath)
        } catch {
            return  // the parent is awaited as long as it stays; its removal goes unseen
        }
        above.awaitingChildren.insert(parentPath.name)
        // `rmdir svc unit` is quicker than this loop: the parent may have gone before the watch above
        // it was in place, and then no IN_DELETE tells. Looked at once more, now that one would.
        if !above.directory.cgroup.holdsChild(named: parentPath.name, directory.directory.cgroup) {
            awaitedDirectoryRemoved(parentPath)
        }
    }

    /// Called when a cgroup awaited with ``awaitCreation(of:in:handler:)`` cannot be awaited any more: its
    /// parent was removed and awaiting it in turn failed. From the loop's thread.
    public var onAwaitFailed: ((CgroupPath, CgroupError) -> Void)?

    /// ``awaitCreation(of:in:handler:)`` from the loop, its failure told through ``onAwaitFailed``.
    private func awaitAgain(_ path: CgroupPath, in hierarchy: Hierarchy, handler: @escaping (MemoryCgroup) -> Void) {
        do throws(CgroupError) {
            try awaitCreation(of: path, in: hierarchy, handler: handler)
        } catch {
            onAwaitFailed?(path, error)
        }
    }

    /// A directory in which cgroups were awaited was removed: its watch goes (a directory made later at
    /// its path is another one), and what it awaited is awaited again from the nearest level that exists.
    private func awaitedDirectoryRemoved(_ path: CgroupPath) {
        guard let descriptor = directoryByPath[path], let directory = directories[descriptor] else { return }
        inotify_rm_watch(inotify, descriptor)
        directories[descriptor] = nil
        directoryByPath[path] = nil
        let hierarchy = directory.directory.cgroup.hierarchy
        for name in directory.awaited.sorted() {
            guard let handler = awaited.removeValue(forKey: path.appending(name)) else { continue }
            awaitAgain(path.appending(name), in: hierarchy, handler: handler)
        }
        for name in directory.awaitingChildren.sorted() { awaitedDirectoryRemoved(path.appending(name)) }
        // Last: the parent now awaits this directory (above), so its watch stays in place meanwhile.
        stopWatchingForAwaiting(path)
    }

    /// `path` awaits nothing any more: its removal need not be watched in its parent.
    private func stopWatchingForAwaiting(_ path: CgroupPath) {
        forget(path, in: \.awaitingChildren)
    }

    /// The cgroup directories watched for children made or removed (an inotify watch and an open
    /// directory each): what a removed cgroup must not leave behind.
    public var directoryWatchCount: Int { directories.count }

    // MARK: Directory watches

    /// The watch on a cgroup directory, made on first use.
    private func directoryWatch(for path: CgroupPath, in hierarchy: Hierarchy) throws(CgroupError) -> DirectoryWatch {
        if let descriptor = directoryByPath[path], let existing = directories[descriptor] { return existing }
        let directory = try MemoryCgroup(Cgroup.open(path, in: hierarchy))
        return try directoryWatch(of: directory)
    }

    private func directoryWatch(of directory: MemoryCgroup) throws(CgroupError) -> DirectoryWatch {
        if let descriptor = directoryByPath[directory.path], let existing = directories[descriptor] { return existing }
        let path = directory.cgroup.filesystemPath
        let descriptor = inotify_add_watch(inotify, directory.cgroup.descriptorPath(), Self.directoryMask)
        guard descriptor >= 0 else {
            throw .system(SystemCallError("watch for cgroups made or removed in", path: path, errno: errno))
        }
        if let existing = directories[descriptor] { return existing }  // the same directory by another path
        let watch = DirectoryWatch(directory: directory)
        directories[descriptor] = watch
        directoryByPath[directory.path] = descriptor
        return watch
    }

    private func stopWatchingRemoval(of path: CgroupPath) {
        forget(path, in: \.removalWatched)
    }

    /// Drops `path`'s name from one of its parent's sets of children, and the parent's watch with it
    /// when nothing else needs it.
    private func forget(_ path: CgroupPath, in children: ReferenceWritableKeyPath<DirectoryWatch, Set<String>>) {
        guard let parent = path.parent, let descriptor = directoryByPath[parent],
            let directory = directories[descriptor]
        else { return }
        directory[keyPath: children].remove(path.name)
        releaseIfUnused(descriptor)
    }

    private func releaseIfUnused(_ descriptor: Int32) {
        guard let directory = directories[descriptor], directory.isUnused else { return }
        inotify_rm_watch(inotify, descriptor)
        directories[descriptor] = nil
        directoryByPath[directory.directory.path] = nil
    }

    /// Called with each child cgroup created below a cgroup given to ``followChildren(of:)``.
    public var onChildCreated: ((MemoryCgroup) -> Void)?

    /// Reports new child cgroups of `memory` through ``onChildCreated`` as the kernel creates them
    /// (inotify IN_CREATE on the cgroup directory: no rescans).
    public func followChildren(of memory: MemoryCgroup) throws(CgroupError) {
        try directoryWatch(of: memory).followsChildren = true
    }

    /// Calls `handler` whenever a file of the cgroup is written (inotify IN_MODIFY: userspace writes to
    /// cgroupfs files are reported like any write), e.g. memory.max, to keep something in step with it.
    public func onModification(
        of file: String, in memory: MemoryCgroup, handler: @escaping () -> Void
    )
        throws(CgroupError)
    {
        let path = memory.cgroup.filesystemPath + "/" + file
        let descriptor = inotify_add_watch(inotify, memory.cgroup.descriptorPath(file), UInt32(IN_MODIFY))
        guard descriptor >= 0 else { throw .system(SystemCallError("watch", path: path, errno: errno)) }
        fileWatches[descriptor] = (memory.path, handler)
    }

    /// Blocks until the next event (or the timeout) when the watcher is used without a loop of its own.
    public func next(timeout: Duration? = nil) -> OOMEvent? {
        let saved = onEvent
        defer { onEvent = saved }
        onEvent = { [unowned self] event in self.pending.append(event) }
        let clock = ContinuousClock()
        let deadline = timeout.map { clock.now + $0 }
        while pending.isEmpty {
            let remaining = deadline.map { $0 - clock.now }
            if let remaining, remaining <= .zero { break }
            loop.runOnce(timeout: remaining)
        }
        return pending.isEmpty ? nil : pending.removeFirst()
    }

    // MARK: v1

    /// eventfd + "EFD FD" written to cgroup.event_control: the kernel signals the eventfd on OOM, and
    /// also when the cgroup is removed (told apart by checking whether the cgroup still exists).
    private func registerOOMEventfd(_ watch: Watch) throws(CgroupError) {
        let cgroup = watch.memory.cgroup
        let control = openat(cgroup.directoryDescriptor, "memory.oom_control", O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard control >= 0 else {
            throw .system(SystemCallError("open", path: cgroup.filesystemPath + "/memory.oom_control", errno: errno))
        }
        watch.descriptors.append(control)
        let event = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard event >= 0 else { throw .system(SystemCallError("create", path: "eventfd", errno: errno)) }
        watch.descriptors.append(event)
        do {
            try cgroup.write("cgroup.event_control", "\(event) \(control)")
        } catch {
            throw Self.registrationError(error, oomControl: cgroup.filesystemPath + "/memory.oom_control")
        }
        let path = watch.memory.path
        do {
            try loop.add(event) { [unowned self] _ in self.readOOMEventfd(event, path: path) }
        } catch {
            throw .system(error)
        }
    }

    /// What a failed write to cgroup.event_control means: EOPNOTSUPP is the kernel refusing v1 OOM
    /// notifications altogether (PREEMPT_RT kernels do), which no retry or privilege changes.
    static func registrationError(_ error: CgroupError, oomControl path: String) -> CgroupError {
        if case .system(let failure) = error, failure.code == .notSupported { return .oomNotificationsRefused(path) }
        return error
    }

    private func readOOMEventfd(_ descriptor: Int32, path: CgroupPath) {
        var count: UInt64 = 0
        let size = MemoryLayout<UInt64>.size  // an eventfd is read as one 8-byte counter
        guard read(descriptor, &count, size) == size, let watch = watches[path] else { return }
        let now = clock.now
        if !watch.memory.cgroup.isAlive {
            unwatch(path)
            onEvent(OOMEvent(kind: .removed, cgroup: path, count: 1, detectedAt: now))
            return
        }
        if watch.kinds.contains(.oom) {
            onEvent(OOMEvent(kind: .oom, cgroup: path, count: count, detectedAt: now, memory: watch.memory))
        }
    }

    // MARK: v2

    /// The layout of the records read(2) returns from an inotify descriptor (inotify(7)): a fixed
    /// header, `struct inotify_event { int wd; uint32_t mask; uint32_t cookie; uint32_t len; }`, then
    /// `len` bytes of NUL-padded name.
    enum InotifyRecord {
        /// The size of the header, before the name.
        static let headerSize = 16
        /// Where `wd`, the watch descriptor, is (an Int32).
        static let watchDescriptorOffset = 0
        /// Where `mask`, the event bits, is (a UInt32).
        static let maskOffset = 4
        /// Where `len`, the length of the name that follows the header, is (a UInt32).
        static let nameLengthOffset = 12
        /// How much one read takes: many records, and at least one with the longest name.
        static let readSize = 4096
    }

    private func readInotify() {
        var buffer = [UInt8](repeating: 0, count: InotifyRecord.readSize)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
            guard count > 0 else { return }
            var offset = 0
            var changed: [CgroupPath] = []
            var removed: [CgroupPath] = []
            // Directories in which something is awaited, removed.
            var awaitingRemoved: [CgroupPath] = []
            // By path, looked up when handled: a removal handled first may have replaced the watch.
            var created: [(CgroupPath, String)] = []
            while offset + InotifyRecord.headerSize <= count {
                let (descriptor, mask, length) = buffer.withUnsafeBytes { bytes in
                    (
                        bytes.loadUnaligned(
                            fromByteOffset: offset + InotifyRecord.watchDescriptorOffset, as: Int32.self),
                        bytes.loadUnaligned(fromByteOffset: offset + InotifyRecord.maskOffset, as: UInt32.self),
                        Int(
                            bytes.loadUnaligned(
                                fromByteOffset: offset + InotifyRecord.nameLengthOffset, as: UInt32.self))
                    )
                }
                let nameStart = offset + InotifyRecord.headerSize
                let nameBytes = buffer[nameStart..<min(nameStart + length, count)].prefix { $0 != 0 }
                offset = nameStart + length
                if let watch = fileWatches[descriptor] {
                    if mask & UInt32(IN_IGNORED) != 0 { fileWatches[descriptor] = nil } else { watch.handler() }
                    continue
                }
                if let directory = directories[descriptor] {
                    if mask & UInt32(IN_IGNORED) != 0 {
                        // The directory itself is gone: what it awaited is awaited from the level above.
                        let path = directory.directory.path
                        if directoryByPath[path] == descriptor,
                            !directory.awaited.isEmpty || !directory.awaitingChildren.isEmpty
                        {
                            awaitingRemoved.append(path)
                            continue
                        }
                        directories[descriptor] = nil
                        if directoryByPath[directory.directory.path] == descriptor {
                            directoryByPath[directory.directory.path] = nil
                        }
                        continue
                    }
                    guard mask & UInt32(IN_ISDIR) != 0 else { continue }
                    let name = LosslessText.decode(nameBytes)
                    if mask & UInt32(IN_DELETE) != 0, directory.awaitingChildren.contains(name) {
                        awaitingRemoved.append(directory.directory.path.appending(name))
                    }
                    if mask & UInt32(IN_DELETE) != 0, directory.removalWatched.contains(name) {
                        removed.append(directory.directory.path.appending(name))
                    } else if mask & UInt32(IN_CREATE) != 0 {
                        created.append((directory.directory.path, name))
                    }
                    continue
                }
                guard let path = byInotifyWatch[descriptor] else { continue }
                if mask & UInt32(IN_IGNORED) != 0 {
                    removed.append(path)
                } else if !changed.contains(path) {
                    changed.append(path)
                }
            }
            let now = clock.now
            for path in changed { diffCounters(path, at: now) }
            for path in removed where watches[path] != nil {
                unwatch(path)
                onEvent(OOMEvent(kind: .removed, cgroup: path, count: 1, detectedAt: now))
            }
            for path in awaitingRemoved { awaitedDirectoryRemoved(path) }
            for (parent, name) in created {
                guard let descriptor = directoryByPath[parent], let directory = directories[descriptor] else {
                    continue
                }
                childCreated(name, in: directory)
            }
        }
    }

    /// A sub-directory made in a watched directory: an awaited cgroup, or a new child to report.
    private func childCreated(_ name: String, in directory: DirectoryWatch) {
        guard let child = try? directory.directory.cgroup.child(named: name), let memory = try? MemoryCgroup(child)
        else { return }  // removed again meanwhile
        let follows = directory.followsChildren
        if directory.awaited.remove(name) != nil, let handler = awaited.removeValue(forKey: memory.path) {
            // The handler first: it watches the cgroup, which keeps this directory watched for its removal.
            handler(memory)
            if directory.awaited.isEmpty { stopWatchingForAwaiting(directory.directory.path) }
            if let descriptor = directoryByPath[directory.directory.path] { releaseIfUnused(descriptor) }
        }
        if follows { onChildCreated?(memory) }
    }

    /// Reads memory.events and reports the counters that grew since the last read.
    private func diffCounters(_ path: CgroupPath, at now: ContinuousClock.Instant) {
        guard let watch = watches[path], let current = try? watch.memory.events(local: watch.local) else { return }
        let previous = watch.counters ?? MemoryEvents()
        watch.counters = current
        let changes: [(OOMEvent.Kind, UInt64, UInt64)] = [
            (.high, previous.high, current.high), (.max, previous.max, current.max), (.oom, previous.oom, current.oom),
            (.oomKill, previous.oomKill, current.oomKill),
        ]
        let groupKills = current.oomGroupKill > previous.oomGroupKill ? current.oomGroupKill - previous.oomGroupKill : 0
        for (kind, before, after) in changes where watch.kinds.contains(kind) {
            // A group kill counted here whose processes were in child cgroups is still an oom-kill here.
            guard after > before || (kind == .oomKill && groupKills > 0) else { continue }
            var event = OOMEvent(
                kind: kind, cgroup: path, count: after > before ? after - before : 0, detectedAt: now,
                memory: watch.memory)
            if kind == .oomKill { event.groupKills = groupKills }
            onEvent(event)
        }
    }

    // MARK: PSI

    private func armPressureTrigger(_ trigger: PressureTrigger, file: String, in watch: Watch) throws(CgroupError) {
        let memory = watch.memory
        let cgroup = memory.cgroup
        let path = memory.path
        do {
            watch.pressure = try PressureSource(
                file: file, in: cgroup.directoryDescriptor, shownPath: cgroup.filesystemPath + "/" + file,
                trigger: trigger, loop: loop
            ) { [unowned self] in
                onEvent(OOMEvent(kind: .pressure, cgroup: path, count: 1, detectedAt: clock.now, memory: memory))
            }
        } catch {
            throw .system(error)
        }
    }
}
