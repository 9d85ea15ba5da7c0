/// One sample of the Prometheus text exposition format: `name{label="value",…} value`.
public struct ExpositionSample: Hashable, Sendable {
    public var name: String
    public var labels: [String: String]
    public var value: Double
}

/// A malformed line of an exposition.
public struct ExpositionParseError: Error, CustomStringConvertible {
    public var line: String
    public var reason: String
    public var description: String { "\(reason): \(line)" }
}

/// A small parser of the text exposition format (0.0.4), for tests that assert what a metrics file says:
/// every line is a comment (`#`), empty, or a sample; anything else is an error, and so is a text that
/// does not end with a line feed (a partly written file).
public enum ExpositionText {
    public static func parse(_ text: String) throws(ExpositionParseError) -> [ExpositionSample] {
        guard text.isEmpty || text.hasSuffix("\n") else {
            throw ExpositionParseError(line: String(text.suffix(80)), reason: "no line feed at the end")
        }
        var samples: [ExpositionSample] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) where !line.hasPrefix("#") {
            samples.append(try sample(Array(line.unicodeScalars), line: String(line)))
        }
        return samples
    }

    private static func sample(
        _ scalars: [Unicode.Scalar], line: String
    ) throws(ExpositionParseError)
        -> ExpositionSample
    {
        var index = 0
        func fail(_ reason: String) -> ExpositionParseError { ExpositionParseError(line: line, reason: reason) }
        var name = ""
        while index < scalars.count, scalars[index] != "{", scalars[index] != " " {
            name.unicodeScalars.append(scalars[index])
            index += 1
        }
        guard !name.isEmpty else { throw fail("no metric name") }
        var labels: [String: String] = [:]
        if index < scalars.count, scalars[index] == "{" {
            index += 1
            while index < scalars.count, scalars[index] != "}" {
                var key = ""
                while index < scalars.count, scalars[index] != "=" {
                    key.unicodeScalars.append(scalars[index])
                    index += 1
                }
                guard index + 1 < scalars.count, scalars[index + 1] == "\"" else { throw fail("no label value") }
                index += 2
                var value = ""
                while index < scalars.count, scalars[index] != "\"" {
                    if scalars[index] == "\\", index + 1 < scalars.count {
                        index += 1
                        value.unicodeScalars.append(scalars[index] == "n" ? "\n" : scalars[index])
                    } else {
                        value.unicodeScalars.append(scalars[index])
                    }
                    index += 1
                }
                guard index < scalars.count else { throw fail("unterminated label value") }
                index += 1
                labels[key] = value
                if index < scalars.count, scalars[index] == "," { index += 1 }
            }
            guard index < scalars.count else { throw fail("unterminated labels") }
            index += 1
        }
        guard index < scalars.count, scalars[index] == " " else { throw fail("no value") }
        var rest = String(String.UnicodeScalarView(scalars[(index + 1)...]))
        if let space = rest.firstIndex(of: " ") { rest = String(rest[..<space]) }  // a timestamp follows
        let value: Double? =
            switch rest {
            case "+Inf": .infinity
            case "-Inf": -.infinity
            default: Double(rest)
            }
        guard let value else { throw fail("value is not a number") }
        return ExpositionSample(name: name, labels: labels, value: value)
    }
}

extension Array where Element == ExpositionSample {
    /// The value of the series `name` whose labels are exactly `labels`; nil when there is none.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        first { $0.name == name && $0.labels == labels }?.value
    }

    /// The sum over every series of `name` that has (at least) `labels`.
    public func sum(_ name: String, where labels: [String: String] = [:]) -> Double {
        filter { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }
            .reduce(0) { $0 + $1.value }
    }
}
