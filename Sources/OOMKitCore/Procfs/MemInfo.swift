/// The system-wide memory figures of /proc/meminfo.
public struct MemInfo: Sendable, Hashable, Codable {
    /// Every `Key: N kB` line, keyed by the kernel's name (`MemTotal`, `Active(anon)`…), in bytes.
    public var fields: [String: ByteCount]
    /// Every line without a unit (`HugePages_Total: 0`), keyed by the kernel's name: these are counts,
    /// not sizes.
    public var counts: [String: UInt64]

    public init(fields: [String: ByteCount], counts: [String: UInt64]) {
        self.fields = fields
        self.counts = counts
    }

    /// Parses the text of /proc/meminfo.
    public init(parsing text: String) throws(ParseError) {
        let bytes = text.utf8.span
        var fields: [String: ByteCount] = [:]
        var counts: [String: UInt64] = [:]
        var failure: ParseError?
        ProcfsBytes.forEachLine(bytes) { line, isASCII in
            if !isASCII {
                // Non-ASCII text: by Characters, as this parser always did.
                let line = Substring(ProcfsBytes.text(bytes, line))
                guard let (key, value) = ProcfsText.keyValue(line) else {
                    failure = ParseError("/proc/meminfo", input: line, reason: "expected 'Key: value' lines")
                    return false
                }
                let parts = ProcfsText.fields(value)
                if parts.count == 1, let count = ProcfsText.decimal(parts[0]) {
                    counts[String(key)] = count
                } else if let size = ProcfsText.kibibytes(value) {
                    fields[String(key)] = size
                } else {
                    failure = ParseError("/proc/meminfo", input: line, reason: Self.valueReason)
                    return false
                }
                return true
            }
            guard let (key, value) = ProcfsBytes.keyValue(bytes, line) else {
                failure = ParseError(
                    "/proc/meminfo", input: ProcfsBytes.text(bytes, line), reason: "expected 'Key: value' lines")
                return false
            }
            var position = value.lowerBound
            if let first = ProcfsBytes.nextField(bytes, in: value, from: &position),
                ProcfsBytes.nextField(bytes, in: value, from: &position) == nil,
                let count = ProcfsBytes.decimal(bytes, first)
            {
                counts[ProcfsBytes.text(bytes, key)] = count
            } else if let size = ProcfsBytes.kibibytes(bytes, value) {
                fields[ProcfsBytes.text(bytes, key)] = size
            } else {
                failure = ParseError("/proc/meminfo", input: ProcfsBytes.text(bytes, line), reason: Self.valueReason)
                return false
            }
            return true
        }
        if let failure { throw failure }
        guard !fields.isEmpty || !counts.isEmpty else {
            throw ParseError("/proc/meminfo", input: text, reason: "no fields")
        }
        self.init(fields: fields, counts: counts)
    }

    private static let valueReason = "expected a number, optionally followed by kB"

    /// `MemTotal`: usable RAM.
    public var total: ByteCount? { fields["MemTotal"] }
    /// `MemFree`: RAM not used at all.
    public var free: ByteCount? { fields["MemFree"] }
    /// `MemAvailable`: the kernel's estimate of what can be allocated without swapping.
    public var available: ByteCount? { fields["MemAvailable"] }
    /// `Buffers`: block device cache.
    public var buffers: ByteCount? { fields["Buffers"] }
    /// `Cached`: page cache (including shmem/tmpfs, excluding swap cache).
    public var cached: ByteCount? { fields["Cached"] }
    /// `SwapTotal`.
    public var swapTotal: ByteCount? { fields["SwapTotal"] }
    /// `SwapFree`.
    public var swapFree: ByteCount? { fields["SwapFree"] }
    /// `Shmem`: shared memory and tmpfs.
    public var shmem: ByteCount? { fields["Shmem"] }
    /// `Slab`: all kernel slab caches.
    public var slab: ByteCount? { fields["Slab"] }
    /// `SReclaimable`: slab that can be reclaimed (dentries, inodes…).
    public var slabReclaimable: ByteCount? { fields["SReclaimable"] }
    /// `SUnreclaim`: slab that cannot be reclaimed.
    public var slabUnreclaimable: ByteCount? { fields["SUnreclaim"] }
    /// `VmallocUsed`.
    public var vmallocUsed: ByteCount? { fields["VmallocUsed"] }
    /// `AnonPages`: anonymous memory mapped into user page tables.
    public var anonPages: ByteCount? { fields["AnonPages"] }
    /// `Mapped`: files mapped into memory.
    public var mapped: ByteCount? { fields["Mapped"] }
    /// `PageTables`.
    public var pageTables: ByteCount? { fields["PageTables"] }
    /// `KernelStack`.
    public var kernelStack: ByteCount? { fields["KernelStack"] }
    /// `Dirty`: waiting to be written back.
    public var dirty: ByteCount? { fields["Dirty"] }
    /// `Writeback`: being written back.
    public var writeback: ByteCount? { fields["Writeback"] }
}
