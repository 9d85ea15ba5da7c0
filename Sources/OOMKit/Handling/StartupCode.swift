import CLinux
import Glibc
import OOMKitCore

/// The code start-up ran and handling does not need, taken out of the address space before memory is
/// locked.
///
/// A file's pages are mapped 64 KiB at a time around every page touched (the kernel's fault-around), so
/// parsing the command line, reading the configuration and setting up a thousand watches leave megabytes
/// of code resident that no handling runs again; mlockall would then pin them for the life of the watch.
/// ``release()`` drops every executable file mapping's page table entries (madvise MADV_DONTNEED; the
/// pages stay in the page cache), so the warm-up that follows faults back only what it runs; mlockall
/// locks that on fault, and ``lockHandlingCode()`` the rest of the handling path's code, whole. Only
/// clean mappings are touched: an executable mapping with
/// private copies of pages (a debugger's breakpoints, text relocations) is left as it is, since dropping
/// those would lose what was written.
package enum StartupCode {
    /// Drops the page table entries of every clean executable file mapping; returns how much was resident
    /// in them before (what the warm-up does not fault back in is what this saved).
    @discardableResult
    @inline(never)  // scripts/gen-symbol-order finds it by name in the binary
    package static func release() -> ByteCount {
        guard let text = try? FileIO.readText(path: "/proc/self/smaps") else { return .zero }
        var released: UInt64 = 0
        for mapping in ExecutableMapping.list(inSmaps: text) where mapping.isClean {
            guard let start = UnsafeMutableRawPointer(bitPattern: mapping.start) else { continue }
            if madvise(start, Int(mapping.end - mapping.start), MADV_DONTNEED) == 0 {
                released += mapping.resident.bytes
            }
        }
        return ByteCount(released)
    }

    /// The most code that ``lockHandlingCode()`` locks: more means the markers are not where the
    /// release link puts them (a debug build, a link without the ordering file).
    static let handlingCodeLimit = 16 << 20

    /// Faults in and locks the code between the release link's markers (`oomctl_hot_code_begin` and
    /// `_end`: the guardian's and a handling's functions, laid out together), so that a first OOM never
    /// waits for code to be read back from disk, whatever the warm-up did not run (the kill, a hook's
    /// spawn, a reserve grant). The rest of the process stays locked on fault (mlockall MCL_ONFAULT).
    /// Returns how much was locked; zero where the markers do not bound a plausible range.
    @discardableResult
    package static func lockHandlingCode() -> ByteCount {
        let begin = UInt(bitPattern: unsafeBitCast(oomctl_hot_code_begin as @convention(c) () -> Void, to: Int.self))
        let end = UInt(bitPattern: unsafeBitCast(oomctl_hot_code_end as @convention(c) () -> Void, to: Int.self))
        let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
        let start = begin & ~(page - 1)
        guard end > start, end - start <= handlingCodeLimit, let address = UnsafeRawPointer(bitPattern: start)
        else { return .zero }
        let length = Int(end - start + page)
        return mlock(address, length) == 0 ? ByteCount(UInt64(length)) : .zero
    }
}
