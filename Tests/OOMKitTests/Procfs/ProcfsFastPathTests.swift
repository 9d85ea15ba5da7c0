import Testing

@testable import OOMKit
@testable import OOMKitCore

/// The byte-scanning helpers: total on any input, and the same answers as the Substring helpers.
@Suite struct ProcfsBytesTests {
    @Test func linesSkipEmptyOnesAndFlagNonASCII() {
        var seen: [(String, Bool)] = []
        let text = "a b\n\n\ncé\nlast"
        ProcfsBytes.forEachLine(text.utf8.span) { line, isASCII in
            seen.append((ProcfsBytes.text(text.utf8.span, line), isASCII))
            return true
        }
        #expect(seen.map(\.0) == ["a b", "cé", "last"])
        #expect(seen.map(\.1) == [true, false, true])
        var count = 0
        ProcfsBytes.forEachLine("x\ny\nz\n".utf8.span) { _, _ in
            count += 1
            return count < 2
        }
        #expect(count == 2)
        ProcfsBytes.forEachLine("".utf8.span) { _, _ in
            Issue.record("no line expected")
            return true
        }
    }

    @Test func fieldsMatchTheSubstringHelper() {
        for text in ["", " ", "a", "  a\tbb  c \n", "x y", "\t\t", "kB 12 kB"] {
            let bytes = text.utf8.span
            var fields: [String] = []
            var position = 0
            while let field = ProcfsBytes.nextField(bytes, in: 0..<bytes.count, from: &position) {
                fields.append(ProcfsBytes.text(bytes, field))
            }
            #expect(fields == ProcfsText.fields(Substring(text)).map(String.init), "\(text)")
        }
    }

    @Test(arguments: [
        "", "0", "007", "18446744073709551615", "18446744073709551616", "99999999999999999999999", "-1", "+1", "1 ",
        "12a", "١",
    ])
    func decimalMatchesTheSubstringHelper(text: String) {
        let bytes = text.utf8.span
        #expect(ProcfsBytes.decimal(bytes, 0..<bytes.count) == ProcfsText.decimal(Substring(text)))
    }

    @Test(arguments: ["12 kB", " 12\tkB ", "12 kb", "12", "kB", "12 kB x", "18446744073709551615 kB", "1 1 kB", ""])
    func kibibytesMatchTheSubstringHelper(text: String) {
        let bytes = text.utf8.span
        #expect(ProcfsBytes.kibibytes(bytes, 0..<bytes.count) == ProcfsText.kibibytes(Substring(text)))
    }

    @Test(arguments: ["Name:\tx", "Key:", ":x", "a b: c", "a\tb:c", "nocolon", "k:v:w", "Rss: 5 kB"])
    func keyValueMatchesTheSubstringHelper(text: String) {
        let bytes = text.utf8.span
        let fast = ProcfsBytes.keyValue(bytes, 0..<bytes.count).map {
            [ProcfsBytes.text(bytes, $0.key), ProcfsBytes.text(bytes, $0.value)]
        }
        let slow = ProcfsText.keyValue(Substring(text)).map { [String($0.key), String($0.value)] }
        #expect(fast == slow)
    }

    @Test func outOfBoundsRangesAreHarmless() {
        let bytes = "abc".utf8.span
        var position = -5
        #expect(ProcfsBytes.nextField(bytes, in: -3..<99, from: &position) == 0..<3)
        #expect(ProcfsBytes.decimal(bytes, 2..<99) == nil)
        #expect(ProcfsBytes.decimal(bytes, 7..<9) == nil)
        #expect(ProcfsBytes.keyValue(bytes, 5..<9) == nil)
        let checks = [
            ProcfsBytes.hasPrefix(bytes, 2..<9, "cde"), ProcfsBytes.equals(bytes, 4..<6, "ab"),
            ProcfsBytes.equal(bytes, 0..<2, 2..<4), ProcfsBytes.equals(bytes, 0..<3, "abc"),
            ProcfsBytes.hasPrefix(bytes, 0..<3, "ab"),
        ]
        #expect(checks == [false, false, false, true, true])
        #expect(ProcfsBytes.firstIndex(of: UInt8(ascii: "c"), bytes, in: 1..<99) == 2)
        #expect(ProcfsBytes.text(bytes, 1..<9) == "")
        #expect(ProcfsBytes.hash(bytes, 0..<1) == ProcfsBytes.hash("a".utf8.span, 0..<1))
    }
}

