/// An amount of memory in bytes, or "no limit".
///
/// Parses what people and the kernel write: `65536`, `64K`, `64KiB`, `64kb`, `1.5G`, `2T` (all units
/// binary, as cgroupfs reads them: K = 1024) and `max`. The v1 "unlimited" value
/// (9223372036854771712, `PAGE_COUNTER_MAX` pages) reads as ``unlimited`` too.
/// Prints compactly in the same notation (`64M`, `1.5G`, `max`), so output can be pasted back as input.
public struct ByteCount: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The number of bytes; `UInt64.max` means unlimited.
    public var bytes: UInt64

    public init(_ bytes: UInt64) { self.bytes = bytes }

    /// Kibibytes, the unit of /proc/meminfo and /proc/PID/status.
    public static func kibibytes(_ value: UInt64) -> ByteCount {
        let (product, overflow) = value.multipliedReportingOverflow(by: 1024)
        return ByteCount(overflow ? UInt64.max : product)
    }

    /// No limit (`max` in cgroup v2, the page-counter maximum in v1).
    public static let unlimited = ByteCount(UInt64.max)
    public static let zero = ByteCount(0)

    /// Whether this is the "no limit" value.
    public var isUnlimited: Bool { bytes == UInt64.max }

    /// Values at or above this are the kernel's way of saying "no limit" (v1 writes LONG_MAX rounded
    /// down to a page).
    static let kernelUnlimitedThreshold: UInt64 = 0x7FFF_FFFF_FFFF_0000

    private static let units: [(suffix: Character, shift: UInt64)] = [
        ("K", 10), ("M", 20), ("G", 30), ("T", 40), ("P", 50), ("E", 60),
    ]

    /// Parses a size given by a person or read from a kernel file.
    public init(parsing text: some StringProtocol) throws(ParseError) {
        let trimmed = text.trimmingASCIIWhitespace()
        if trimmed == "max" || trimmed == "infinity" {
            self = .unlimited
            return
        }
        let number = trimmed.prefix { $0 == "." || ($0.isASCII && $0.isNumber) }
        let suffix = trimmed[number.endIndex...].uppercased()
        guard let shift = Self.shift(forSuffix: suffix) else {
            throw ParseError("size", input: text, reason: "unknown unit '\(suffix)'; use K, M, G, T, P or E (binary)")
        }
        guard let value = Self.scaled(number, shift: shift) else {
            throw ParseError(
                "size", input: text,
                reason: "expected a non-negative number with an optional unit K, M, G, T, P or E (binary), or max"
            )
        }
        self.init(value >= Self.kernelUnlimitedThreshold ? UInt64.max : value)
    }

    /// The power of two a unit suffix stands for: "" and "B" are bytes; "K", "KB" and "KIB" are 2^10…
    private static func shift(forSuffix suffix: String) -> UInt64? {
        if suffix.isEmpty || suffix == "B" { return 0 }
        guard let letter = suffix.first, let unit = units.first(where: { $0.suffix == letter }) else { return nil }
        let rest = suffix.dropFirst()
        return rest.isEmpty || rest == "B" || rest == "IB" ? unit.shift : nil
    }

    /// `digits[.digits]` times 2^shift, nil on garbage or overflow.
    private static func scaled(_ text: Substring, shift: UInt64) -> UInt64? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let integerPart = parts.first, !integerPart.isEmpty || parts.count == 2,
            integerPart.allSatisfy({ $0.isASCII && $0.isNumber })
        else { return nil }
        let integer: UInt64
        if integerPart.isEmpty {
            integer = 0
        } else {
            guard let parsed = UInt64(integerPart) else { return nil }
            integer = parsed
        }
        guard integer == 0 || integer.leadingZeroBitCount >= shift else { return nil }
        var value = integer << shift
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.count <= 9, fraction.allSatisfy({ $0.isASCII && $0.isNumber }),
                let digits = UInt64(fraction)
            else { return nil }
            var denominator: UInt64 = 1
            for _ in 0..<fraction.count { denominator *= 10 }
            // digits / denominator * 2^shift, computed without overflow for shift <= 60.
            let (high, low) = digits.multipliedFullWidth(by: UInt64(1) << shift)
            let (quotient, _) = denominator.dividingFullWidth((high, low))
            let (sum, overflow) = value.addingReportingOverflow(quotient)
            guard !overflow else { return nil }
            value = sum
        }
        return value
    }

    /// Compact, paste-back-able text: `0`, `512`, `64K`, `1.5G`, `max`.
    public var description: String {
        if isUnlimited { return "max" }
        var unitIndex = -1
        while unitIndex + 1 < Self.units.count, bytes >= (UInt64(1) << Self.units[unitIndex + 1].shift) {
            unitIndex += 1
        }
        guard unitIndex >= 0 else { return String(bytes) }
        let unit = Self.units[unitIndex]
        let divisor = UInt64(1) << unit.shift
        if bytes % divisor == 0 { return "\(bytes / divisor)\(unit.suffix)" }
        let value = Double(bytes) / Double(divisor)
        if value >= 100 {
            let whole = Int(value.rounded())
            // 1023.5K and up would print 1024K, which reads back as 1M and prints so: 1.0M it is.
            if whole == 1024, unitIndex + 1 < Self.units.count { return "1.0\(Self.units[unitIndex + 1].suffix)" }
            return "\(whole)\(unit.suffix)"
        }
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)\(unit.suffix)"
    }

    public static func < (lhs: ByteCount, rhs: ByteCount) -> Bool { lhs.bytes < rhs.bytes }

    /// Encodes as a JSON number of bytes, and unlimited as the string "max", so that scripts never
    /// see a misleading 18446744073709551615.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if isUnlimited { try container.encode("max") } else { try container.encode(bytes) }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(UInt64.self) {
            self.init(number)
        } else {
            let text = try container.decode(String.self)
            guard text == "max" else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "expected a number of bytes or \"max\"")
            }
            self = .unlimited
        }
    }
}

extension ByteCount {
    /// Saturating sum (unlimited stays unlimited).
    public static func + (lhs: ByteCount, rhs: ByteCount) -> ByteCount {
        let (sum, overflow) = lhs.bytes.addingReportingOverflow(rhs.bytes)
        return ByteCount(overflow ? UInt64.max : sum)
    }

    /// Saturating difference (never below zero).
    public static func - (lhs: ByteCount, rhs: ByteCount) -> ByteCount {
        ByteCount(lhs.bytes >= rhs.bytes ? lhs.bytes - rhs.bytes : 0)
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and newlines.
    package func trimmingASCIIWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        let string = Substring(self)
        guard let first = string.firstIndex(where: { !isSpace($0) }),
            let last = string.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return string[first...last]
    }
}
