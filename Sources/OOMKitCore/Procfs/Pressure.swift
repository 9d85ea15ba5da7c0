/// Pressure stall information (PSI) for one resource: /proc/pressure/memory, or a cgroup's
/// memory.pressure. See the kernel's Documentation/accounting/psi.rst.
public struct Pressure: Sendable, Hashable, Codable {
    /// One line of a PSI file: the share of time some (or all) tasks stalled.
    public struct Line: Sendable, Hashable, Codable {
        /// Percent of wall time stalled, averaged over 10, 60 and 300 seconds.
        public var avg10: Double
        public var avg60: Double
        public var avg300: Double
        /// Total stall time in microseconds since boot (or cgroup creation).
        public var totalMicroseconds: UInt64

        public init(avg10: Double, avg60: Double, avg300: Double, totalMicroseconds: UInt64) {
            self.avg10 = avg10
            self.avg60 = avg60
            self.avg300 = avg300
            self.totalMicroseconds = totalMicroseconds
        }
    }

    /// At least one task stalled on memory.
    public var some: Line
    /// All non-idle tasks stalled at once (absent on some kernels for the CPU resource).
    public var full: Line?

    public init(some: Line, full: Line?) {
        self.some = some
        self.full = full
    }

    /// Parses the text of a PSI file.
    public init(parsing text: String) throws(ParseError) {
        var some: Line?
        var full: Line?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let kind = fields.first else { continue }
            var values: [Substring: Substring] = [:]
            for field in fields.dropFirst() {
                guard let equals = field.firstIndex(of: "=") else {
                    throw ParseError("pressure file", input: line, reason: "expected key=value fields")
                }
                values[field[..<equals]] = field[field.index(after: equals)...]
            }
            guard let avg10 = values["avg10"].flatMap({ Double($0) }),
                let avg60 = values["avg60"].flatMap({ Double($0) }),
                let avg300 = values["avg300"].flatMap({ Double($0) }),
                let total = values["total"].flatMap({ UInt64($0) })
            else {
                throw ParseError("pressure file", input: line, reason: "expected avg10, avg60, avg300 and total")
            }
            let parsed = Line(avg10: avg10, avg60: avg60, avg300: avg300, totalMicroseconds: total)
            switch kind {
            case "some": some = parsed
            case "full": full = parsed
            default: continue
            }
        }
        guard let some else {
            throw ParseError("pressure file", input: text, reason: "no 'some' line")
        }
        self.init(some: some, full: full)
    }
}
