import ArgumentParser
import Glibc
import OOMKit

// Command-line value types: every option value is parsed once, by OOMKit's own parser, when the
// command line is read. ArgumentParser then names the option in any refusal, and `validate()` and
// `run()` work on values, never on text.
//
// Value types with a reason to give (a duration, a size, a trigger) conform to ``ParsedArgument``
// and are declared with `transform: T.parse`, so that the refusal says why:
// `The value 'soon' is invalid for '--delay <DURATION>': expected a number with a unit: …`.
// (`init?(argument:)` alone can only say "invalid".) Closed sets of words (policies, log targets)
// are `CaseIterable` enums, so the help lists them and a refusal lists what is allowed.

/// Why a command-line value was refused. Only the reason: ArgumentParser already prints the value and
/// the option it was given to.
struct ArgumentValueError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }

    /// The reason of an OOMKit parse error, without its repetition of the value.
    init(_ error: ParseError) { self.description = error.reason }
}

/// A value read from one command-line word by an OOMKit parser. Its `init?(argument:)` (for
/// ArgumentParser's defaults and arrays) is `parse` without the reason.
protocol ParsedArgument: ExpressibleByArgument {
    /// The value `text` stands for, or why there is none.
    static func parse(_ text: String) throws(ArgumentValueError) -> Self
}

// MARK: Durations and sizes

extension Duration: @retroactive ExpressibleByArgument, ParsedArgument {
    /// `250ms`, `2s`, `1.5s`, `1m`, `100us`: always with a unit (only `0` goes without).
    static func parse(_ text: String) throws(ArgumentValueError) -> Duration {
        do { return try Duration(parsing: text) } catch { throw ArgumentValueError(error) }
    }

    public init?(argument: String) {
        guard let value = try? Self.parse(argument) else { return nil }
        self = value
    }

    public var defaultValueDescription: String { compactDescription }

    /// A duration above zero.
    static func parsePositive(_ text: String) throws(ArgumentValueError) -> Duration {
        let duration = try parse(text)
        guard duration > .zero else { throw ArgumentValueError("must be above zero") }
        return duration
    }
}

/// A share of something, given as a percentage above 0% and at most 100% (`95%`, `40`, `12.5%`).
struct Share: ParsedArgument, Hashable, CustomStringConvertible {
    /// The share as a fraction (0.95 for 95%).
    var fraction: Double

    static func parse(_ text: String) throws(ArgumentValueError) -> Share {
        let number = text.hasSuffix("%") ? String(text.dropLast()) : text
        guard let percent = Double(number), percent.isFinite else {
            throw ArgumentValueError("give a percentage, e.g. 40%")
        }
        guard percent > 0 && percent <= 100 else { throw ArgumentValueError("a percentage above 0% and at most 100%") }
        return Share(fraction: percent / 100)
    }

    init(fraction: Double) { self.fraction = fraction }

    init?(argument: String) {
        guard let value = try? Self.parse(argument) else { return nil }
        self = value
    }

    var description: String {
        let percent = fraction * 100
        return percent == percent.rounded() ? "\(Int(percent))%" : "\(percent)%"
    }
}

extension ByteCount: ExpressibleByArgument, ParsedArgument {
    /// `65536`, `64K`, `1.5G`, `max`.
    static func parse(_ text: String) throws(ArgumentValueError) -> ByteCount {
        do { return try ByteCount(parsing: text) } catch { throw ArgumentValueError(error) }
    }

    public init?(argument: String) {
        guard let value = try? Self.parse(argument) else { return nil }
        self = value
    }

    public var defaultValueDescription: String { description }

    /// A finite size above zero (`max` and `0` are refused).
    static func parseFinite(_ text: String) throws(ArgumentValueError) -> ByteCount {
        let size = try parse(text)
        guard !size.isUnlimited, size.bytes > 0 else {
            throw ArgumentValueError("needs a finite size above zero, such as 64M")
        }
        return size
    }
}

extension ReserveSize: ExpressibleByArgument, ParsedArgument {
    /// `64M`, `1.5G` or a percentage of the limit, `25%`.
    static func parse(_ text: String) throws(ArgumentValueError) -> ReserveSize {
        do {
            return try ReserveSize(parsing: text)
        } catch {
            guard case .invalidSize(_, let reason) = error else { throw ArgumentValueError(error.description) }
            throw ArgumentValueError(reason)
        }
    }

