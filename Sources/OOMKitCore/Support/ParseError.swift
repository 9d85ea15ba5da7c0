/// A value or file that does not parse. Parsers in OOMKit are total: they return a value or throw
/// this, never crash, whatever bytes they are given.
public struct ParseError: OOMKitError, Hashable {
    /// What was being parsed, e.g. `size`, `memory.events` or `/proc/meminfo`.
    public var subject: String
    /// The offending input (shortened when long).
    public var input: String
    /// Why it was rejected, phrased so the user knows what to change.
    public var reason: String

    public init(_ subject: String, input: some StringProtocol, reason: String) {
        self.subject = subject
        let text = String(input)
        self.input = text.count > 80 ? String(text.prefix(77)) + "..." : text
        self.reason = reason
    }

    public var kind: FailureKind { .badData }

    public var description: String { "invalid \(subject) '\(input)': \(reason)" }
}
