/// One process's memory summed over all its mappings, from /proc/PID/smaps_rollup. Unlike RSS,
/// the proportional set size (PSS) divides shared pages among the processes that map them.
///
/// Every field is nil when the kernel did not print it; kernel threads have no mappings at all.
public struct SmapsRollup: Sendable, Hashable, Codable {
    /// `Rss`: resident memory.
    public var rss: ByteCount?
    /// `Pss`: proportional set size.
    public var pss: ByteCount?
    /// `Pss_Anon`.
    public var pssAnon: ByteCount?
    /// `Pss_File`.
    public var pssFile: ByteCount?
    /// `Pss_Shmem`.
    public var pssShmem: ByteCount?
    /// `Swap`: swapped-out anonymous memory.
    public var swap: ByteCount?
    /// `SwapPss`: the proportional share of swap.
    public var swapPss: ByteCount?

    public init(
        rss: ByteCount? = nil, pss: ByteCount? = nil, pssAnon: ByteCount? = nil, pssFile: ByteCount? = nil,
        pssShmem: ByteCount? = nil, swap: ByteCount? = nil, swapPss: ByteCount? = nil
    ) {
        self.rss = rss
        self.pss = pss
        self.pssAnon = pssAnon
        self.pssFile = pssFile
        self.pssShmem = pssShmem
        self.swap = swap
        self.swapPss = swapPss
    }

    /// Parses the text of /proc/PID/smaps_rollup: an address header line, then `Key: N kB` lines.
    /// Empty text (a kernel thread) gives all-nil fields.
    public init(parsing text: String) throws(ParseError) {
        var values: [Substring: ByteCount] = [:]
        for (index, line) in ProcfsText.lines(text).enumerated() {
            guard let (key, value) = ProcfsText.keyValue(line) else {
                if index == 0 && line.hasSuffix("[rollup]") { continue }
                throw ParseError("/proc/PID/smaps_rollup", input: line, reason: "expected 'Key: N kB' lines")
            }
            guard let bytes = ProcfsText.kibibytes(value) else {
                throw ParseError("/proc/PID/smaps_rollup", input: line, reason: "expected 'N kB'")
            }
            values[key] = bytes
        }
        self.init(
            rss: values["Rss"], pss: values["Pss"], pssAnon: values["Pss_Anon"], pssFile: values["Pss_File"],
            pssShmem: values["Pss_Shmem"], swap: values["Swap"], swapPss: values["SwapPss"])
    }
}
