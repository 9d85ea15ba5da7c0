import ArgumentParser
import Glibc
import OOMKit

/// `oomctl hog`: a memory hog for sandboxes and tests (hidden). It allocates SIZE in 1 MiB steps,
/// touching every page so the memory is really charged, then holds it until killed.
///
/// Run it inside a memory cgroup with a small limit: that is how tests, `simulate` and the
/// benchmarks drive a real OOM without putting the machine at risk.
struct HogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hog",
        abstract: "Allocate and touch memory, then hold it (a test helper; run it inside a small memory cgroup).",
        shouldDisplay: false
    )

    @Argument(help: "How much to allocate, e.g. 200M.")
    var size: String

    @Option(help: "Allocation rate per second, e.g. 50M (default: as fast as possible).")
    var rate: String?

    @Option(help: "How long to hold the memory before exiting (default: until killed).")
    var hold: String?

    @Flag(
        help:
            "Read one byte from stdin before allocating (exit at end-of-file): the starter moves it into its cgroup first."
    )
    var waitForStart = false

    func run() throws {
        try reportingErrors {
            let total = try ByteCount(parsing: size)
            guard !total.isUnlimited else {
                throw ParseError("size", input: size, reason: "a hog needs a finite size")
            }
            let bytesPerSecond = try rate.map { try ByteCount(parsing: $0).bytes }
            let holdFor = try hold.map { try Duration(parsing: $0) }
            if waitForStart {
                var go: UInt8 = 0
                var count = 0
                repeat { count = read(STDIN_FILENO, &go, 1) } while count < 0 && errno == EINTR
                guard count == 1 else { return }
            }
            let step = 1 << 20
            let pageSize = max(Int(sysconf(Int32(_SC_PAGESIZE))), 4096)
            var allocated: UInt64 = 0
            var blocks: [UnsafeMutableRawPointer] = []
            let clock = ContinuousClock()
            let start = clock.now
            while allocated < total.bytes {
                let chunk = Int(min(UInt64(step), total.bytes - allocated))
                guard let block = malloc(chunk) else {
                    Terminal.printError("oomctl hog: malloc failed after \(ByteCount(allocated))")
                    throw ExitCode(ExitStatus.actionFailed.rawValue)
                }
                var offset = 0
                while offset < chunk {
                    block.storeBytes(of: 0x5A, toByteOffset: offset, as: UInt8.self)
                    offset += pageSize
                }
                blocks.append(block)
                allocated += UInt64(chunk)
                if let bytesPerSecond, bytesPerSecond > 0 {
                    let due = Duration.nanoseconds(Int64(Double(allocated) / Double(bytesPerSecond) * 1e9))
                    let elapsed = clock.now - start
                    if due > elapsed { sleep(for: due - elapsed) }
                }
            }
            Terminal.print("oomctl hog: holding \(ByteCount(allocated))")
            if let holdFor {
                sleep(for: holdFor)
            } else {
                while true { pause() }
            }
            withExtendedLifetime(blocks) {}
        }
    }

    private func sleep(for duration: Duration) {
        let nanoseconds = duration.totalNanoseconds
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
