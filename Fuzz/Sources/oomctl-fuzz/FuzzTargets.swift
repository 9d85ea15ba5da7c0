// The libFuzzer entry point of every fuzz target; OOMCTL_FUZZ_TARGET selects one (scripts/fuzz sets it).
//
// Each target feeds libFuzzer's bytes to one parser of what someone else wrote, exactly as oomctl reads
// it (procfs and cgroupfs text is `String(decoding:as: UTF8.self)` of the file, as FileIO reads it), and
// checks the invariants that are cheap and true. A thrown error is a fine outcome; a trap, an ASan
// report or a failed invariant (`precondition`) is a crash that libFuzzer saves.
//
// `@testable` gives the `package` and internal parsers (the guardian's messages, the markers, the
// /proc/PID/status fast path): SwiftPM's debug builds enable testability.

import CFuzzerDriver
import Glibc

@testable import OOMKit
@testable import OOMKitCore

/// A fuzz target: a name (the corpus directory, Fuzz/corpus/NAME) and what it does with one input.
struct FuzzTarget: Sendable {
    var name: String
    var body: @Sendable ([UInt8]) -> Void
}

/// The text of a kernel file, as FileIO reads one.
func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

let targets: [FuzzTarget] = [
    FuzzTarget(name: "meminfo") { _ = try? MemInfo(parsing: text($0)) },
    FuzzTarget(name: "vmstat") { _ = try? VMStat(parsing: text($0)) },
    FuzzTarget(name: "pressure") { _ = try? Pressure(parsing: text($0)) },
    FuzzTarget(name: "process-stat") { _ = try? ProcessStat(parsing: text($0)) },
    FuzzTarget(name: "process-status") { bytes in
        // The fast path gives the same sample as the full parser whenever that parses.
        let full = try? ProcessStatus(parsing: text(bytes))
        let fast = try? ProcessStatus.sample(parsing: bytes)
        if let full {
            precondition(fast == ProcessSample(status: full), "ProcessStatus.sample disagrees with ProcessStatus")
        }
    },
    FuzzTarget(name: "smaps-rollup") { _ = try? SmapsRollup(parsing: text($0)) },
    FuzzTarget(name: "smaps") { bytes in
        // What watch drops before it locks its memory: only ranges that are ranges.
        for mapping in ExecutableMapping.list(inSmaps: text(bytes)) {
            precondition(mapping.end > mapping.start, "an empty or inverted range is listed")
        }
    },
    FuzzTarget(name: "slabinfo") { _ = try? SlabInfo(parsing: text($0)) },
    FuzzTarget(name: "buddyinfo") { _ = try? BuddyInfo(parsing: text($0)) },
    FuzzTarget(name: "zoneinfo") { _ = try? ZoneInfo(parsing: text($0)) },
    FuzzTarget(name: "vmallocinfo") { _ = try? VmallocInfo(parsing: text($0)) },
    FuzzTarget(name: "proc-cgroup") { _ = try? CgroupMembership.parse(text($0)) },
    FuzzTarget(name: "mountinfo") { _ = CgroupMount.parse(mountInfo: text($0)) },
    FuzzTarget(name: "memory-files") { bytes in
        // memory.stat, memory.events(.local), memory.oom_control, cgroup.events, cgroup.procs.
        let file = text(bytes)
        _ = try? MemoryStat(parsing: file)
        _ = try? MemoryEvents(parsing: file)
        _ = try? OOMControl(parsing: file)
        _ = try? CgroupEvents(parsing: file)
        _ = Cgroup.parseProcessList(file)
    },
    FuzzTarget(name: "snapshot") { bytes in
        // What `simulate --from` reads; what it reads back writes the same JSON again.
        guard let snapshot = try? Snapshot(json: bytes, source: "fuzz") else { return }
        let written = snapshot.jsonBytes(pretty: false)
        let again = try? Snapshot(json: written, source: "fuzz")
        precondition(again?.jsonBytes(pretty: false) == written, "a snapshot does not read back as written")
    },
    FuzzTarget(name: "guardian-message") { bytes in
        // A valid UTF-8 line that parses is the encoding of what it parses to.
        guard let message = GuardianMessage(line: bytes) else { return }
        if String(validating: bytes, as: UTF8.self) != nil {
            precondition(message.encoded == bytes + [UInt8(ascii: "\n")], "a guardian message does not re-encode")
        }
        precondition(GuardianMessage(line: message.encoded.dropLast()) == message, "a guardian message changes")
    },
    FuzzTarget(name: "markers") { bytes in
        if let marker = KillerDisabledMarker(bytes: bytes) {
            precondition(KillerDisabledMarker(bytes: marker.encoded) == marker, "a killer marker changes")
        }
        if let marker = ReserveGrantMarker(bytes: bytes) {
            precondition(ReserveGrantMarker(bytes: marker.encoded) == marker, "a reserve marker changes")
        }
    },
    FuzzTarget(name: "byte-count") { bytes in
        // What is printed can be pasted back, and what that reads prints the same again, except that a
        // rounded figure keeps its ".0" (1073741825 prints "1.0G", which reads back as 1G) and a figure
        // within 64 KiB of 8 EiB rounds up to 8.0E, which reads as the kernel's "no limit".
        guard let count = try? ByteCount(parsing: text(bytes)) else { return }
        let first = count.description
        guard let printed = try? ByteCount(parsing: first) else {
            preconditionFailure("ByteCount's description '\(first)' does not parse")
        }
        let again = printed.description
        let parts = first.split(separator: ".", maxSplits: 1)
        let unrounded = parts.count == 2 && parts[1].first == "0" ? String(parts[0] + parts[1].dropFirst()) : first
        precondition(
            again == first || again == unrounded || (printed.isUnlimited && first == "8.0E"),
            "'\(first)' reads back as \(printed.bytes), which prints '\(again)'")
    },
    FuzzTarget(name: "duration") { bytes in
        // The compact text (options echoed back, e.g. in a replay) parses back.
        guard let duration = try? Duration(parsing: text(bytes)) else { return }
        let compact = duration.compactDescription
        precondition((try? Duration(parsing: compact)) != nil, "'\(compact)' does not parse back")
    },
    FuzzTarget(name: "thresholds") { bytes in
        // --warn/--act thresholds, PSI triggers, reserve sizes: what people type.
        let argument = text(bytes)
        _ = try? MemoryThreshold(parsing: argument)
        _ = try? SystemMemoryThresholds.parsePair(argument)
        if let trigger = try? PressureTrigger(parsing: argument) {
            // What `watch` prints of a trigger can be given again; the unprivileged form computes.
            precondition((try? PressureTrigger(parsing: trigger.description)) != nil, "'\(trigger)' does not parse")
            _ = trigger.unprivilegedEquivalent
        }
        _ = try? ReserveSize(parsing: argument)
    },
    FuzzTarget(name: "cgroup-path") { bytes in
        // A path as a user types it (bytes kept losslessly): a valid one reads back from its description.
        guard let path = try? CgroupPath(LosslessText.decode(bytes)) else { return }
        precondition((try? CgroupPath(path.description)) == path, "'\(path)' does not read back")
    },
    FuzzTarget(name: "lossless-text") { bytes in
        let decoded = LosslessText.decode(bytes)
        precondition(LosslessText.encode(decoded) == bytes, "LosslessText.encode(decode(bytes)) != bytes")
        precondition(LosslessText.decode(LosslessText.encode(decoded)) == decoded, "decode(encode(text)) changes")
    },
]

/// The target OOMCTL_FUZZ_TARGET names (``fuzzInitialize`` has checked that there is one).
let selected: FuzzTarget = {
    let name = getenv("OOMCTL_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    return targets.first { $0.name == name } ?? FuzzTarget(name: name) { _ in }
}()

/// Before the first input: OOMCTL_FUZZ_TARGET=list prints the target names, one a line, and exits 0;
/// a missing or unknown name exits 64 with the list.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(
    _ argc: UnsafeMutablePointer<CInt>?,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?
) -> CInt {
    let names = targets.map(\.name)
    if selected.name == "list" {
        for name in names { print(name) }
        exit(0)
    }
    if !names.contains(selected.name) {
        let message = "oomctl-fuzz: set OOMCTL_FUZZ_TARGET to one of: \(names.joined(separator: " "))\n"
        _ = message.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        exit(64)
    }
    return 0
}

/// One input for the selected target (also libFuzzer's own main's entry point, which -sanitize=fuzzer
/// links in whole even though SwiftPM's main, below, is the one the program starts in).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selected.body(bytes)
    return 0
}

/// libFuzzer's loop with libFuzzer's flags (`-max_total_time=`, corpus directories…).
@main
enum OOMCTLFuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
    }
}
