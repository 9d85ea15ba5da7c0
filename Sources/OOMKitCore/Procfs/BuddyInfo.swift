/// Free memory fragmentation per zone, from /proc/buddyinfo.
public struct BuddyInfo: Sendable, Hashable, Codable {
    /// The free blocks of one zone.
    public struct Zone: Sendable, Hashable, Codable {
        /// The NUMA node.
        public var node: Int
        /// The zone name: `DMA`, `DMA32`, `Normal`, `Movable`…
        public var name: String
        /// Free blocks of 2^order pages, indexed by order (0 = single pages).
        public var freeBlocksByOrder: [UInt64]

        public init(node: Int, name: String, freeBlocksByOrder: [UInt64]) {
            self.node = node
            self.name = name
            self.freeBlocksByOrder = freeBlocksByOrder
        }

        /// Free pages in the zone: the sum of blocks × 2^order (saturating).
        public var freePages: UInt64 {
            var total: UInt64 = 0
            for (order, blocks) in freeBlocksByOrder.enumerated() {
                let pages = order < 64 ? ProcfsText.saturatingProduct(blocks, UInt64(1) << UInt64(order)) : UInt64.max
                total = ProcfsText.saturatingSum(total, blocks == 0 ? 0 : pages)
            }
            return total
        }
    }

    /// The zones in file order.
    public var zones: [Zone]

    public init(zones: [Zone]) {
        self.zones = zones
    }

    /// Parses the text of /proc/buddyinfo: `Node 0, zone   Normal    3   4 …`.
    public init(parsing text: String) throws(ParseError) {
        var zones: [Zone] = []
        for line in ProcfsText.lines(text) {
            guard let (node, name, rest) = ZoneHeader.parse(ProcfsText.fields(line)) else {
                if ProcfsText.fields(line).isEmpty { continue }
                throw ParseError("/proc/buddyinfo", input: line, reason: "expected 'Node N, zone NAME COUNT…'")
            }
            let counts = rest.compactMap(ProcfsText.decimal)
            guard counts.count == rest.count, !counts.isEmpty else {
                throw ParseError("/proc/buddyinfo", input: line, reason: "expected a free block count per order")
            }
            zones.append(Zone(node: node, name: name, freeBlocksByOrder: counts))
        }
        guard !zones.isEmpty else {
            throw ParseError("/proc/buddyinfo", input: text, reason: "no zones")
        }
        self.init(zones: zones)
    }
}