/// The byte-level parsers against the parsers they replaced (``LegacyProcfs``): on every captured
/// sample and on the fuzz suite's mutations of them, the same value or the same error.
@Suite struct ProcfsEquivalenceTests {
    /// The result of a parse, comparable: the value, or the error.
    enum Outcome<T: Equatable>: Equatable {
        case value(T)
        case error(ParseError)

        init(_ parse: () throws(ParseError) -> T) {
            do { self = .value(try parse()) } catch { self = .error(error) }
        }
    }

    /// The sample, its fuzz mutations (seeded as in ProcfsFuzzTests) and some non-ASCII variants.
    static func inputs(_ sample: String, iterations: Int = 2000) throws -> [[UInt8]] {
        let original = Array(try ProcfsFixtures.text(sample).utf8)
        var random = XorShift(seed: 0x5EED ^ UInt64(sample.utf8.count))
        var inputs = [original]
        for _ in 0..<iterations { inputs.append(ProcfsFuzzTests.mutate(original, using: &random)) }
        // Characters that fuse with the syntax: a combining mark after ':' or ' ', a prepended mark.
        for odd in ["\u{301}", " \u{301}", "\u{600}", "\u{200D}", "é", "K"] {
            for position in stride(from: 0, to: original.count, by: max(1, original.count / 40)) {
                var bytes = original
                bytes.insert(contentsOf: Array(odd.utf8), at: position)
                inputs.append(bytes)
            }
        }
        return inputs
    }

    @Test(arguments: ["5019/status", "2/status"])
    func status(sample: String) throws {
        var sampled = 0
        for bytes in try Self.inputs(sample) {
            let text = String(decoding: bytes, as: UTF8.self)
            let legacy = Outcome { () throws(ParseError) in try LegacyProcfs.status(text) }
            #expect(Outcome { () throws(ParseError) in try ProcessStatus(parsing: text) } == legacy, "\(text)")
            // The fast sample path: the same figures whenever the full parse succeeds, and an error only
            // when the full parse fails too (it skips the fields it does not use).
            let fast = Outcome { () throws(ParseError) in try ProcessStatus.sample(parsing: bytes) }
            switch (legacy, fast) {
            case (.value(let status), .value(let sample)):
                #expect(sample == ProcessSample(status: status), "\(text)")
                sampled += 1
            case (.value, .error(let error)):
                Issue.record("sample() rejected what ProcessStatus parses: \(error) in \(text)")
            case (.error, _):
                break
            }
        }
        #expect(sampled > 100)
    }

