/// A validated path of a cgroup relative to its hierarchy's root, as /proc/PID/cgroup shows it:
/// `/`, `/system.slice/foo.service`.
///
/// Components are never empty, `.` or `..`, and hold no NUL or newline (the kernel refuses `/` and
/// newline in a cgroup name; every other byte is allowed, so never interpolate one into a shell command).
///
/// Two paths are equal when their bytes are (UTF-8, as the kernel compares names), not when Swift's
/// `String` would call them equal: `é` precomposed and `e` + U+0301 are two cgroups, and a set or a
/// dictionary of paths must not fold one into the other.
public struct CgroupPath: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The names from the root down; empty for the root itself.
    public let components: [String]

    /// The hierarchy's root cgroup.
    public static let root = CgroupPath(validated: [])

    private init(validated components: [String]) { self.components = components }

    /// Validates a hierarchy-relative path; a leading `/` is optional, repeated slashes are folded.
    public init(_ text: String) throws(CgroupError) {
        if text.utf8.contains(0) {
            throw .invalidPath(text, reason: "it contains a NUL byte")
        }
        var components: [String] = []
        // Split by scalar, as the kernel splits by byte: a `/` followed by a combining mark is one
        // Character, and "\r\n" is one, so a Character-wise split or search would miss them.
        for scalars in text.unicodeScalars.split(separator: "/", omittingEmptySubsequences: true) {
            if scalars.elementsEqual("..".unicodeScalars) {
                throw .invalidPath(text, reason: "'..' is not allowed; give the path from the hierarchy root")
            }
            if scalars.elementsEqual(".".unicodeScalars) { continue }
            if scalars.contains("\n") {
                throw .invalidPath(text, reason: "a cgroup name cannot contain a newline")
            }
            components.append(String(String.UnicodeScalarView(scalars)))
        }
        self.init(validated: components)
    }

    /// Whether this is the hierarchy's root.
    public var isRoot: Bool { components.isEmpty }

    /// The last component; empty for the root.
    public var name: String { components.last ?? "" }

    /// The parent path; nil for the root.
    public var parent: CgroupPath? {
        isRoot ? nil : CgroupPath(validated: Array(components.dropLast()))
    }

    /// The path of a child; `name` must be a single valid component (as read from a directory).
    public func appending(_ name: String) -> CgroupPath {
        CgroupPath(validated: components + [name])
    }

    /// Whether `self` is `other` or lies below it.
    public func isDescendant(of other: CgroupPath) -> Bool {
        components.count >= other.components.count
            && components.prefix(other.components.count).elementsEqual(other.components) {
                $0.utf8.elementsEqual($1.utf8)
            }
    }

    /// Number of components: 0 for the root.
    public var depth: Int { components.count }

    public var description: String { "/" + components.joined(separator: "/") }

    public static func == (lhs: CgroupPath, rhs: CgroupPath) -> Bool {
        lhs.components.elementsEqual(rhs.components) { $0.utf8.elementsEqual($1.utf8) }
    }

    public func hash(into hasher: inout Hasher) {
        for component in components {
            hasher.combine(component.utf8.count)
            for byte in component.utf8 { hasher.combine(byte) }
        }
    }

    /// By bytes, component by component (for UTF-8, the order of the names' scalars).
    public static func < (lhs: CgroupPath, rhs: CgroupPath) -> Bool {
        lhs.components.lexicographicallyPrecedes(rhs.components) { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }
}
