import Glibc

/// A v1 cgroup's memory.oom_control held open for reading and writing, so that watching an OOM and
/// handing it back to the kernel need no new descriptor and no path: they work at the descriptor limit
/// and after the cgroup was renamed.
public final class OOMControlFile: Sendable {
    /// The open file (O_RDWR).
    public let descriptor: Int32
    private let displayPath: String

    /// Opens memory.oom_control of a v1 memory cgroup.
    public init(_ memory: MemoryCgroup) throws(CgroupError) {
        guard memory.version == .v1 else {
            throw .unsupported("memory.oom_control", version: memory.version)
        }
        displayPath = memory.cgroup.filesystemPath + "/memory.oom_control"
        descriptor = openat(
            memory.cgroup.directoryDescriptor, "memory.oom_control", O_RDWR | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { throw .system(SystemCallError("open", path: displayPath, errno: errno)) }
    }

    deinit { close(descriptor) }

    /// The file as it reads now (each read starts at offset 0, so the kernel renders it anew).
    public func read() throws(CgroupError) -> OOMControl {
        var buffer = [UInt8](repeating: 0, count: 512)  // three short lines
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else { throw .system(SystemCallError("read", path: displayPath, errno: errno)) }
        do {
            return try OOMControl(parsing: String(decoding: buffer.prefix(count), as: UTF8.self))
        } catch {
            throw .parse(error.naming(displayPath))
        }
    }

    /// Disables (true) or re-enables (false) the kernel OOM killer for the cgroup.
    public func setKillDisabled(_ disabled: Bool) throws(CgroupError) {
        let value: UInt8 = disabled ? UInt8(ascii: "1") : UInt8(ascii: "0")
        let written = withUnsafeBytes(of: value) { pwrite(descriptor, $0.baseAddress, 1, 0) }
        guard written == 1 else { throw .system(SystemCallError("write", path: displayPath, errno: errno)) }
    }
}
