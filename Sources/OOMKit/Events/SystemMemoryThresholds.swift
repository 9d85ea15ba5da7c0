/// An amount of free memory as a share of the total (`5%`) or as a size (`512M`).
public struct MemoryThreshold: Sendable, Hashable, CustomStringConvertible {
    public enum Amount: Sendable, Hashable {
        case percent(Double)
        case size(ByteCount)
    }

    public var amount: Amount

    public init(_ amount: Amount) { self.amount = amount }

    /// Parses `5%`, `12.5%` or a size such as `512M`.
    public init(parsing text: some StringProtocol) throws(ParseError) {
        let trimmed = text.trimmingASCIIWhitespace()
        if trimmed.hasSuffix("%") {
            guard let value = Double(trimmed.dropLast()), value.isFinite, value >= 0, value <= 100 else {
                throw ParseError("threshold", input: text, reason: "a percentage must be between 0% and 100%")
            }
            self.init(.percent(value))
        } else {
            let size = try ByteCount(parsing: trimmed)
            guard !size.isUnlimited else {
                throw ParseError("threshold", input: text, reason: "give a size or a percentage, not max")
            }
            self.init(.size(size))
        }
    }

    /// The threshold in bytes for a total of `total`.
    public func bytes(of total: ByteCount) -> UInt64 {
        switch amount {
        case .percent(let value): UInt64((Double(total.bytes) * value / 100).rounded())
        case .size(let size): size.bytes
        }
    }

    public var description: String {
        switch amount {
        case .percent(let value):
            value == value.rounded() ? "\(Int(value))%" : "\(value)%"
        case .size(let size): size.description
        }
    }
}

/// When `watch --system` warns (hooks only) and when it acts (hooks, then a kill): available memory
/// and, where swap exists, free swap below thresholds — earlyoom's pairs, e.g. `--min-available 10%,5%`.
public struct SystemMemoryThresholds: Sendable, Hashable {
    /// What a reading amounts to.
    public enum Level: Int, Sendable, Comparable, CustomStringConvertible {
        case ok = 0
        case warn = 1
        case act = 2

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
        public var description: String { self == .ok ? "ok" : self == .warn ? "warn" : "act" }
    }

    public var warnAvailable: MemoryThreshold?
    public var actAvailable: MemoryThreshold
    public var warnSwapFree: MemoryThreshold?
    public var actSwapFree: MemoryThreshold?

    public init(
        warnAvailable: MemoryThreshold?, actAvailable: MemoryThreshold, warnSwapFree: MemoryThreshold? = nil,
        actSwapFree: MemoryThreshold? = nil
    ) {
        self.warnAvailable = warnAvailable
        self.actAvailable = actAvailable
        self.warnSwapFree = warnSwapFree
        self.actSwapFree = actSwapFree
    }

    /// Parses `5%` (act only) or `10%,5%` (warn, then act); the warn threshold must be the higher.
    public static func parsePair(_ text: String) throws(ParseError) -> (warn: MemoryThreshold?, act: MemoryThreshold) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            return (nil, try MemoryThreshold(parsing: parts[0]))
        case 2:
            let warn = try MemoryThreshold(parsing: parts[0])
            let act = try MemoryThreshold(parsing: parts[1])
            if case .percent(let high) = warn.amount, case .percent(let low) = act.amount, high < low {
                throw ParseError(
                    "threshold pair", input: text, reason: "the first (warn) must be at least the second (act)")
            }
            if case .size(let high) = warn.amount, case .size(let low) = act.amount, high < low {
                throw ParseError(
                    "threshold pair", input: text, reason: "the first (warn) must be at least the second (act)")
            }
            return (warn, act)
        default:
            throw ParseError("threshold pair", input: text, reason: "expected THRESHOLD or WARN,ACT, e.g. 5% or 10%,5%")
        }
    }

    /// The level a meminfo reading is at. With swap configured, a level is reached only when free swap
    /// is also below its threshold (memory that can still be swapped out is not an emergency).
    public func level(of memory: MemInfo) -> Level {
        guard let total = memory.total, let available = memory.available else { return .ok }
        let swapTotal = memory.swapTotal ?? .zero
        let swapFree = memory.swapFree ?? .zero
        func below(_ memoryThreshold: MemoryThreshold?, _ swapThreshold: MemoryThreshold?) -> Bool {
            guard let memoryThreshold, available.bytes < memoryThreshold.bytes(of: total) else { return false }
            guard swapTotal.bytes > 0, let swapThreshold else { return true }
            return swapFree.bytes < swapThreshold.bytes(of: swapTotal)
        }
        if below(actAvailable, actSwapFree) { return .act }
        if below(warnAvailable, warnSwapFree ?? actSwapFree) { return .warn }
        return .ok
    }
}
