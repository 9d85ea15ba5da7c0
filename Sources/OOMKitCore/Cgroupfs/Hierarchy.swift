/// The two cgroup interfaces of the kernel.
public enum CgroupVersion: Int, Sendable, Hashable, Codable, CustomStringConvertible {
    case v1 = 1
    case v2 = 2

    public var description: String { self == .v1 ? "v1" : "v2" }
}

/// One mounted cgroup hierarchy: its version, where it is mounted, and which controllers it carries.
public struct Hierarchy: Sendable, Hashable, Codable, CustomStringConvertible {
    /// cgroup v1 or v2.
    public var version: CgroupVersion
    /// Where it is mounted, as an absolute path (including a fixture root prefix, if any).
    public var mountPoint: String
    /// The mount's root inside the hierarchy (field 4 of mountinfo): `/` unless a sub-tree is
    /// bind-mounted or a cgroup namespace is in effect.
    public var mountRoot: String
    /// The controllers attached: for v1 from the mount options (`memory`, `name=systemd`, …), for v2
    /// from the root's cgroup.controllers.
    public var controllers: [String]

    public init(version: CgroupVersion, mountPoint: String, mountRoot: String = "/", controllers: [String]) {
        self.version = version
        self.mountPoint = mountPoint
        self.mountRoot = mountRoot
        self.controllers = controllers
    }

    /// Whether the memory controller is attached to this hierarchy.
    public var hasMemoryController: Bool { controllers.contains("memory") }

    public var description: String {
        let list = controllers.isEmpty ? "no controllers" : "controllers: " + controllers.joined(separator: ",")
        return "cgroup \(version) at \(mountPoint) (\(list))"
    }

    enum CodingKeys: String, CodingKey {
        case version, mountPoint, controllers
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decode(CgroupVersion.self, forKey: .version)
        mountPoint = try container.decode(String.self, forKey: .mountPoint)
        controllers = try container.decodeIfPresent([String].self, forKey: .controllers) ?? []
        mountRoot = "/"
    }
}

/// One line of /proc/self/mountinfo that mounts a cgroup file system.
public struct CgroupMount: Sendable, Hashable {
    public var version: CgroupVersion
    public var mountPoint: String
    public var root: String
    /// For v1, the super-block options (which name the controllers); empty for v2.
    public var superOptions: [String]

    /// Parses /proc/self/mountinfo and returns the cgroup and cgroup2 mounts in file order.
    /// Lines that are not cgroup mounts, or are malformed, are skipped.
    public static func parse(mountInfo text: String) -> [CgroupMount] {
        var mounts: [CgroupMount] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 7, let separator = fields.firstIndex(of: "-"), separator >= 6,
                separator + 1 < fields.count
            else { continue }
            let fileSystemType = fields[separator + 1]
            let version: CgroupVersion
            switch fileSystemType {
            case "cgroup": version = .v1
            case "cgroup2": version = .v2
            default: continue
            }
            let superOptions =
                separator + 3 < fields.count ? fields[separator + 3].split(separator: ",").map(String.init) : []
            mounts.append(
                CgroupMount(
                    version: version,
                    mountPoint: unescapeMountField(fields[4]),
                    root: unescapeMountField(fields[3]),
                    superOptions: version == .v1 ? superOptions : []
                ))
        }
        return mounts
    }

    /// mountinfo escapes space, tab, newline and backslash as `\040`, `\011`, `\012` and `\134`.
    static func unescapeMountField(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        let utf8 = Array(field.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "\\"), index + 3 < utf8.count,
                let value = octalByte(utf8[(index + 1)...(index + 3)])
            {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func octalByte(_ digits: ArraySlice<UInt8>) -> UInt8? {
        guard digits.count == 3 else { return nil }
        var value: UInt16 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "7") else { return nil }
            value = value * 8 + UInt16(digit - UInt8(ascii: "0"))
        }
        return value <= 255 ? UInt8(value) : nil
    }

    /// The v1 options that are not controllers.
    static let nonControllerOptions: Set<String> = [
        "rw", "ro", "noprefix", "clone_children", "xattr", "cpuset_v2_mode", "nosuid", "nodev", "noexec",
        "relatime", "favordynmods",
    ]

    /// The controllers named by a v1 mount's options (`name=systemd` included, `release_agent=` not).
    var v1Controllers: [String] {
        superOptions.filter { !Self.nonControllerOptions.contains($0) && !$0.hasPrefix("release_agent=") }
    }
}