    public init?(argument: String) {
        guard let value = try? Self.parse(argument) else { return nil }
        self = value
    }

    public var defaultValueDescription: String { description }

    /// An amount only (`16M`), not a percentage: for what has no limit to take a share of.
    static func parseAmount(_ text: String) throws(ArgumentValueError) -> ByteCount {
        guard case .bytes(let size) = try parse(text) else {
            throw ArgumentValueError("takes an amount such as 16M, not a percentage")
        }
        return size
    }
}

// MARK: Events and pressure

extension PressureTrigger: ExpressibleByArgument, ParsedArgument {
    /// `some 150ms 1s` or `full 100ms 2s`.
    static func parse(_ text: String) throws(ArgumentValueError) -> PressureTrigger {
        do { return try PressureTrigger(parsing: text) } catch { throw ArgumentValueError(error) }
    }

    public init?(argument: String) {
        guard let value = try? Self.parse(argument) else { return nil }
        self = value
    }

    public var defaultValueDescription: String { description }
}

/// The event kinds of `--on`, a comma-separated list such as `oom-kill,high`.
struct EventKindList: ParsedArgument, Hashable, CustomStringConvertible {
    /// The kinds a user may ask for (`removed` is reported, never asked for).
    static let selectable = OOMEvent.Kind.allCases.filter { $0 != .removed }

    /// The kinds, in the order given, without repetitions.
    var kinds: [OOMEvent.Kind]

    static func parse(_ text: String) throws(ArgumentValueError) -> EventKindList {
        let names = selectable.map(\.rawValue).joined(separator: ", ")
        var kinds: [OOMEvent.Kind] = []
        for name in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let kind = OOMEvent.Kind(rawValue: String(name)), kind != .removed else {
                throw ArgumentValueError(
                    name.isEmpty
                        ? "an empty event name; give a comma-separated list of \(names)"
                        : "unknown event '\(name)'; use a comma-separated list of \(names)")
            }
            if !kinds.contains(kind) { kinds.append(kind) }
        }
        return EventKindList(kinds: kinds)
    }

    static var defaultCompletionKind: CompletionKind { .list(selectable.map(\.rawValue)) }

    var description: String { kinds.map(\.rawValue).joined(separator: ",") }
}

// MARK: System thresholds

/// A `watch --system` threshold: `5%` or `512M` (act only), or `10%,5%` (warn, then act).
struct ThresholdPair: ParsedArgument, Hashable, CustomStringConvertible {
    var warn: MemoryThreshold?
    var act: MemoryThreshold

    static func parse(_ text: String) throws(ArgumentValueError) -> ThresholdPair {
        do {
            let pair = try SystemMemoryThresholds.parsePair(text)
            return ThresholdPair(warn: pair.warn, act: pair.act)
        } catch {
            throw ArgumentValueError(error)
        }
    }

    var description: String { warn.map { "\($0),\(act)" } ?? act.description }
}

// MARK: Policies

extension PolicyName: ExpressibleByArgument {}

extension PanicMode: ExpressibleByArgument {}

/// What `--kill` asks for: a policy's victim, or `none` (hooks only; the kernel handles the rest).
enum KillChoice: RawRepresentable, CaseIterable, ExpressibleByArgument, Hashable {
    case none
    case policy(PolicyName)

    static var allCases: [KillChoice] { [.none] + PolicyName.allCases.map { .policy($0) } }

    init?(rawValue: String) {
        if rawValue == "none" {
            self = .none
        } else if let policy = PolicyName(rawValue: rawValue) {
            self = .policy(policy)
        } else {
            return nil
        }
    }

    var rawValue: String {
        switch self {
        case .none: "none"
        case .policy(let policy): policy.rawValue
        }
    }

    /// The policy, nil for `none`.
    var policy: PolicyName? {
        if case .policy(let policy) = self { return policy }
        return nil
    }
}

// MARK: Logging

extension LogMode: ExpressibleByArgument {}

extension HandlingOptions.Hold: ExpressibleByArgument {}

