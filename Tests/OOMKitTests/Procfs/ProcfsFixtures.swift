@testable import OOMKit

/// The fake procfs tree captured from a real machine (kernel 6.18): Tests/OOMKitTests/Fixtures/proc.
enum ProcfsFixtures {
    /// The fixture tree's root, found from this file's path.
    static let root: String = {
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(2)  // Procfs/ProcfsFixtures.swift
        return components.joined(separator: "/") + "/Fixtures/proc"
    }()

    /// The sleeping user process captured into the tree.
    static let userPID: Int32 = 5019
    /// kthreadd, a kernel thread.
    static let kernelThreadPID: Int32 = 2

    static var procfs: ProcFS { ProcFS(path: root) }

    /// The text of one fixture file, e.g. `meminfo` or `5019/status`.
    static func text(_ name: String) throws -> String {
        try FileIO.readText(path: root + "/" + name)
    }
}

/// A tiny deterministic PRNG (xorshift64*), so fuzz runs are reproducible.
struct XorShift: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}
