/// Parsing and printing of durations as people write them on a command line: `250ms`, `2s`,
/// `1.5s`, `1m`, `1h`, `100us`. Every duration has a unit, the one rule for every option and trigger
/// that takes one: a bare `1.5` could mean seconds or milliseconds, so it is refused; only zero, which is
/// the same in every unit, may be given bare (`0`).
extension Duration {
    private static let units: [(suffix: String, nanoseconds: Int64)] = [
        ("ns", 1), ("us", 1_000), ("µs", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000),
        ("m", 60_000_000_000), ("min", 60_000_000_000), ("h", 3_600_000_000_000),
    ]

    /// Parses `250ms`, `2s`, `1.5s`, `1m`, `1h`, `100us`, or a bare `0`; any other number needs a unit.
    public init(parsing text: some StringProtocol) throws(ParseError) {
        let trimmed = text.trimmingASCIIWhitespace()
        let number = trimmed.prefix { $0 == "." || ($0.isASCII && $0.isNumber) }
        let suffix = String(trimmed[number.endIndex...])
        // Bare, only zero: any unit would do.
        let unit = suffix.isEmpty ? 1 : Self.units.first { $0.suffix == suffix }?.nanoseconds
        let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let unit, !number.isEmpty, number != ".",
            let whole = parts[0].isEmpty ? 0 : Int64(parts[0]),
            parts.count == 1 || (1...9).contains(parts[1].count),
            let fraction = parts.count == 2 ? Int64(parts[1]) : 0,
            !suffix.isEmpty || (whole == 0 && fraction == 0)
        else {
            throw ParseError(
                "duration", input: text,
                reason: "expected a number with a unit: ns, us, ms, s, m or h (e.g. 250ms, 2s; only 0 may go without)")
        }
        var scale: Int64 = 1
        if parts.count == 2 { for _ in 0..<parts[1].count { scale *= 10 } }
        // The limit is what fits in nanoseconds (292 years), whatever the unit: a bound on the number
        // alone refused 10000000us, and the compact text of a long duration (12000030s).
        let (wholeNanoseconds, overflow) = whole.multipliedReportingOverflow(by: unit)
        let fractionNanoseconds = Int64((Double(fraction) / Double(scale) * Double(unit)).rounded())
        let (nanoseconds, sumOverflow) = wholeNanoseconds.addingReportingOverflow(fractionNanoseconds)
        guard !overflow, !sumOverflow else {
            throw ParseError("duration", input: text, reason: "too long")
        }
        self = .nanoseconds(nanoseconds)
    }

    /// Whole nanoseconds (saturating).
    package var totalNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? (seconds < 0 ? Int64.min : Int64.max) : product + attoseconds / 1_000_000_000
    }

    /// Whole milliseconds, rounded down.
    package var totalMilliseconds: Int64 { totalNanoseconds / 1_000_000 }

    /// Compact text that parses back: `0s`, `250ms`, `1.5s`, `2m`, `1h`, `120us`.
    package var compactDescription: String {
        let nanoseconds = totalNanoseconds
        if nanoseconds == 0 { return "0s" }
        for (suffix, size) in [("h", Int64(3_600_000_000_000)), ("m", 60_000_000_000)]
        where nanoseconds % size == 0 {
            return "\(nanoseconds / size)\(suffix)"
        }
        for (suffix, size) in [("s", Int64(1_000_000_000)), ("ms", 1_000_000), ("us", 1_000)]
        where nanoseconds >= size {
            let whole = nanoseconds / size
            let tenths = (nanoseconds % size) * 10 / size
            return tenths == 0 ? "\(whole)\(suffix)" : "\(whole).\(tenths)\(suffix)"
        }
        return "\(nanoseconds)ns"
    }
}
