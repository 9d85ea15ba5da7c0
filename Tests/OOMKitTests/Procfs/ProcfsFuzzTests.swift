import Testing

@testable import OOMKit

/// Mutated real samples: every parser must return or throw, never trap.
@Suite struct ProcfsFuzzTests {
    /// A parser under test and the fixture it starts from.
    struct Target: Sendable, CustomTestStringConvertible {
        var name: String
        var sample: String
        var parse: @Sendable (String) throws -> Void
        var testDescription: String { name }
    }

    static let targets: [Target] = [
        Target(name: "meminfo", sample: "meminfo") { _ = try MemInfo(parsing: $0) },
        Target(name: "vmstat", sample: "vmstat") { _ = try VMStat(parsing: $0) },
        Target(name: "pressure", sample: "pressure/memory") { _ = try Pressure(parsing: $0) },
        Target(name: "slabinfo", sample: "slabinfo") { _ = try SlabInfo(parsing: $0).top(5) },
        Target(name: "vmallocinfo", sample: "vmallocinfo") { _ = try VmallocInfo(parsing: $0) },
        Target(name: "zoneinfo", sample: "zoneinfo") { _ = try ZoneInfo(parsing: $0) },
        Target(name: "buddyinfo", sample: "buddyinfo") { _ = try BuddyInfo(parsing: $0).zones.map(\.freePages) },
        Target(name: "status", sample: "5019/status") { _ = ProcessSample(status: try ProcessStatus(parsing: $0)) },
        Target(name: "smaps_rollup", sample: "5019/smaps_rollup") { _ = try SmapsRollup(parsing: $0) },
        Target(name: "stat", sample: "2/stat") { _ = try ProcessStat(parsing: $0) },
        Target(name: "cgroup", sample: "5019/cgroup") { _ = try CgroupMembership.parse($0) },
    ]

    static let iterations = 2000

    @Test(arguments: targets)
    func mutatedSamplesNeverCrash(target: Target) throws {
        let sample = Array(try ProcfsFixtures.text(target.sample).utf8)
        var random = XorShift(seed: 0x00C0_FFEE ^ UInt64(target.name.utf8.count))
        var parsed = 0
        var rejected = 0
        for _ in 0..<Self.iterations {
            let input = String(decoding: Self.mutate(sample, using: &random), as: UTF8.self)
            do {
                try target.parse(input)
                parsed += 1
            } catch {
                rejected += 1
            }
        }
        #expect(parsed + rejected == Self.iterations)
    }

    /// One to three random mutations: truncation, byte flips, duplicated or dropped lines, inserted
    /// huge numbers or odd characters.
    static func mutate(_ original: [UInt8], using random: inout XorShift) -> [UInt8] {
        var bytes = original
        for _ in 0...Int.random(in: 0...2, using: &random) {
            guard !bytes.isEmpty else { return bytes }
            let position = Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<7, using: &random) {
            case 0:
                bytes.removeSubrange(position...)
            case 1:
                for _ in 0..<Int.random(in: 1...8, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            case 2, 3:
                let newline = UInt8(ascii: "\n")
                var lines = bytes.split(separator: newline, omittingEmptySubsequences: false).map(Array.init)
                let index = Int.random(in: 0..<lines.count, using: &random)
                if Int.random(in: 0..<2, using: &random) == 0 {
                    lines.insert(lines[index], at: Int.random(in: 0...lines.count, using: &random))
                } else {
                    lines.remove(at: index)
                }
                bytes = Array(lines.joined(separator: [newline]))
            case 4:
                let huge = ["18446744073709551615", "184467440737095516150", "-1", "99999999999999999999999"]
                bytes.insert(contentsOf: Array(huge.randomElement(using: &random)?.utf8 ?? "0".utf8), at: position)
            case 5:
                let odd: [String] = [
                    ")", "(", ":", "\n", "\t", " ", "kB", "\0", "é", "\r\n", "+0x", "=", "Node 0, zone",
                ]
                bytes.insert(contentsOf: Array(odd.randomElement(using: &random)?.utf8 ?? "x".utf8), at: position)
            default:
                bytes.remove(at: position)
            }
        }
        return bytes
    }
}
