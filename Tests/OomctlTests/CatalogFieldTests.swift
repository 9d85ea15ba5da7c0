import Glibc
import OOMKit
import OOMTestSupport
import Testing

/// The journal catalog's `@OOMCTL_*@` fields are ones that watch really sends with that MESSAGE_ID:
/// watch runs through real OOMs with `--json` (whose keys are the journal fields without `OOMCTL_`,
/// lower-cased), and every field a catalog entry names must be among the keys of the records carrying
/// its MESSAGE_ID. A field the code does not send would show as a blank in `journalctl -x`.
@Suite(.enabled(if: TestCgroup.isAvailable, "\(TestCgroup.unavailableReason ?? "")"), .serialized)
struct CatalogFieldTests {
    /// contrib/oomctl.catalog, found from this file's place in the repository.
    static let catalogPath: String = {
        let parts = #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(3)
        return parts.joined(separator: "/") + "/contrib/oomctl.catalog"
    }()

    /// MESSAGE_ID → the OOMCTL_* fields its entry names, as record keys (`OOMCTL_FREED_BYTES` → `freed_bytes`).
    static func catalogFields() -> [String: Set<String>] {
        var fields: [String: Set<String>] = [:]
        var current: String?
        for line in ProcessRunner.readText(catalogPath).split(separator: "\n") {
            if line.hasPrefix("-- ") {
                current = String(line.dropFirst(3))
                fields[current ?? ""] = []
                continue
            }
            guard let id = current else { continue }
            for (index, part) in line.split(separator: "@", omittingEmptySubsequences: false).enumerated()
            where index % 2 == 1 && part.hasPrefix("OOMCTL_") {
                fields[id, default: []].insert(part.dropFirst("OOMCTL_".count).lowercased())
            }
        }
        return fields
    }

    /// The records watch printed, by MESSAGE_ID: the union of their keys.
    static func keysByMessage(_ records: [[String: String]]) -> [String: Set<String>] {
        var keys: [String: Set<String>] = [:]
        for record in records {
            guard let id = record["messageID"] else { continue }
            keys[id, default: []].formUnion(record.keys)
        }
        return keys
    }

    /// SIGTERM, then every record including the stop's (read before ``RunningWatch/stop(signal:)``
    /// removes the output).
    static func stopped(_ watch: RunningWatch) -> [[String: String]] {
        kill(watch.pid, SIGTERM)
        watch.waitFor { $0.records.contains { $0["messageID"] == MessageID.watchStopped.rawValue } }
        let records = watch.records
        watch.stop()
        return records
    }

    @Test func everyCatalogFieldIsSentWithItsMessage() throws {
        var records: [[String: String]] = []
        do {
            // A reserve, a hook that does not resolve, and a kill.
            let test = try TestCgroup(limit: ByteCount(32 << 20))
            defer { test.destroy() }
            #expect(ProcessRunner.oomctl(["reserve", test.path.description, "8M", "-q"]).status == 0)
            let watch = try RunningWatch([
                test.path.description, "--json", "--hook", "exit 1", "--kill", "triggering", "--no-self-protection",
            ])
            let hog = try test.spawnHog("100M")
            #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
            watch.waitFor { $0.records.contains { $0["messageID"] == MessageID.oomResolved.rawValue } }
            records += Self.stopped(watch)
        }
        do {
            // A hook that times out, the fallback to the kernel, and the cgroup removed while watched.
            let test = try TestCgroup()
            defer { test.destroy() }
            let child = try test.makeChild("slow", limit: ByteCount(32 << 20))
            let watch = try RunningWatch([
                child.description, "--json", "--hook", "sleep 5", "--hook-timeout", "200ms", "--delay", "300ms",
                "--no-self-protection",
            ])
            let hog = try test.spawnHog("100M", in: child)
            #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
            watch.waitFor { $0.records.contains { $0["messageID"] == MessageID.oomResolved.rawValue } }
            #expect(rmdir(test.filesystemPath(child)) == 0)
            watch.waitFor { $0.records.contains { $0["messageID"] == MessageID.cgroupRemoved.rawValue } }
            records += Self.stopped(watch)
        }
        do {
            // The panic action, its SysRq command sent to a stand-in file (never /proc/sysrq-trigger).
            let test = try TestCgroup(limit: ByteCount(32 << 20))
            defer { test.destroy() }
            let directory = FixtureTree()
            let watch = try RunningWatch([
                test.path.description, "--json", "--panic", "crash", "--confirm-panic", "--snapshot-dir",
                directory.root, "--sysrq-trigger-stand-in", directory.root + "/sysrq-trigger", "--delay", "300ms",
                "--no-self-protection",
            ])
            let hog = try test.spawnHog("100M")
            #expect(ProcessRunner.wait(for: hog, timeout: .seconds(15)) == 128 + SIGKILL)
            watch.waitFor { $0.records.contains { $0["messageID"] == MessageID.oomResolved.rawValue } }
            records += Self.stopped(watch)
        }
        let sent = Self.keysByMessage(records)
        let catalog = Self.catalogFields()
        // `warning` depends on the machine (what self-protection may do); every other kind was produced.
        let expected = Set(MessageID.allCases.filter { $0 != .warning }.map(\.rawValue))
        #expect(expected.isSubset(of: Set(sent.keys)), "not produced: \(expected.subtracting(sent.keys))")
        for (id, keys) in sent {
            let named = catalog[id] ?? []
            #expect(
                named.isSubset(of: keys),
                "catalog entry \(id) names \(named.subtracting(keys).sorted()) but watch sends only \(keys.sorted())")
        }
    }
}
