import Glibc
import OOMKit

/// What a finished command did: its exit status (128 + signal when killed, as a shell reports it) and
/// everything it printed.
public struct CommandResult: Sendable, CustomStringConvertible {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String

    public var description: String {
        "exit \(status)\n--- stdout\n\(standardOutput)--- stderr\n\(standardError)"
    }
}

/// Runs programs for tests with posix_spawn, capturing output through temporary files (no pipe
/// deadlocks, however much a command prints).
public enum ProcessRunner {
    /// The oomctl executable built beside the test bundle.
    public static var oomctlPath: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let executable = String(decoding: buffer.prefix(max(count, 0)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let directory = executable.split(separator: "/", omittingEmptySubsequences: false).dropLast()
            .joined(separator: "/")
        return directory + "/oomctl"
    }

    /// Runs oomctl with arguments and waits for it.
    /// `timeout`: for a command that must end by itself (a `watch` that must be refused): killed after
    /// it, status -1, so that a regression fails the test instead of hanging it.
    public static func oomctl(
        _ arguments: [String], environment: [String: String] = [:], timeout: Duration? = nil
    ) -> CommandResult {
        run(oomctlPath, arguments, environment: environment, timeout: timeout)
    }

    /// Runs a program and waits for it (up to `timeout`, if given: then it is killed, status -1).
    public static func run(
        _ path: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration? = nil
    )
        -> CommandResult
    {
        let outputPath = temporaryPath("out")
        let errorPath = temporaryPath("err")
        defer {
            unlink(outputPath)
            unlink(errorPath)
        }
        guard
            let pid = spawn(
                path, arguments, environment: environment, standardOutput: outputPath, standardError: errorPath)
        else {
            return CommandResult(status: 127, standardOutput: "", standardError: "cannot spawn \(path): \(errno)")
        }
        var status: Int32
        var note = ""
        if let timeout {
            if let ended = wait(for: pid, timeout: timeout) {
                status = ended
            } else {
                kill(pid, SIGKILL)
                _ = wait(for: pid)
                status = -1
                note = "\n(still running after \(timeout): killed)"
            }
        } else {
            status = wait(for: pid)
        }
        return CommandResult(
            status: status, standardOutput: readText(outputPath), standardError: readText(errorPath) + note)
    }

    /// Starts a program without waiting; its output goes to the given files (or /dev/null).
    public static func spawn(
        _ path: String, _ arguments: [String], environment: [String: String] = [:],
        standardOutput: String = "/dev/null", standardError: String = "/dev/null"
    ) -> pid_t? {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        var merged: [String: String] = [:]
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                merged[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            index += 1
        }
        for (key, value) in environment { merged[key] = value }

        // The bytes the texts stand for (LosslessText), as oomctl passes them to its hooks.
        let argv = ([path] + arguments).map { LosslessText.duplicateCString($0) } + [nil]
        let envp = merged.map { LosslessText.duplicateCString("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // Children start with no blocked signals and default dispositions, whatever the test runner's
        // threads block or ignore (inherited masks would make SIGTERM pend forever).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else {
            errno = result
            return nil
        }
        return pid
    }

    /// Waits for a child; returns its exit status, or 128 + the signal that killed it.
    public static func wait(for pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    /// Polls a child's exit until `timeout`; nil when still running.
    public static func wait(for pid: pid_t, timeout: Duration) -> Int32? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var status: Int32 = 0
        while clock.now < deadline {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                let signal = status & 0x7F
                return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
            }
            if result < 0 && errno != EINTR { return -1 }
            usleep(10_000)
        }
        return nil
    }

    public static func temporaryPath(_ tag: String) -> String {
        "/tmp/oomctl-test-\(getpid())-\(tag)-\(UInt64.random(in: 0...UInt64.max))"
    }

    public static func readText(_ path: String) -> String {
        guard let file = LosslessText.withCString(path, { fopen($0, "r") }) else { return "" }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count == 0 { break }
            bytes += buffer.prefix(count)
        }
        return LosslessText.decode(bytes)
    }
}
