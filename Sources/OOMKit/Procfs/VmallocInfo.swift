/// The kernel's vmalloc areas from /proc/vmallocinfo (root only), totalled by caller.
public struct VmallocInfo: Sendable, Hashable, Codable {
    /// The areas allocated by one caller.
    public struct Caller: Sendable, Hashable, Codable {
        /// The allocating function (the symbol before `+0x`, e.g. `irq_init_percpu_irqstack`), or the
        /// kernel's description of areas without a caller (`unpurged vm_area`, `vm_map_ram`).
        public var name: String
        /// The size of its areas: virtual address space, including guard pages.
        public var bytes: ByteCount
        /// The pages backing its areas (`pages=N`); ioremap areas have none.
        public var pages: UInt64
        /// The number of areas.
        public var allocations: Int

        public init(name: String, bytes: ByteCount, pages: UInt64, allocations: Int) {
            self.name = name
            self.bytes = bytes
            self.pages = pages
            self.allocations = allocations
        }
    }

    /// The size of all areas (address space, including guard pages).
    public var totalBytes: ByteCount
    /// The pages backing all areas.
    public var totalPages: UInt64
    /// The number of areas.
    public var allocations: Int
    /// Totals per caller, largest first (ties by name).
    public var callers: [Caller]

    public init(totalBytes: ByteCount, totalPages: UInt64, allocations: Int, callers: [Caller]) {
        self.totalBytes = totalBytes
        self.totalPages = totalPages
        self.allocations = allocations
        self.callers = callers
    }

    /// Parses the text of /proc/vmallocinfo: `0xSTART-0xEND SIZE [CALLER] [pages=N] [phys=…] [flags…]`.
    public init(parsing text: String) throws(ParseError) {
        var byName: [String: Caller] = [:]
        var total = ByteCount.zero
        var totalPages: UInt64 = 0
        var allocations = 0
        for line in ProcfsText.lines(text) {
            let parts = ProcfsText.fields(line)
            guard parts.count >= 2, parts[0].hasPrefix("0x"), parts[0].contains("-"),
                let size = ProcfsText.decimal(parts[1])
            else {
                throw ParseError("/proc/vmallocinfo", input: line, reason: "expected '0xSTART-0xEND SIZE CALLER …'")
            }
            let rest = parts.dropFirst(2)
            let name = Self.callerName(rest)
            let pages =
                rest.lazy.compactMap { field -> UInt64? in
                    field.hasPrefix("pages=") ? ProcfsText.decimal(field.dropFirst(6)) : nil
                }.first ?? 0
            var caller = byName[name] ?? Caller(name: name, bytes: .zero, pages: 0, allocations: 0)
            caller.bytes = caller.bytes + ByteCount(size)
            caller.pages = ProcfsText.saturatingSum(caller.pages, pages)
            caller.allocations += 1
            byName[name] = caller
            total = total + ByteCount(size)
            totalPages = ProcfsText.saturatingSum(totalPages, pages)
            allocations += 1
        }
        let callers = byName.values.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.name < $1.name }
        self.init(totalBytes: total, totalPages: totalPages, allocations: allocations, callers: callers)
    }

    /// Flags the kernel prints after the caller; a line that starts with one of these has no caller.
    private static let flags: Set<Substring> = [
        "ioremap", "vmalloc", "vmap", "user", "dma-coherent", "vpages", "vm_map_ram",
    ]

    /// The caller of one area: `func+0x1c/0x40 [module]` → `func`; `unpurged vm_area` kept as is;
    /// `(unknown)` when only flags follow the size.
    private static func callerName(_ fields: ArraySlice<Substring>) -> String {
        guard let first = fields.first else { return "(unknown)" }
        if let plus = first.firstIndex(of: "+"), first[plus...].hasPrefix("+0x") {
            return String(first[..<plus])
        }
        if first == "unpurged" { return "unpurged vm_area" }
        if first == "vm_map_ram" { return "vm_map_ram" }
        if flags.contains(first) || first.contains("=") { return "(unknown)" }
        return String(first)
    }
}
