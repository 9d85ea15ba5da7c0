// Micro-benchmark of the procfs parsers on the captured samples (Tests/OOMKitTests/Fixtures/proc).
// Usage: BINARY FIXTURE-DIR [LABEL-PREFIX] (only the cases whose label starts with the prefix).
// Built by ./run together with the parser sources into one optimised binary; not a test.
import Glibc

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

@inline(never) func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

/// Best of `rounds` rounds of `iterations` calls: nanoseconds per call.
func measure(_ label: String, iterations: Int, rounds: Int = 7, _ body: () throws -> Void) rethrows {
    if CommandLine.arguments.count > 2, !label.hasPrefix(CommandLine.arguments[2]) { return }
    var best = UInt64.max
    for _ in 0..<rounds {
        let start = now()
        for _ in 0..<iterations { try body() }
        best = min(best, (now() - start) / UInt64(iterations))
    }
    let padded = label + String(repeating: " ", count: max(0, 34 - label.count))
    print("\(padded) \(best) ns/parse")
}

let root = CommandLine.arguments[1]
func text(_ name: String) throws -> String { try FileIO.readText(path: root + "/" + name) }

let status = try text("5019/status")
let kthreadStatus = try text("2/status")
let vmalloc = try text("vmallocinfo")
let bigVmalloc = String(repeating: vmalloc, count: 20)  // ~400 KB, the size of a busy machine's file
let slab = try text("slabinfo")
let meminfo = try text("meminfo")
let vmstat = try text("vmstat")
let procfs = ProcFS(path: root)

try measure("ProcessStatus(parsing:) user", iterations: 20_000) { blackHole(try ProcessStatus(parsing: status)) }
try measure("ProcessStatus(parsing:) kthread", iterations: 20_000) {
    blackHole(try ProcessStatus(parsing: kthreadStatus))
}
try measure("sample() user (incl. file read)", iterations: 20_000) { blackHole(try procfs.process(5019).sample()) }
try measure("sample() kthread (incl. file read)", iterations: 20_000) { blackHole(try procfs.process(2).sample()) }
try measure("VmallocInfo 19.6 KB (200 lines)", iterations: 500) { blackHole(try VmallocInfo(parsing: vmalloc)) }
try measure("VmallocInfo 392 KB (4000 lines)", iterations: 30) { blackHole(try VmallocInfo(parsing: bigVmalloc)) }
try measure("SlabInfo 21 KB", iterations: 500) { blackHole(try SlabInfo(parsing: slab)) }
try measure("MemInfo 1.5 KB", iterations: 5_000) { blackHole(try MemInfo(parsing: meminfo)) }
try measure("VMStat 3.9 KB", iterations: 2_000) { blackHole(try VMStat(parsing: vmstat)) }
