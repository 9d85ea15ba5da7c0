/// A v2 cgroup's cgroup.events: whether any process is left in it or below (`populated`) and whether
/// every task there is frozen (`frozen`, kernels from 5.2). The kernel notifies changes to the file
/// (poll, inotify), and keys it does not list here are skipped.
public struct CgroupEvents: Sendable, Hashable, Codable {
    /// A live process is in the cgroup or a descendant.
    public var populated: Bool
    /// Every task of the cgroup and its descendants is frozen (cgroup.freeze took effect).
    public var frozen: Bool

    public init(populated: Bool, frozen: Bool) {
        self.populated = populated
        self.frozen = frozen
    }

    /// Parses `populated 1\nfrozen 0\n`; a missing key reads as 0 (`frozen` before Linux 5.2).
    public init(parsing text: String) throws(ParseError) {
        var values: [Substring: Bool] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 2, fields[1] == "0" || fields[1] == "1" else {
                throw ParseError("cgroup.events", input: text, reason: "expected 'KEY 0|1' lines")
            }
            values[fields[0]] = fields[1] == "1"
        }
        guard let populated = values["populated"] else {
            throw ParseError("cgroup.events", input: text, reason: "no 'populated' line")
        }
        self.init(populated: populated, frozen: values["frozen"] ?? false)
    }
}

extension Cgroup {
    /// cgroup.events (v2 only).
    public func events() throws(CgroupError) -> CgroupEvents {
        guard hierarchy.version == .v2 else { throw .unsupported("cgroup.events", version: .v1) }
        let text = try read("cgroup.events")
        do {
            return try CgroupEvents(parsing: text)
        } catch {
            throw .parse(error)
        }
    }

    /// v2: whether any process is left in the cgroup or below (cgroup.events `populated`); a cgroup that
    /// was removed, or whose file cannot be read, holds none that can be waited for.
    public var isPopulated: Bool { (try? events().populated) ?? false }
}
