import Glibc

/// A reserve as the user gives it: an amount (`64M`, `1.5G`) or a percentage of the cgroup's limit (`25%`).
public enum ReserveSize: Sendable, Hashable, CustomStringConvertible {
    case bytes(ByteCount)
    /// Hundredths of a percent (`12.5%` is 1250), so that the value compares exactly.
    case percent(hundredths: UInt64)

    /// Parses `64M`, `1.5G`, `65536`, `25%`, `12.5%`. Zero, negative, `max` and garbage are refused.
    public init(parsing text: String) throws(ReserveError) {
        let trimmed = String(text.trimmingASCIIWhitespace())
        guard !trimmed.hasPrefix("-") else { throw .invalidSize(text, reason: "a reserve cannot be negative") }
        guard !trimmed.isEmpty else { throw .invalidSize(text, reason: "empty; give an amount such as 64M or 10%") }
        if trimmed.hasSuffix("%") {
            let number = trimmed.dropLast()
            let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy({ $0.isASCII && $0.isNumber }),
                whole.count <= 3, let integer = UInt64(whole)
            else { throw .invalidSize(text, reason: "a percentage is a number from 0 to 100 followed by %") }
            var hundredths = integer * 100
            if parts.count == 2 {
                let fraction = parts[1]
                guard !fraction.isEmpty, fraction.count <= 2, fraction.allSatisfy({ $0.isASCII && $0.isNumber }),
                    let digits = UInt64(fraction)
                else { throw .invalidSize(text, reason: "at most two decimals in a percentage") }
                hundredths += fraction.count == 1 ? digits * 10 : digits
            }
            guard hundredths > 0, hundredths < 10000 else {
                throw .invalidSize(text, reason: "a reserve is more than 0% and less than 100% of the limit")
            }
            self = .percent(hundredths: hundredths)
            return
        }
        let bytes: ByteCount
        do {
            bytes = try ByteCount(parsing: trimmed)
        } catch {
            throw .invalidSize(text, reason: error.reason)
        }
        guard !bytes.isUnlimited else { throw .invalidSize(text, reason: "a reserve must be a finite size") }
        guard bytes.bytes > 0 else { throw .invalidSize(text, reason: "a reserve must be larger than 0") }
        self = .bytes(bytes)
    }

    /// The bytes this reserve stands for, given the cgroup's limit (rounded down to a page).
    public func resolve(limit: ByteCount) -> ByteCount {
        switch self {
        case .bytes(let bytes): return bytes
        case .percent(let hundredths):
            let (high, low) = limit.bytes.multipliedFullWidth(by: hundredths)
            let (quotient, _) = UInt64(10000).dividingFullWidth((high, low))
            return ByteCount(quotient / 4096 * 4096)
        }
    }

    public var description: String {
        switch self {
        case .bytes(let bytes): return bytes.description
        case .percent(let hundredths):
            let fraction = hundredths % 100
            return "\(hundredths / 100)"
                + (fraction == 0
                    ? "" : fraction % 10 == 0 ? ".\(fraction / 10)" : ".\(fraction < 10 ? "0" : "")\(fraction)") + "%"
        }
    }
}

/// What is recorded for a cgroup's reserve (JSON in the attribute or the state file).
public struct ReserveRecord: Sendable, Hashable, Codable {
    /// The size as given (`16M`, `25%`).
    public var size: String
    /// The bytes it stood for when it was set.
    public var bytes: ByteCount
    /// v2: memory.high before `reserve` lowered it, restored by `--clear`.
    public var previousHigh: ByteCount?
    /// v2: the memory.high `reserve` wrote (memory.max − reserve then), so that `--clear` knows it as
    /// its own also after memory.max moved with no watch running. Absent in records of older versions.
    public var appliedHigh: ByteCount?

    public init(size: String, bytes: ByteCount, previousHigh: ByteCount? = nil, appliedHigh: ByteCount? = nil) {
        self.size = size
        self.bytes = bytes
        self.previousHigh = previousHigh
        self.appliedHigh = appliedHigh
    }
}

/// Where a reserve is recorded.
public enum ReserveStorage: Sendable, Hashable, CustomStringConvertible {
    /// An extended attribute on the cgroup directory (`trusted.oomctl.reserve` or `user.oomctl.reserve`).
    case attribute(String)
    /// A state file (when the cgroup file system takes no extended attributes).
    case stateFile(String)

    public var description: String {
        switch self {
        case .attribute(let name): "attribute \(name)"
        case .stateFile(let path): "state file \(path)"
        }
    }
}

