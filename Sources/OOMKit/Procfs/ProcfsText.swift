/// Small tokenising helpers shared by the procfs parsers. All of them are total: they return nil or
/// an empty result on odd input, never trap.
enum ProcfsText {
    /// The non-empty lines of `text`.
    static func lines(_ text: String) -> [Substring] {
        // Splitting the UTF-8 view is several times faster than splitting Characters.
        text.utf8.split(separator: UInt8(ascii: "\n")).map { Substring($0) }
    }

    /// The fields of a line separated by runs of spaces, tabs and newlines.
    static func fields(_ line: Substring) -> [Substring] {
        line.utf8.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A }).map { Substring($0) }
    }

    /// Splits `Key:   value` at the first colon. The key must be non-empty and hold no blanks, so that
    /// a line such as the smaps_rollup address header is not mistaken for a field.
    static func keyValue(_ line: Substring) -> (key: Substring, value: Substring)? {
        guard let colon = line.firstIndex(of: ":") else { return nil }
        let key = line[..<colon]
        guard !key.isEmpty, !key.contains(where: { $0 == " " || $0 == "\t" }) else { return nil }
        return (key, line[line.index(after: colon)...])
    }

    /// `N kB` (the unit of /proc/meminfo and /proc/PID/status) as a byte count; nil if malformed.
    static func kibibytes(_ value: Substring) -> ByteCount? {
        let parts = fields(value)
        guard parts.count == 2, parts[1] == "kB", let number = decimal(parts[0]) else { return nil }
        return .kibibytes(number)
    }

    /// A plain unsigned decimal (digits only, no sign); nil on garbage or overflow.
    static func decimal(_ text: Substring) -> UInt64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt64(text)
    }

    /// A signed decimal such as oom_score_adj's `-1000`; nil on garbage or overflow.
    static func signedDecimal(_ text: Substring) -> Int? {
        let digits = text.first == "-" ? text.dropFirst() : text
        guard decimal(digits) != nil else { return nil }
        return Int(text)
    }

    /// `a * b * c`, saturating at `UInt64.max` instead of trapping.
    static func saturatingProduct(_ factors: UInt64...) -> UInt64 {
        var product: UInt64 = 1
        for factor in factors {
            let (result, overflow) = product.multipliedReportingOverflow(by: factor)
            if overflow { return UInt64.max }
            product = result
        }
        return product
    }

    /// `a + b`, saturating at `UInt64.max` instead of trapping.
    static func saturatingSum(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? UInt64.max : sum
    }
}
