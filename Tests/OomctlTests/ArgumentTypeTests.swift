import ArgumentParser
import Glibc
import OOMKit
import Testing

@testable import OomctlCommands

/// The command-line value types: each reuses OOMKit's parser and says why a value is refused.
@Suite struct ArgumentTypeTests {
    @Test func durationsAndSizesParseAndPrintBack() throws {
        #expect(try Duration.parse("1000ms") == .seconds(1))
        #expect(Duration.seconds(1).defaultValueDescription == "1s")
        #expect(Duration(argument: "soon") == nil)
        #expect(throws: ArgumentValueError.self) { try Duration.parsePositive("0") }
        #expect(try ByteCount.parse("64M") == ByteCount(64 << 20))
        #expect(ByteCount(64 << 20).defaultValueDescription == "64M")
        #expect(throws: ArgumentValueError.self) { try ByteCount.parseFinite("max") }
        #expect(try ReserveSize.parseAmount("16M") == ByteCount(16 << 20))
        #expect(throws: ArgumentValueError.self) { try ReserveSize.parseAmount("10%") }
    }

    @Test func aRefusalGivesTheReasonWithoutRepeatingTheValue() {
        do {
            _ = try Duration.parse("soon")
            Issue.record("'soon' parsed")
        } catch {
            #expect(error.description.hasPrefix("expected a number with a unit"), "\(error)")
        }
    }

    @Test func eventListsKeepTheirOrderWithoutRepetitions() throws {
        #expect(try EventKindList.parse("high,oom-kill,high").kinds == [.high, .oomKill])
        #expect(throws: ArgumentValueError.self) { try EventKindList.parse("removed") }
        #expect(throws: ArgumentValueError.self) { try EventKindList.parse("") }
        #expect(!EventKindList.selectable.contains(.removed))
    }

    @Test func killChoicesListNoneAndEveryPolicy() {
        #expect(KillChoice.allValueStrings == ["none"] + PolicyName.allCases.map(\.rawValue))
        #expect(KillChoice(argument: "none") == KillChoice.none)
        #expect(KillChoice(argument: "oom-score")?.policy == .oomScore)
        #expect(KillChoice(argument: "bogus") == nil)
        #expect(LogMode.allValueStrings == ["journal", "console", "json"])
    }

    @Test func signalsByNameAndNumber() throws {
        #expect(try SignalArgument.parse("SIGHUP").number == SIGHUP)
        #expect(try SignalArgument.parse("hup").number == SIGHUP)
        #expect(try SignalArgument.parse("34").number == 34)
        #expect(try SignalArgument.parse("15").description == "TERM")
        #expect(throws: ArgumentValueError.self) { try SignalArgument.parse("0") }
        #expect(throws: ArgumentValueError.self) { try SignalArgument.parse("SIGNOPE") }
    }

    @Test func thresholdPairsAndPriorities() throws {
        let pair = try ThresholdPair.parse("10%,512M")
        #expect(pair.warn == MemoryThreshold(.percent(10)) && pair.act == MemoryThreshold(.size(ByteCount(512 << 20))))
        #expect(pair.description == "10%,512M")
        #expect(try PriorityAssignment.parse("/a=b=-3") == PriorityAssignment(cgroup: "/a=b", priority: -3))
        #expect(throws: ArgumentValueError.self) { try PriorityAssignment.parse("/a=") }
    }
}
