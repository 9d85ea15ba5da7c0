import Glibc
import OOMKit

/// Output to the terminal or a pipe through file descriptors (the C `stdout` global is not
/// concurrency-safe in Swift 6). Everything oomctl prints on standard output goes through here (and the
/// log handlers, when they log there) into ``StandardOutput``, which checks every write: output that could
/// not be written makes the command exit 74 (see ``Oomctl/run(_:)``), never 0.
enum Terminal {
    /// Writes text to standard output.
    static func print(_ text: String) {
        StandardOutput.write(Array((text + "\n").visibleRawBytes.utf8))
    }

    /// Writes raw bytes to standard output.
    static func write(bytes: [UInt8]) {
        StandardOutput.write(bytes)
    }

    /// Writes a line to standard error.
    static func printError(_ text: String) {
        FileIO.writeAll(Array((text + "\n").visibleRawBytes.utf8), to: STDERR_FILENO)
    }

    /// Whether standard output is a terminal (to decide on human vs. terse output).
    static var standardOutputIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }
}
