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
    ///
    /// One pass over the bytes: callers are totalled in a table keyed by their bytes (an FNV-1a hash and
    /// a byte comparison), and a caller's String is made once, not once per area.
    public init(parsing text: String) throws(ParseError) {
        let bytes = text.utf8.span
        var table = CallerTable()
        var failure: ParseError?
        var lineNumber = 0
        ProcfsBytes.forEachLine(bytes) { line, isASCII in
            lineNumber += 1
            do throws(ParseError) {
                if isASCII {
                    try Self.area(bytes, line, lineNumber: lineNumber, into: &table)
                } else {
                    let area = try Self.area(Substring(ProcfsBytes.text(bytes, line)))
                    table.add(named: area.name, size: area.size, pages: area.pages, lineNumber: lineNumber)
                }
                return true
            } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
        self = table.result(bytes)
    }

    /// Totals per caller. Callers named by bytes of the text are keyed by those bytes; the others (the
    /// kernel's descriptions, callers of non-ASCII lines) by String. ``result(_:)`` then merges them by
    /// String, in the order they first appeared, as a `[String: Caller]` dictionary would.
    private struct CallerTable {
        struct Entry {
            var name: Range<Int>
            var size: ByteCount
            var pages: UInt64
            var allocations: Int
            var firstLine: Int
            /// The next entry whose name has the same hash, or -1.
            var nextSameHash: Int
        }
        var entries: [Entry] = []
        var firstByHash: [UInt64: Int] = [:]
        var named: [(name: String, caller: Caller, firstLine: Int)] = []
        var namedIndex: [String: Int] = [:]
        var total = ByteCount.zero
        var totalPages: UInt64 = 0
        var allocations = 0

        mutating func add(_ bytes: Span<UInt8>, name: Range<Int>, size: UInt64, pages: UInt64, lineNumber: Int) {
            count(size: size, pages: pages)
            let hash = ProcfsBytes.hash(bytes, name)
            var index = firstByHash[hash] ?? -1
            while index >= 0, index < entries.count {
                if ProcfsBytes.equal(bytes, entries[index].name, name) {
                    entries[index].size = entries[index].size + ByteCount(size)
                    entries[index].pages = ProcfsText.saturatingSum(entries[index].pages, pages)
                    entries[index].allocations += 1
                    return
                }
                index = entries[index].nextSameHash
            }
            entries.append(
                Entry(
                    name: name, size: ByteCount(size), pages: pages, allocations: 1, firstLine: lineNumber,
                    nextSameHash: firstByHash[hash] ?? -1))
            firstByHash[hash] = entries.count - 1
        }

        mutating func add(named name: String, size: UInt64, pages: UInt64, lineNumber: Int) {
            count(size: size, pages: pages)
            if let index = namedIndex[name] {
                named[index].caller.bytes = named[index].caller.bytes + ByteCount(size)
                named[index].caller.pages = ProcfsText.saturatingSum(named[index].caller.pages, pages)
                named[index].caller.allocations += 1
            } else {
                namedIndex[name] = named.count
                named.append(
                    (name, Caller(name: name, bytes: ByteCount(size), pages: pages, allocations: 1), lineNumber))
            }
        }

        private mutating func count(size: UInt64, pages: UInt64) {
            total = total + ByteCount(size)
            totalPages = ProcfsText.saturatingSum(totalPages, pages)
            allocations += 1
        }

        func result(_ bytes: Span<UInt8>) -> VmallocInfo {
            var all = named.map { (caller: $0.caller, firstLine: $0.firstLine) }
            for entry in entries {
                let caller = Caller(
                    name: ProcfsBytes.text(bytes, entry.name), bytes: entry.size, pages: entry.pages,
                    allocations: entry.allocations)
                all.append((caller, entry.firstLine))
            }
            var callers: [Caller]
            if named.isEmpty {
                // All names are distinct ASCII byte strings, hence distinct Strings: nothing to merge.
                callers = all.map(\.caller)
            } else {
                all.sort { $0.firstLine < $1.firstLine }
                var byName: [String: Int] = [:]
                callers = []
                for (caller, _) in all {
                    if let index = byName[caller.name] {
                        callers[index].bytes = callers[index].bytes + caller.bytes
                        callers[index].pages = ProcfsText.saturatingSum(callers[index].pages, caller.pages)
                        callers[index].allocations += caller.allocations
                    } else {
                        byName[caller.name] = callers.count
                        callers.append(caller)
                    }
                }
            }
            callers.sort { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.name < $1.name }
            return VmallocInfo(totalBytes: total, totalPages: totalPages, allocations: allocations, callers: callers)
        }
    }

    private static let lineFormat = "expected '0xSTART-0xEND SIZE CALLER …'"

    /// One ASCII line, by bytes: the same rules as ``area(_:)`` and ``callerName(_:)``.
    private static func area(
        _ bytes: Span<UInt8>, _ line: Range<Int>, lineNumber: Int, into table: inout CallerTable
    ) throws(ParseError) {
        var position = line.lowerBound
        guard let range = ProcfsBytes.nextField(bytes, in: line, from: &position),
            ProcfsBytes.hasPrefix(bytes, range, "0x"),
            ProcfsBytes.firstIndex(of: UInt8(ascii: "-"), bytes, in: range) != nil,
            let sizeField = ProcfsBytes.nextField(bytes, in: line, from: &position),
            let size = ProcfsBytes.decimal(bytes, sizeField)
        else {
            throw ParseError("/proc/vmallocinfo", input: ProcfsBytes.text(bytes, line), reason: lineFormat)
        }
        let first = ProcfsBytes.nextField(bytes, in: line, from: &position)
        // pages=N: the first field from the caller on that has the prefix and a valid number.
        var pages: UInt64?
        var field = first
        while let current = field {
            if ProcfsBytes.hasPrefix(bytes, current, "pages=") {
                pages = ProcfsBytes.decimal(bytes, current.lowerBound + 6..<current.upperBound)
                if pages != nil { break }
            }
            field = ProcfsBytes.nextField(bytes, in: line, from: &position)
        }
        guard let first else {
            table.add(named: "(unknown)", size: size, pages: pages ?? 0, lineNumber: lineNumber)
            return
        }
        if let plus = ProcfsBytes.firstIndex(of: UInt8(ascii: "+"), bytes, in: first),
            ProcfsBytes.hasPrefix(bytes, plus..<first.upperBound, "+0x")
        {
            table.add(bytes, name: first.lowerBound..<plus, size: size, pages: pages ?? 0, lineNumber: lineNumber)
        } else if ProcfsBytes.equals(bytes, first, "unpurged") {
            table.add(named: "unpurged vm_area", size: size, pages: pages ?? 0, lineNumber: lineNumber)
        } else if isFlag(bytes, first) || ProcfsBytes.firstIndex(of: UInt8(ascii: "="), bytes, in: first) != nil {
            table.add(named: "(unknown)", size: size, pages: pages ?? 0, lineNumber: lineNumber)
        } else {
            table.add(bytes, name: first, size: size, pages: pages ?? 0, lineNumber: lineNumber)
        }
    }

    /// Whether a field is one of ``flags`` (vm_map_ram is kept as the caller's name: not checked here).
    private static func isFlag(_ bytes: Span<UInt8>, _ field: Range<Int>) -> Bool {
        ProcfsBytes.equals(bytes, field, "ioremap") || ProcfsBytes.equals(bytes, field, "vmalloc")
            || ProcfsBytes.equals(bytes, field, "vmap") || ProcfsBytes.equals(bytes, field, "user")
            || ProcfsBytes.equals(bytes, field, "dma-coherent") || ProcfsBytes.equals(bytes, field, "vpages")
    }

    /// One line holding non-ASCII text, by Characters, as this parser always did.
    private static func area(_ line: Substring) throws(ParseError) -> (name: String, size: UInt64, pages: UInt64) {
        let parts = ProcfsText.fields(line)
        guard parts.count >= 2, parts[0].hasPrefix("0x"), parts[0].contains("-"),
            let size = ProcfsText.decimal(parts[1])
        else {
            throw ParseError("/proc/vmallocinfo", input: line, reason: lineFormat)
        }
        let rest = parts.dropFirst(2)
        let pages =
            rest.lazy.compactMap { field -> UInt64? in
                field.hasPrefix("pages=") ? ProcfsText.decimal(field.dropFirst(6)) : nil
            }.first ?? 0
        return (callerName(rest), size, pages)
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