// MARK: Signals

/// A signal as kill(1) takes it: a name with or without `SIG` in any case (`TERM`, `sigterm`) or a
/// number (`15`).
struct SignalArgument: ParsedArgument, Hashable, CustomStringConvertible {
    /// The signal's number.
    var number: Int32

    static let kill = SignalArgument(number: SIGKILL)

    /// The standard signals by name; real-time ones are taken by number.
    static let names: [(name: String, number: Int32)] = [
        ("HUP", SIGHUP), ("INT", SIGINT), ("QUIT", SIGQUIT), ("ILL", SIGILL), ("TRAP", SIGTRAP), ("ABRT", SIGABRT),
        ("IOT", SIGABRT), ("BUS", SIGBUS), ("FPE", SIGFPE), ("KILL", SIGKILL), ("USR1", SIGUSR1), ("SEGV", SIGSEGV),
        ("USR2", SIGUSR2), ("PIPE", SIGPIPE), ("ALRM", SIGALRM), ("TERM", SIGTERM), ("STKFLT", SIGSTKFLT),
        ("CHLD", SIGCHLD), ("CONT", SIGCONT), ("STOP", SIGSTOP), ("TSTP", SIGTSTP), ("TTIN", SIGTTIN),
        ("TTOU", SIGTTOU), ("URG", SIGURG), ("XCPU", SIGXCPU), ("XFSZ", SIGXFSZ), ("VTALRM", SIGVTALRM),
        ("PROF", SIGPROF), ("WINCH", SIGWINCH), ("IO", SIGIO), ("POLL", SIGPOLL), ("PWR", SIGPWR), ("SYS", SIGSYS),
    ]

    static func parse(_ text: String) throws(ArgumentValueError) -> SignalArgument {
        if let number = Int32(text) {
            guard (1...64).contains(number) else {
                throw ArgumentValueError("a signal number is 1 to 64, not \(number)")
            }
            return SignalArgument(number: number)
        }
        let upper = text.uppercased()
        let name = upper.hasPrefix("SIG") ? String(upper.dropFirst(3)) : upper
        guard let entry = names.first(where: { $0.name == name }) else {
            throw ArgumentValueError(
                "unknown signal '\(text)'; use a name such as TERM, INT, HUP or KILL (SIG prefix optional), or a number"
            )
        }
        return SignalArgument(number: entry.number)
    }

    /// Completion offers the names, without the aliases (IOT, POLL).
    static var defaultCompletionKind: CompletionKind {
        .list(names.map(\.name).filter { $0 != "IOT" && $0 != "POLL" })
    }

    /// The signal's name without `SIG` (`TERM`), else its number.
    var description: String { Self.names.first { $0.number == number }?.name ?? String(number) }
}

// MARK: Priorities

/// `--priority CGROUP=N`: the priority of a cgroup that has no priority attribute of its own.
struct PriorityAssignment: ParsedArgument, Hashable, CustomStringConvertible {
    /// The cgroup as given (resolved later, on the live system or in a snapshot).
    var cgroup: String
    var priority: Int

    static func parse(_ text: String) throws(ArgumentValueError) -> PriorityAssignment {
        guard let equals = text.lastIndex(of: "="), equals != text.startIndex,
            let priority = Int(text[text.index(after: equals)...])
        else { throw ArgumentValueError("takes CGROUP=N with an integer N, e.g. /batch.slice=-10") }
        return PriorityAssignment(cgroup: String(text[..<equals]), priority: priority)
    }

    var description: String { "\(cgroup)=\(priority)" }
}

// `init?(argument:)` in extensions, so that the memberwise initializers stay.
extension EventKindList {
    init?(argument: String) {
        guard let value = try? Self.parse(argument) else { return nil }
        self = value
    }
}

extension ThresholdPair {
    init?(argument: String) {
        guard let value = try? Self.parse(argument) else { return nil }
        self = value
    }
}

extension SignalArgument {
    init?(argument: String) {
        guard let value = try? Self.parse(argument) else { return nil }
        self = value
    }
}

extension PriorityAssignment {
    init?(argument: String) {
        guard let value = try? Self.parse(argument) else { return nil }
        self = value
    }
}
