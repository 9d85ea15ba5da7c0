/// The kernel's slab caches, from /proc/slabinfo (root only).
public struct SlabInfo: Sendable, Hashable, Codable {
    /// One slab cache: one line of /proc/slabinfo.
    public struct Cache: Sendable, Hashable, Codable {
        /// The cache name, e.g. `dentry` or `kmalloc-64`.
        public var name: String
        /// Objects in use.
        public var activeObjects: UInt64
        /// Objects allocated (in use or free) in the cache's slabs.
        public var objects: UInt64
        /// The size of one object.
        public var objectSize: ByteCount
        /// Objects that fit in one slab.
        public var objectsPerSlab: UInt64
        /// Pages that make up one slab.
        public var pagesPerSlab: UInt64
        /// Slabs holding at least one object in use.
        public var activeSlabs: UInt64
        /// All slabs of the cache.
        public var slabs: UInt64
        /// Memory held by the cache: slabs × pages per slab × page size.
        public var bytes: ByteCount

        public init(
            name: String, activeObjects: UInt64, objects: UInt64, objectSize: ByteCount, objectsPerSlab: UInt64,
            pagesPerSlab: UInt64, activeSlabs: UInt64, slabs: UInt64, bytes: ByteCount
        ) {
            self.name = name
            self.activeObjects = activeObjects
            self.objects = objects
            self.objectSize = objectSize
            self.objectsPerSlab = objectsPerSlab
            self.pagesPerSlab = pagesPerSlab
            self.activeSlabs = activeSlabs
            self.slabs = slabs
            self.bytes = bytes
        }
    }

    /// The caches in file order.
    public var caches: [Cache]

    public init(caches: [Cache]) {
        self.caches = caches
    }

    /// Memory held by all caches (saturating).
    public var totalBytes: ByteCount {
        caches.reduce(ByteCount.zero) { $0 + $1.bytes }
    }

    /// The `n` caches holding the most memory, largest first (ties by name).
    public func top(_ n: Int) -> [Cache] {
        guard n > 0 else { return [] }
        let sorted = caches.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.name < $1.name }
        return Array(sorted.prefix(n))
    }

    /// Parses the text of /proc/slabinfo (format version 2.x).
    ///
    /// - Parameter pageSize: the system page size in bytes, used to compute each cache's ``Cache/bytes``.
    public init(parsing text: String, pageSize: UInt64 = 4096) throws(ParseError) {
        let bytes = text.utf8.span
        var caches: [Cache] = []
        var fields: [Range<Int>] = []
        var failure: ParseError?
        var sawHeader = false
        ProcfsBytes.forEachLine(bytes) { line, isASCII in
            do throws(ParseError) {
                let ascii = isASCII ? nil : Substring(ProcfsBytes.text(bytes, line))
                if !sawHeader {
                    sawHeader = true
                    guard ascii?.hasPrefix(Self.header) ?? ProcfsBytes.hasPrefix(bytes, line, "slabinfo - version: 2.")
                    else {
                        throw ParseError(
                            "/proc/slabinfo", input: ProcfsBytes.text(bytes, line), reason: Self.headerReason)
                    }
                } else if let line = ascii {
                    if !line.hasPrefix("#") { caches.append(try Self.cache(line, pageSize: pageSize)) }
                } else if !ProcfsBytes.hasPrefix(bytes, line, "#") {
                    caches.append(try Self.cache(bytes, line, fields: &fields, pageSize: pageSize))
                }
                return true
            } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
        guard sawHeader else { throw ParseError("/proc/slabinfo", input: "", reason: Self.headerReason) }
        self.init(caches: caches)
    }

    private static let header = "slabinfo - version: 2."
    private static let headerReason = "expected the header 'slabinfo - version: 2.x'"
    private static let lineReason =
        "expected 'name <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> … : slabdata …'"

    /// One ASCII cache line, by bytes; `fields` is scratch space reused from line to line.
    private static func cache(
        _ bytes: Span<UInt8>, _ line: Range<Int>, fields: inout [Range<Int>], pageSize: UInt64
    ) throws(ParseError) -> Cache {
        fields.removeAll(keepingCapacity: true)
        var position = line.lowerBound
        var slabdata: Int?
        while let field = ProcfsBytes.nextField(bytes, in: line, from: &position) {
            if slabdata == nil, ProcfsBytes.equals(bytes, field, "slabdata") { slabdata = fields.count }
            fields.append(field)
        }
        guard fields.count >= 6, let slabdata, slabdata + 2 < fields.count,
            let activeObjects = ProcfsBytes.decimal(bytes, fields[1]),
            let objects = ProcfsBytes.decimal(bytes, fields[2]), let objectSize = ProcfsBytes.decimal(bytes, fields[3]),
            let objectsPerSlab = ProcfsBytes.decimal(bytes, fields[4]),
            let pagesPerSlab = ProcfsBytes.decimal(bytes, fields[5]),
            let activeSlabs = ProcfsBytes.decimal(bytes, fields[slabdata + 1]),
            let slabs = ProcfsBytes.decimal(bytes, fields[slabdata + 2])
        else {
            throw ParseError("/proc/slabinfo", input: ProcfsBytes.text(bytes, line), reason: lineReason)
        }
        return Cache(
            name: ProcfsBytes.text(bytes, fields[0]), activeObjects: activeObjects, objects: objects,
            objectSize: ByteCount(objectSize), objectsPerSlab: objectsPerSlab, pagesPerSlab: pagesPerSlab,
            activeSlabs: activeSlabs, slabs: slabs,
            bytes: ByteCount(ProcfsText.saturatingProduct(slabs, pagesPerSlab, pageSize)))
    }

    /// A line holding non-ASCII text, by Characters, as this parser always did:
    /// `name active num objsize objperslab pagesperslab : tunables … : slabdata active num sharedavail`.
    private static func cache(_ line: Substring, pageSize: UInt64) throws(ParseError) -> Cache {
        let parts = ProcfsText.fields(line)
        guard parts.count >= 6, let slabdata = parts.firstIndex(of: "slabdata"), slabdata + 2 < parts.count else {
            throw ParseError("/proc/slabinfo", input: line, reason: lineReason)
        }
        let values = parts[1...5].compactMap(ProcfsText.decimal)
        guard values.count == 5, let activeSlabs = ProcfsText.decimal(parts[slabdata + 1]),
            let slabs = ProcfsText.decimal(parts[slabdata + 2])
        else {
            throw ParseError("/proc/slabinfo", input: line, reason: lineReason)
        }
        return Cache(
            name: String(parts[0]), activeObjects: values[0], objects: values[1], objectSize: ByteCount(values[2]),
            objectsPerSlab: values[3], pagesPerSlab: values[4], activeSlabs: activeSlabs, slabs: slabs,
            bytes: ByteCount(ProcfsText.saturatingProduct(slabs, values[4], pageSize)))
    }
}
