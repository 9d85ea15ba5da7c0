import Glibc
import OOMKit

/// Output to the terminal or a pipe through file descriptors (the C `stdout` global is not
/// concurrency-safe in Swift 6).
enum Terminal {
    /// Writes text to standard output.
    static func print(_ text: String) {
        write(text + "\n", to: STDOUT_FILENO)
    }

    /// Writes raw bytes to standard output.
    static func write(bytes: [UInt8]) {
        write(bytes, to: STDOUT_FILENO)
    }

    /// Writes a line to standard error.
    static func printError(_ text: String) {
        write(text + "\n", to: STDERR_FILENO)
    }

    /// Whether standard output is a terminal (to decide on human vs. terse output).
    static var standardOutputIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    private static func write(_ text: String, to descriptor: Int32) {
        write(Array(text.visibleRawBytes.utf8), to: descriptor)
    }

    private static func write(_ bytes: [UInt8], to descriptor: Int32) {
        FileIO.writeAll(bytes, to: descriptor)
    }
}
