@testable import OOMKit
@testable import OOMKitCore

/// The procfs parsers as they were before the byte-level rewrite (commit 59dccd0), kept verbatim
/// as the reference the fast parsers are checked against: same value, or the same error.
enum LegacyProcfs {
    static func status(_ text: String) throws(ParseError) -> ProcessStatus {
        var values: [Substring: Substring] = [:]
        for line in ProcfsText.lines(text) {
            guard let (key, value) = ProcfsText.keyValue(line) else {
                throw ParseError("/proc/PID/status", input: line, reason: "expected 'Key:\tvalue' lines")
            }
            if values[key] == nil { values[key] = value }
        }
        guard let rawName = values["Name"] else {
            throw ParseError("/proc/PID/status", input: text, reason: "no Name line")
        }
        guard let pidText = values["Pid"], let pid = statusPid(pidText) else {
            throw ParseError("/proc/PID/status", input: values["Pid"] ?? Substring(text), reason: "no valid Pid line")
        }

        func integer(_ key: Substring) throws(ParseError) -> Substring? {
            guard let value = values[key] else { return nil }
            guard let first = ProcfsText.fields(value).first, ProcfsText.decimal(first) != nil else {
                throw ParseError("/proc/PID/status", input: "\(key):\(value)", reason: "expected a number")
            }
            return first
        }
        func size(_ key: Substring) throws(ParseError) -> ByteCount? {
            guard let value = values[key] else { return nil }
            guard let bytes = ProcfsText.kibibytes(value) else {
                throw ParseError("/proc/PID/status", input: "\(key):\(value)", reason: "expected 'N kB'")
            }
            return bytes
        }

        var name = rawName
        if name.first == "\t" || name.first == " " { name = name.dropFirst() }
        return ProcessStatus(
            name: String(name), pid: pid,
            parentPid: try integer("PPid").flatMap { Int32($0) },
            uid: try integer("Uid").flatMap { UInt32($0) },
            state: values["State"].flatMap { ProcfsText.fields($0).first }.map(String.init),
            residentSet: try size("VmRSS"), swap: try size("VmSwap"), residentAnon: try size("RssAnon"),
            residentFile: try size("RssFile"), residentShmem: try size("RssShmem"), virtualSize: try size("VmSize"),
            threads: try integer("Threads").flatMap { Int($0) },
            // Not in the parser of commit 59dccd0: VmLck came later, parsed like the other sizes.
            lockedMemory: try size("VmLck"))
    }

    private static func statusPid(_ value: Substring) -> Int32? {
        guard let text = ProcfsText.fields(value).first, ProcfsText.decimal(text) != nil else { return nil }
        return Int32(text)
    }

    static func vmalloc(_ text: String) throws(ParseError) -> VmallocInfo {
        typealias Caller = VmallocInfo.Caller
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
            let name = callerName(rest)
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
        return VmallocInfo(totalBytes: total, totalPages: totalPages, allocations: allocations, callers: callers)
    }

    private static let flags: Set<Substring> = [
        "ioremap", "vmalloc", "vmap", "user", "dma-coherent", "vpages", "vm_map_ram",
    ]

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

    static func slab(_ text: String, pageSize: UInt64 = 4096) throws(ParseError) -> SlabInfo {
        let lines = ProcfsText.lines(text)
        guard let header = lines.first, header.hasPrefix("slabinfo - version: 2.") else {
            throw ParseError(
                "/proc/slabinfo", input: lines.first ?? "", reason: "expected the header 'slabinfo - version: 2.x'")
        }
        var caches: [SlabInfo.Cache] = []
        for line in lines.dropFirst() where !line.hasPrefix("#") {
            caches.append(try cache(line, pageSize: pageSize))
        }
        return SlabInfo(caches: caches)
    }

    private static func cache(_ line: Substring, pageSize: UInt64) throws(ParseError) -> SlabInfo.Cache {
        let parts = ProcfsText.fields(line)
        let reason = "expected 'name <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> … : slabdata …'"
        guard parts.count >= 6, let slabdata = parts.firstIndex(of: "slabdata"), slabdata + 2 < parts.count else {
            throw ParseError("/proc/slabinfo", input: line, reason: reason)
        }
        let values = parts[1...5].compactMap(ProcfsText.decimal)
        guard values.count == 5, let activeSlabs = ProcfsText.decimal(parts[slabdata + 1]),
            let slabs = ProcfsText.decimal(parts[slabdata + 2])
        else {
            throw ParseError("/proc/slabinfo", input: line, reason: reason)
        }
        return SlabInfo.Cache(
            name: String(parts[0]), activeObjects: values[0], objects: values[1], objectSize: ByteCount(values[2]),
            objectsPerSlab: values[3], pagesPerSlab: values[4], activeSlabs: activeSlabs, slabs: slabs,
            bytes: ByteCount(ProcfsText.saturatingProduct(slabs, values[4], pageSize)))
    }

    static func memInfo(_ text: String) throws(ParseError) -> MemInfo {
        var fields: [String: ByteCount] = [:]
        var counts: [String: UInt64] = [:]
        for line in ProcfsText.lines(text) {
            guard let (key, value) = ProcfsText.keyValue(line) else {
                throw ParseError("/proc/meminfo", input: line, reason: "expected 'Key: value' lines")
            }
            let parts = ProcfsText.fields(value)
            if parts.count == 1, let count = ProcfsText.decimal(parts[0]) {
                counts[String(key)] = count
            } else if let bytes = ProcfsText.kibibytes(value) {
                fields[String(key)] = bytes
            } else {
                throw ParseError("/proc/meminfo", input: line, reason: "expected a number, optionally followed by kB")
            }
        }
        guard !fields.isEmpty || !counts.isEmpty else {
            throw ParseError("/proc/meminfo", input: text, reason: "no fields")
        }
        return MemInfo(fields: fields, counts: counts)
    }

    static func vmStat(_ text: String) throws(ParseError) -> VMStat {
        var counters: [String: UInt64] = [:]
        for line in ProcfsText.lines(text) {
            let parts = ProcfsText.fields(line)
            guard parts.count == 2, let value = ProcfsText.decimal(parts[1]) else {
                throw ParseError(
                    "/proc/vmstat", input: line, reason: "expected 'name value' with a non-negative number")
            }
            counters[String(parts[0])] = value
        }
        guard !counters.isEmpty else {
            throw ParseError("/proc/vmstat", input: text, reason: "no counters")
        }
        return VMStat(counters: counters)
    }
}
