/// Per-zone free memory and watermarks, from /proc/zoneinfo.
public struct ZoneInfo: Sendable, Hashable, Codable {
    /// One memory zone of one NUMA node. All figures are in pages.
    public struct Zone: Sendable, Hashable, Codable {
        /// The NUMA node.
        public var node: Int
        /// The zone name: `DMA`, `DMA32`, `Normal`, `Movable`…
        public var name: String
        /// `pages free`: free pages now.
        public var freePages: UInt64
        /// `min` watermark: below it only atomic/emergency allocations succeed and reclaim is direct.
        public var minPages: UInt64
        /// `low` watermark: kswapd wakes below it.
        public var lowPages: UInt64
        /// `high` watermark: kswapd sleeps again above it.
        public var highPages: UInt64
        /// `spanned`: pages the zone's address range covers, holes included.
        public var spannedPages: UInt64
        /// `present`: physical pages in the zone.
        public var presentPages: UInt64
        /// `managed`: pages handed to the page allocator.
        public var managedPages: UInt64

        public init(
            node: Int, name: String, freePages: UInt64, minPages: UInt64, lowPages: UInt64, highPages: UInt64,
            spannedPages: UInt64, presentPages: UInt64, managedPages: UInt64
        ) {
            self.node = node
            self.name = name
            self.freePages = freePages
            self.minPages = minPages
            self.lowPages = lowPages
            self.highPages = highPages
            self.spannedPages = spannedPages
            self.presentPages = presentPages
            self.managedPages = managedPages
        }
    }

    /// The zones in file order.
    public var zones: [Zone]

    public init(zones: [Zone]) {
        self.zones = zones
    }

    /// The keys kept from a zone's section, before its per-cpu `pagesets`.
    private static let keys: Set<Substring> = ["min", "low", "high", "spanned", "present", "managed"]

    /// Parses the text of /proc/zoneinfo. Per-node stats, `nr_*` counters, `protection:` and the
    /// per-cpu `pagesets` sections (whose `high:` is not the watermark) are skipped.
    public init(parsing text: String) throws(ParseError) {
        var zones: [Zone] = []
        var current: (node: Int, name: String, header: Substring)?
        var values: [Substring: UInt64] = [:]
        var inPagesets = false

        func finish() throws(ParseError) {
            guard let zone = current else { return }
            guard let free = values["free"], let min = values["min"], let low = values["low"],
                let high = values["high"], let spanned = values["spanned"], let present = values["present"],
                let managed = values["managed"]
            else {
                throw ParseError(
                    "/proc/zoneinfo", input: zone.header,
                    reason: "zone lacks one of 'pages free', min, low, high, spanned, present, managed")
            }
            zones.append(
                Zone(
                    node: zone.node, name: zone.name, freePages: free, minPages: min, lowPages: low, highPages: high,
                    spannedPages: spanned, presentPages: present, managedPages: managed))
        }

        for line in ProcfsText.lines(text) {
            let fields = ProcfsText.fields(line)
            guard let first = fields.first else { continue }
            if first == "Node" {
                guard let (node, name, _) = ZoneHeader.parse(fields) else {
                    throw ParseError("/proc/zoneinfo", input: line, reason: "expected 'Node N, zone NAME'")
                }
                try finish()
                current = (node, name, line)
                values = [:]
                inPagesets = false
                continue
            }
            guard current != nil, !inPagesets else { continue }
            if first == "pagesets" {
                inPagesets = true
                continue
            }
            var key = first
            var valueIndex = 1
            if first == "pages", fields.count > 1, fields[1] == "free" {
                key = "free"
                valueIndex = 2
            } else if !Self.keys.contains(first) {
                continue
            }
            guard fields.count == valueIndex + 1, let value = ProcfsText.decimal(fields[valueIndex]) else {
                throw ParseError("/proc/zoneinfo", input: line, reason: "expected '\(key) N' with a number of pages")
            }
            if values[key] == nil { values[key] = value }
        }
        try finish()
        guard !zones.isEmpty else {
            throw ParseError("/proc/zoneinfo", input: text, reason: "no zones")
        }
        self.init(zones: zones)
    }
}
