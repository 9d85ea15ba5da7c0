import Glibc
import Logging
import OOMKit

/// Runs `body` with the write end of a pipe and returns everything written to it.
func capturedOutput(_ body: (Int32) -> Void) -> String {
    var ends: [Int32] = [0, 0]
    guard pipe(&ends) == 0 else { return "pipe failed: \(errno)" }
    body(ends[1])
    close(ends[1])
    defer { close(ends[0]) }
    let bytes = (try? FileIO.readAll(fd: ends[0], path: "pipe")) ?? []
    return String(decoding: bytes, as: UTF8.self)
}

/// A fixed instant: 2025-03-01T12:34:56.789012Z.
let fixedTime = LogTimestamp(seconds: 1_740_832_496, nanoseconds: 789_012_345)

/// A cgroup name as hostile as the kernel allows (and a newline, which it does not, to be safe).
let hostileCgroup = "/test.slice/a b \"q\" 'x' $HOME `id`; rm=1 \\ \n\ttab\u{1B}[31m\u{202E}"
