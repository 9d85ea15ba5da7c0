import Testing

@testable import OOMKit

@Suite struct ByteCountTests {
    @Test(arguments: [
        ("65536", UInt64(65536)), ("64K", 65536), ("64KiB", 65536), ("64kb", 65536), ("64k", 65536),
        ("1.5G", 1_610_612_736), ("2T", 2_199_023_255_552), ("0", 0), (" 12M\n", 12_582_912),
        ("0.5K", 512), ("1E", 1 << 60), ("100B", 100),
    ])
    func parsesSizes(text: String, bytes: UInt64) throws {
        #expect(try ByteCount(parsing: text).bytes == bytes)
    }

    @Test func maxAndKernelUnlimitedAreUnlimited() throws {
        #expect(try ByteCount(parsing: "max").isUnlimited)
        #expect(try ByteCount(parsing: "9223372036854771712").isUnlimited)
        #expect(try ByteCount(parsing: "9223372036854775807").isUnlimited)
    }

    @Test(arguments: ["", "abc", "-1", "1.2.3", "12Q", "1KiBB", "18446744073709551616", "16E", ".", "1.", "iB", "K"])
    func rejectsGarbage(text: String) {
        #expect(throws: ParseError.self) { try ByteCount(parsing: text) }
    }

    @Test(arguments: [
        (UInt64(0), "0"), (512, "512"), (65536, "64K"), (1_610_612_736, "1.5G"), (UInt64.max, "max"),
        (419_426_304, "400M"), (1_073_741_825, "1.0G"),
        // Just under a unit (1023.999K): 1.0M, not 1024K, which would read back as 1M (found by the fuzzer:
        // ".9999995M" printed "1024K").
        (1_048_575, "1.0M"), (1_073_741_823, "1.0G"),
    ])
    func printsCompactly(bytes: UInt64, text: String) {
        #expect(ByteCount(bytes).description == text)
    }

    @Test func printedFormParsesBack() throws {
        for bytes: UInt64 in [1, 1023, 1024, 1536, 64 << 20, 3 << 30, 5 << 40] {
            let text = ByteCount(bytes).description
            let reparsed = try ByteCount(parsing: text).bytes
            // Printing keeps one decimal, so the round trip is exact to within 5%.
            #expect(abs(Double(reparsed) - Double(bytes)) <= Double(bytes) * 0.05, "\(bytes) -> \(text)")
        }
    }
}

@Suite struct DurationParsingTests {
    @Test(arguments: [
        ("250ms", Int64(250_000_000)), ("2s", 2_000_000_000), ("1.5s", 1_500_000_000), ("1m", 60_000_000_000),
        ("1h", 3_600_000_000_000), ("100us", 100_000), ("0", 0), ("0.0", 0), ("0ms", 0),
    ])
    func parsesDurations(text: String, nanoseconds: Int64) throws {
        #expect(try Duration(parsing: text).totalNanoseconds == nanoseconds)
    }

    @Test(arguments: ["", "s", "1x", "-1s", "1.2.3s", "ms", "1.0000000001s", "99999999999999999h"])
    func rejectsGarbage(text: String) {
        #expect(throws: ParseError.self) { try Duration(parsing: text) }
    }

    /// Every duration has a unit: `1.5` could be seconds or milliseconds. Only zero may go without.
    @Test(arguments: ["1.5", "3", "1", "0.5", ".5", "250"])
    func refusesANumberWithoutAUnit(text: String) {
        #expect(throws: ParseError.self) { try Duration(parsing: text) }
        do {
            _ = try Duration(parsing: text)
        } catch {
            #expect(error.reason.contains("only 0 may go without"), "\(error)")
        }
    }

    /// The same rule inside a PSI trigger, which takes two durations.
    @Test func aPressureTriggerNeedsUnitsToo() throws {
        #expect(throws: ParseError.self) { try PressureTrigger(parsing: "some 150 1") }
        #expect(try PressureTrigger(parsing: "some 150ms 1s").stall == .milliseconds(150))
    }

    @Test(arguments: [
        (Int64(0), "0s"), (250_000_000, "250ms"), (1_500_000_000, "1.5s"), (120_000_000_000, "2m"),
        (3_600_000_000_000, "1h"), (120_000, "120us"),
    ])
    func printsCompactly(nanoseconds: Int64, text: String) {
        #expect(Duration.nanoseconds(nanoseconds).compactDescription == text)
    }

    /// The limit on a duration is what fits in nanoseconds, whatever the unit: 10 s written in
    /// microseconds, or 10 ms in nanoseconds, is not "too long".
    @Test(arguments: [
        ("10000000us", Int64(10_000_000_000)), ("10000000ns", 10_000_000),
        ("9223372036s", 9_223_372_036_000_000_000),
    ])
    func aLargeNumberOfASmallUnitParses(text: String, nanoseconds: Int64) throws {
        #expect(try Duration(parsing: text).totalNanoseconds == nanoseconds)
    }

    /// Found by the duration fuzz target's invariant: 200000.5m printed as "12000030s", which the
    /// parser refused as too long because its number was large.
    @Test func theCompactTextOfALongDurationParsesBack() throws {
        let duration = try Duration(parsing: "200000.5m")
        #expect(duration.compactDescription == "12000030s")
        #expect(try Duration(parsing: duration.compactDescription) == duration)
        #expect(throws: ParseError.self) { try Duration(parsing: "9223372037s") }
    }
}