/// Why a reserve cannot be set, shown, or taken back.
public enum ReserveError: OOMKitError, Equatable {
    /// The size given does not parse or is out of range.
    case invalidSize(String, reason: String)
    /// The reserve does not fit: at or above the limit, above what the parent or the machine can give.
    case tooLarge(CgroupPath, reason: String)
    /// The cgroup has no limit to take a reserve from.
    case noLimit(CgroupPath)
    /// The reserve could not be recorded anywhere (`denied`: for lack of privilege everywhere).
    case cannotRecord(CgroupPath, reason: String, denied: Bool = false)

    public var kind: FailureKind {
        switch self {
        case .invalidSize, .tooLarge, .noLimit: .badInput
        case .cannotRecord(_, _, let denied): denied ? .permissionDenied : .cannotCreateOutput
        }
    }

    public var description: String {
        switch self {
        case .invalidSize(let text, let reason):
            return "invalid reserve size '\(text.visibleControlCharacters)': \(reason)"
        case .tooLarge(let path, let reason):
            return "reserve refused for \(path.description.visibleControlCharacters): \(reason)"
        case .noLimit(let path):
            return "\(path.description.visibleControlCharacters) has no memory limit, so there is nothing to "
                + "reserve from; set one first (v1 memory.limit_in_bytes, v2 memory.max)"
        case .cannotRecord(let path, let reason, _):
            return "cannot record the reserve of \(path.description.visibleControlCharacters): \(reason)"
        }
    }
}

/// Records reserves: an extended attribute on the cgroup directory (`trusted.oomctl.reserve`, else
/// `user.oomctl.reserve`), else a state file under /run/oomctl/reserves written atomically.
public struct ReserveStore: Sendable {
    /// The attributes tried, in order.
    public static let attributes = ["trusted.oomctl.reserve", "user.oomctl.reserve"]
    /// Where state files go (below `OOMCTL_ROOT` when set).
    public let stateDirectory: String

    public init(system: CgroupSystem) {
        stateDirectory = system.rootPrefix + "/run/oomctl/reserves"
    }

    /// The recorded reserve of a cgroup and where it is recorded; nil when it has none.
    public func read(_ memory: MemoryCgroup) -> (record: ReserveRecord, storage: ReserveStorage)? {
        for name in Self.attributes {
            if let value = memory.cgroup.extendedAttribute(name),
                case .success(let record) = JSONOutput.decode(ReserveRecord.self, from: value)
            {
                return (record, .attribute(name))
            }
        }
        let path = statePath(memory)
        guard let bytes = try? FileIO.read(path: path),
            case .success(let record) = JSONOutput.decode(ReserveRecord.self, from: bytes)
        else { return nil }
        return (record, .stateFile(path))
    }

    /// Records a reserve, in the first place that takes it; returns where.
    public func write(_ record: ReserveRecord, for memory: MemoryCgroup) throws(ReserveError) -> ReserveStorage {
        let value = JSONOutput.encode(record, pretty: false).dropLast()
        var reasons: [String] = []
        var denied = true
        for name in Self.attributes {
            do {
                try memory.cgroup.setExtendedAttribute(name, Array(value))
                // One record only: drop a stale one in a later place.
                for other in Self.attributes where other != name { try? memory.cgroup.removeExtendedAttribute(other) }
                unlink(statePath(memory))
                return .attribute(name)
            } catch {
                reasons.append(error.description)
                if error.kind != .permissionDenied { denied = false }
            }
        }
        let path = statePath(memory)
        do throws(OutputFileError) {
            try FileIO.makeDirectories(stateDirectory, mode: 0o755)
            try AtomicFile.write(Array(value) + [UInt8(ascii: "\n")], to: path, mode: 0o644)
            return .stateFile(path)
        } catch {
            reasons.append(error.description)
            throw .cannotRecord(
                memory.path, reason: reasons.joined(separator: "; "), denied: denied && error.isPermissionDenied)
        }
    }

    /// Removes the record wherever it is.
    public func remove(for memory: MemoryCgroup) throws(CgroupError) {
        for name in Self.attributes where memory.cgroup.extendedAttribute(name) != nil {
            try memory.cgroup.removeExtendedAttribute(name)
        }
        unlink(statePath(memory))
    }

    /// The state file of a cgroup: its version and path, hex-encoded (any byte may be in a name).
    public func statePath(_ memory: MemoryCgroup) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var name: [UInt8] = Array("v\(memory.version.rawValue)-".utf8)
        for byte in LosslessText.encode(memory.path.description) {
            name.append(digits[Int(byte >> 4)])
            name.append(digits[Int(byte & 0xF)])
        }
        return stateDirectory + "/" + String(decoding: name, as: UTF8.self) + ".json"
    }
}
