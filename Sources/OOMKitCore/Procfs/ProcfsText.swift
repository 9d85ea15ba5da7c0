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

/// Byte-level scanning for the hot parsers: works on the UTF-8 bytes of a file through a `Span`
/// (bounds-checked) and byte-offset ranges, so a parse builds no per-line arrays and no Substrings.
///
/// Every helper is total: ranges outside the span are clamped, numbers are overflow-checked.
/// They match the ``ProcfsText`` helpers exactly on ASCII lines. The Substring helpers compare
/// Characters, which differ from bytes only around non-ASCII text (a combining mark after `:` forms
/// one Character with it), so the parsers hand a line holding a non-ASCII byte to the Substring
/// helpers (see ``ProcfsBytes/text(_:_:)``).
enum ProcfsBytes {
    /// Calls `body` with the range of each non-empty line (without its `\n`) and whether the line is
    /// ASCII, in order, until `body` returns false.
    @inline(__always)
    static func forEachLine<E: Error>(
        _ bytes: Span<UInt8>, _ body: (_ line: Range<Int>, _ isASCII: Bool) throws(E) -> Bool
    ) throws(E) {
        var start = 0
        var high: UInt8 = 0
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            if byte == 0x0A {
                if index > start, try !body(start..<index, high < 0x80) { return }
                start = index + 1
                high = 0
            } else {
                high |= byte
            }
            index += 1
        }
        if count > start { _ = try body(start..<count, high < 0x80) }
    }

    /// Whether `byte` separates fields: space, tab or newline (as ``ProcfsText/fields(_:)``).
    @inline(__always)
    static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A
    }

    /// The next field of `range` at or after `position`, which moves past it; nil when none is left.
    @inline(__always)
    static func nextField(_ bytes: Span<UInt8>, in range: Range<Int>, from position: inout Int) -> Range<Int>? {
        let end = min(range.upperBound, bytes.count)
        var index = max(position, range.lowerBound, 0)
        while index < end, isBlank(bytes[index]) { index += 1 }
        guard index < end else {
            position = end
            return nil
        }
        let start = index
        while index < end, !isBlank(bytes[index]) { index += 1 }
        position = index
        return start..<index
    }

    /// The first field of `range`, if any.
    static func firstField(_ bytes: Span<UInt8>, in range: Range<Int>) -> Range<Int>? {
        var position = range.lowerBound
        return nextField(bytes, in: range, from: &position)
    }

    /// A plain unsigned decimal (digits only, no sign); nil if empty, on garbage or on overflow.
    @inline(__always)
    static func decimal(_ bytes: Span<UInt8>, _ range: Range<Int>) -> UInt64? {
        let end = min(range.upperBound, bytes.count)
        var index = max(range.lowerBound, 0)
        guard index < end else { return nil }
        var value: UInt64 = 0
        while index < end {
            let digit = bytes[index] &- 0x30
            guard digit < 10 else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            index += 1
        }
        return value
    }

    /// `N kB` (exactly two fields) as a byte count; nil if malformed.
    static func kibibytes(_ bytes: Span<UInt8>, _ range: Range<Int>) -> ByteCount? {
        var position = range.lowerBound
        guard let number = nextField(bytes, in: range, from: &position),
            let unit = nextField(bytes, in: range, from: &position),
            nextField(bytes, in: range, from: &position) == nil,
            equals(bytes, unit, "kB"), let value = decimal(bytes, number)
        else { return nil }
        return .kibibytes(value)
    }

    /// Splits an ASCII `Key:   value` line at its first colon, as ``ProcfsText/keyValue(_:)``.
    @inline(__always)
    static func keyValue(_ bytes: Span<UInt8>, _ line: Range<Int>) -> (key: Range<Int>, value: Range<Int>)? {
        let end = min(line.upperBound, bytes.count)
        let start = max(line.lowerBound, 0)
        var index = start
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: ":") {
                guard index > start else { return nil }
                return (start..<index, index + 1..<end)
            }
            if byte == 0x20 || byte == 0x09 { return nil }
            index += 1
        }
        return nil
    }

    /// Whether the bytes of `range` are exactly `literal`.
    @inline(__always)
    static func equals(_ bytes: Span<UInt8>, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        return hasPrefix(bytes, range, literal)
    }

    /// Whether the bytes of `range` start with `literal`.
    @inline(__always)
    static func hasPrefix(_ bytes: Span<UInt8>, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard range.lowerBound >= 0, range.count >= length, range.lowerBound + length <= bytes.count else {
            return false
        }
        return literal.withUTF8Buffer { expected in
            var offset = 0
            while offset < length {
                guard bytes[range.lowerBound + offset] == expected[offset] else { return false }
                offset += 1
            }
            return true
        }
    }

    /// Whether two ranges hold the same bytes.
    static func equal(_ bytes: Span<UInt8>, _ a: Range<Int>, _ b: Range<Int>) -> Bool {
        guard a.count == b.count else { return false }
        guard a.lowerBound >= 0, b.lowerBound >= 0, a.upperBound <= bytes.count, b.upperBound <= bytes.count else {
            return false
        }
        var offset = 0
        while offset < a.count {
            guard bytes[a.lowerBound + offset] == bytes[b.lowerBound + offset] else { return false }
            offset += 1
        }
        return true
    }

    /// The index of the first `byte` in `range`, if any.
    static func firstIndex(of byte: UInt8, _ bytes: Span<UInt8>, in range: Range<Int>) -> Int? {
        let end = min(range.upperBound, bytes.count)
        var index = max(range.lowerBound, 0)
        while index < end {
            if bytes[index] == byte { return index }
            index += 1
        }
        return nil
    }

    /// FNV-1a over the bytes of `range`: cheap, for tables keyed by byte ranges.
    static func hash(_ bytes: Span<UInt8>, _ range: Range<Int>) -> UInt64 {
        let end = min(range.upperBound, bytes.count)
        var index = max(range.lowerBound, 0)
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        while index < end {
            hash = (hash ^ UInt64(bytes[index])) &* 0x0000_0100_0000_01B3
            index += 1
        }
        return hash
    }

    /// The bytes of `range` as text (invalid UTF-8 repaired), or "" if the range is out of bounds.
    static func text(_ bytes: Span<UInt8>, _ range: Range<Int>) -> String {
        guard range.lowerBound >= 0, range.upperBound <= bytes.count else { return "" }
        return bytes.extracting(range).withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) }
    }
}
