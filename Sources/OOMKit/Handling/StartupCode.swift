import Glibc
import OOMKitCore

/// The code start-up ran and handling does not need, taken out of the address space before memory is
/// locked.
///
/// A file's pages are mapped 64 KiB at a time around every page touched (the kernel's fault-around), so
/// parsing the command line, reading the configuration and setting up a thousand watches leave megabytes
/// of code resident that no handling runs again; mlockall would then pin them for the life of the watch.
/// ``release()`` drops every executable file mapping's page table entries (madvise MADV_DONTNEED; the
/// pages stay in the page cache), so the warm-up that follows faults back only what the handling path
/// runs, and that is what gets locked. Only clean mappings are touched: an executable mapping with
/// private copies of pages (a debugger's breakpoints, text relocations) is left as it is, since dropping
/// those would lose what was written.
package enum StartupCode {
    /// One executable mapping of a file, as /proc/self/smaps lists it.
    struct Mapping: Equatable {
        var start: UInt
        var end: UInt
        var resident: ByteCount
        /// Pages copied on write (a breakpoint, a text relocation): never dropped.
        var anonymous: ByteCount
    }

    /// Drops the page table entries of every clean executable file mapping; returns how much was resident
    /// in them before (what the warm-up does not fault back in is what this saved).
    @discardableResult
    package static func release() -> ByteCount {
        guard let text = try? FileIO.readText(path: "/proc/self/smaps") else { return .zero }
        var released: UInt64 = 0
        for mapping in executableMappings(inSmaps: text) where mapping.anonymous == .zero {
            guard let start = UnsafeMutableRawPointer(bitPattern: mapping.start) else { continue }
            if madvise(start, Int(mapping.end - mapping.start), MADV_DONTNEED) == 0 {
                released += mapping.resident.bytes
            }
        }
        return ByteCount(released)
    }

    /// The private executable mappings of files in a /proc/PID/smaps text (not [vdso] and the like).
    static func executableMappings(inSmaps text: String) -> [Mapping] {
        var mappings: [Mapping] = []
        var current: Mapping?
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.contains("-"), !first.hasSuffix(":") {
                if let current { mappings.append(current) }
                current = nil
                let bounds = first.split(separator: "-")
                guard fields.count >= 6, fields[1] == "r-xp", fields[5].hasPrefix("/"), bounds.count == 2,
                    let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16), end > start
                else { continue }
                current = Mapping(start: start, end: end, resident: .zero, anonymous: .zero)
            } else if current != nil, fields.count >= 2, let kib = UInt64(fields[1]) {
                if first == "Rss:" { current?.resident = ByteCount(kib << 10) }
                if first == "Anonymous:" { current?.anonymous = ByteCount(kib << 10) }
            }
        }
        if let current { mappings.append(current) }
        return mappings
    }
}