    @Test func statusNonASCIIEdges() throws {
        for text in [
            "Name:\u{301}x\nPid:\t1\n", "Name: \u{301}x\nPid:\t1\n", "Name:\t\u{301}x\nPid:\t1\n",
            "Name:\tcafé\nPid:\t1\n",
            "Na\u{600}:me:\tx\nPid:\t1\n", "Name:\tx\nPid:\u{301}1\n", "Name:\tx\nPid:\t1 é\nVmRSS:\t5 kB\n",
            "Name:\tx\nPid:\t1\nVmRSS:\u{301}5 kB\n", "Name:\tx\nPid:\t1\nVmRSS:\t5 kB\u{301}\n",
            "Name:\tx\nP id:\u{301}\n",
            "Name \u{301}:\tx\nPid:\t1\n", "Name:\tx\nPid:\t1\nState:\té (x)\n", "Name:\t\u{FFFD}\nPid:\t2\n",
        ] {
            let legacy = Outcome { () throws(ParseError) in try LegacyProcfs.status(text) }
            #expect(Outcome { () throws(ParseError) in try ProcessStatus(parsing: text) } == legacy, "\(text)")
            let fast = Outcome { () throws(ParseError) in try ProcessStatus.sample(parsing: Array(text.utf8)) }
            if case .value(let status) = legacy { #expect(fast == .value(ProcessSample(status: status)), "\(text)") }
        }
        // Invalid UTF-8 in the name is repaired as the String path repairs it.
        let invalid: [UInt8] = Array("Name:\t".utf8) + [0xFF, 0xC3] + Array("x\nPid:\t3\nVmRSS:\t4 kB\n".utf8)
        #expect(try ProcessStatus.sample(parsing: invalid).name == "\u{FFFD}\u{FFFD}x")
    }

    @Test func sampleStopsAfterVmSwap() throws {
        let text = "Name:\tx\nPid:\t9\nVmRSS:\t8 kB\nVmSwap:\t2 kB\nThreads:\tmany\ngarbage\n"
        #expect(throws: ParseError.self) { try ProcessStatus(parsing: text) }
        #expect(
            try ProcessStatus.sample(parsing: Array(text.utf8))
                == ProcessSample(pid: 9, name: "x", residentSet: .kibibytes(8), swap: .kibibytes(2)))
    }

    @Test func vmallocinfo() throws {
        for bytes in try Self.inputs("vmallocinfo", iterations: 500) {
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(
                Outcome { () throws(ParseError) in try VmallocInfo(parsing: text) }
                    == Outcome { () throws(ParseError) in try LegacyProcfs.vmalloc(text) })
        }
    }

    @Test func vmallocinfoMergesCallersByString() throws {
        // ASCII names merge with names from non-ASCII lines, and with the kernel's descriptions, by
        // String equality (canonical equivalence: U+212A KELVIN SIGN is "K").
        let text = """
            0x1-0x2 4096 (unknown) pages=1
            0x1-0x2 4096 vmalloc
            0x1-0x2 8192 K+0x1/0x2 pages=2 é
            0x1-0x2 8192 \u{212A}+0x1/0x2
            0x1-0x2 4096 unpurged vm_area
            0x1-0x2 4096 f+0x1/0x2 pages=x pages=3
            0x1-0x2 4096 +0x1/0x2
            0x1-0x2 4096 é+0x1/0x2
            0x1-0x2 4096 e\u{301}+0x1/0x2
            """
        let info = try VmallocInfo(parsing: text)
        #expect(info == (try LegacyProcfs.vmalloc(text)))
        #expect(info.callers.first { $0.name == "(unknown)" }?.allocations == 2)
        #expect(info.callers.first { $0.name == "K" }?.allocations == 2)
        #expect(info.callers.first { $0.name == "é" }?.allocations == 2)
        #expect(info.callers.first { $0.name == "f" }?.pages == 3)
    }

    @Test func slabinfo() throws {
        for bytes in try Self.inputs("slabinfo", iterations: 500) {
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(
                Outcome { () throws(ParseError) in try SlabInfo(parsing: text) }
                    == Outcome { () throws(ParseError) in try LegacyProcfs.slab(text) })
        }
    }

    @Test func meminfo() throws {
        for bytes in try Self.inputs("meminfo") {
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(
                Outcome { () throws(ParseError) in try MemInfo(parsing: text) }
                    == Outcome { () throws(ParseError) in try LegacyProcfs.memInfo(text) })
        }
    }

    @Test func vmstat() throws {
        for bytes in try Self.inputs("vmstat") {
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(
                Outcome { () throws(ParseError) in try VMStat(parsing: text) }
                    == Outcome { () throws(ParseError) in try LegacyProcfs.vmStat(text) })
        }
    }
}
