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

    @Argument(help: "How much to allocate, e.g. 200M.", transform: ByteCount.parseFinite)
    var size: ByteCount

    @Option(
        help: "Allocation rate per second, e.g. 50M (default: as fast as possible).", transform: ByteCount.parseFinite)
    var rate: ByteCount?

    @Option(help: "How long to hold the memory before exiting (default: until killed).", transform: Duration.parse)
    var hold: Duration?

    @Flag(
        help:
            "Read one byte from stdin before allocating (exit at end-of-file): the starter moves it into its cgroup first."
    )
    var waitForStart = false

    func run() throws {
        try reportingErrors {
            let total = size
            let bytesPerSecond = rate?.bytes
            let holdFor = hold
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
