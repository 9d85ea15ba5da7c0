/// One executable mapping of a file (`r-xp` with a path; not [vdso] and the like) in a process's
/// /proc/PID/smaps: its address range, what of it is resident, and what of it the process has copied
/// on write (a debugger's breakpoint, a text relocation).
public struct ExecutableMapping: Sendable, Hashable {
    public var start: UInt
    public var end: UInt
    /// `Rss`.
    public var resident: ByteCount
    /// `Anonymous`: pages copied on write.
    public var anonymous: ByteCount
    /// `Swap`: such copies swapped out.
    public var swapped: ByteCount

    public init(start: UInt, end: UInt, resident: ByteCount, anonymous: ByteCount, swapped: ByteCount = .zero) {
        self.start = start
        self.end = end
        self.resident = resident
        self.anonymous = anonymous
        self.swapped = swapped
    }

    /// Nothing in it but the file's pages: dropping its page table entries loses nothing.
    public var isClean: Bool { anonymous == .zero && swapped == .zero }

    /// The executable file mappings of a /proc/PID/smaps text: each `START-END PERMS OFFSET DEV INODE
    /// PATH` header line (the path may hold spaces, or end in " (deleted)"), then its `Key: N kB` lines.
    /// Total: a header or field that does not read is skipped, never trapped on (this runs in watch
    /// just before it locks its memory, where a parse failure must not stop anything).
    public static func list(inSmaps text: String) -> [ExecutableMapping] {
        var mappings: [ExecutableMapping] = []
        var current: ExecutableMapping?
        for line in ProcfsText.lines(text) {
            if let (key, value) = ProcfsText.keyValue(line) {
                guard current != nil, let bytes = ProcfsText.kibibytes(value) else { continue }
                switch key {
                case "Rss": current?.resident = bytes
                case "Anonymous": current?.anonymous = bytes
                case "Swap": current?.swapped = bytes
                default: break
                }
                continue
            }
            // A header line (its first field is an address range, never a key with a colon).
            if let current { mappings.append(current) }
            current = header(ProcfsText.fields(line))
        }
        if let current { mappings.append(current) }
        return mappings
    }

    /// A mapping from a header's fields when it is an executable mapping of a file, else nil.
    private static func header(_ fields: [Substring]) -> ExecutableMapping? {
        guard fields.count >= 6, fields[1] == "r-xp", fields[5].hasPrefix("/") else { return nil }
        let bounds = fields[0].split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16),
            end > start
        else { return nil }
        return ExecutableMapping(start: start, end: end, resident: .zero, anonymous: .zero)
    }
}
