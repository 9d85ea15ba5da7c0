/// One process's identity and memory figures from /proc/PID/status.
///
/// Kernel threads have no memory map, so their memory fields are nil (not zero, not an error).
public struct ProcessStatus: Sendable, Hashable, Codable {
    /// `Name`: the command name (comm, at most 15 bytes; the kernel escapes odd characters).
    public var name: String
    /// `Pid`.
    public var pid: Int32
    /// `PPid`: the parent (0 for PID 1 and kthreadd).
    public var parentPid: Int32?
    /// The real user ID: the first value of `Uid`.
    public var uid: UInt32?
    /// The state letter from `State`: `R`, `S`, `D`, `Z`, `T`, `I`…
    public var state: String?
    /// `VmRSS`: resident memory (anonymous + file + shmem).
    public var residentSet: ByteCount?
    /// `VmSwap`: anonymous memory swapped out.
    public var swap: ByteCount?
    /// `RssAnon`: resident anonymous memory.
    public var residentAnon: ByteCount?
    /// `RssFile`: resident file mappings.
    public var residentFile: ByteCount?
    /// `RssShmem`: resident shared memory.
    public var residentShmem: ByteCount?
    /// `VmSize`: virtual address space.
    public var virtualSize: ByteCount?
    /// `Threads`.
    public var threads: Int?
    /// `VmLck`: locked memory (mlock, mlockall).
    public var lockedMemory: ByteCount?

    /// A status with the given fields; those not given are nil (absent from the file).
    public init(
        name: String, pid: Int32, parentPid: Int32? = nil, uid: UInt32? = nil, state: String? = nil,
        residentSet: ByteCount? = nil, swap: ByteCount? = nil, residentAnon: ByteCount? = nil,
        residentFile: ByteCount? = nil, residentShmem: ByteCount? = nil, virtualSize: ByteCount? = nil,
        threads: Int? = nil, lockedMemory: ByteCount? = nil
    ) {
        self.name = name
        self.pid = pid
        self.parentPid = parentPid
        self.uid = uid
        self.state = state
        self.residentSet = residentSet
        self.swap = swap
        self.residentAnon = residentAnon
        self.residentFile = residentFile
        self.residentShmem = residentShmem
        self.virtualSize = virtualSize
        self.threads = threads
        self.lockedMemory = lockedMemory
    }

    /// Parses the text of /proc/PID/status. `Name` and `Pid` are required; unknown keys are skipped.
    public init(parsing text: String) throws(ParseError) {
        let bytes = text.utf8.span
        guard let lines = try Lines(bytes, stopOnceSampled: false) else {
            // Unreachable: a String is valid UTF-8, so non-ASCII lines are always accepted.
            throw ParseError("/proc/PID/status", input: text, reason: "invalid UTF-8")
        }
        let name = try lines.name(bytes)
        let pid = try lines.pid(bytes)
        let parentPid = try lines.integer(bytes, lines.parentPid).flatMap { Int32(exactly: $0) }
        let uid = try lines.integer(bytes, lines.uid).flatMap { UInt32(exactly: $0) }
        let state = lines.state.flatMap { value in
            ProcfsBytes.firstField(bytes, in: value.value).map { ProcfsBytes.text(bytes, $0) }
        }
        self.init(
            name: name, pid: pid, parentPid: parentPid, uid: uid, state: state,
            residentSet: try lines.size(bytes, lines.residentSet), swap: try lines.size(bytes, lines.swap),
            residentAnon: try lines.size(bytes, lines.residentAnon),
            residentFile: try lines.size(bytes, lines.residentFile),
            residentShmem: try lines.size(bytes, lines.residentShmem),
            virtualSize: try lines.size(bytes, lines.virtualSize),
            threads: try lines.integer(bytes, lines.threads).flatMap { Int(exactly: $0) },
            lockedMemory: try lines.size(bytes, lines.lockedMemory))
    }

    /// The figures of ``ProcessSample`` straight from the bytes of /proc/PID/status: the hot path of a
    /// snapshot (once per process). One pass that stops at the last line it needs (`VmSwap`, about
    /// halfway), no dictionary, no String but the name.
    ///
    /// Gives the same sample as `ProcessSample(status: ProcessStatus(parsing:))` whenever that parses, and
    /// throws whenever this throws; it does not check the lines after `VmSwap` nor the keys it does not
    /// use (`PPid`, `Threads`…), so it accepts a file whose unused fields are malformed.
    static func sample(parsing bytes: [UInt8]) throws(ParseError) -> ProcessSample {
        let span = bytes.span
        if let lines = try Lines(span, stopOnceSampled: true, acceptNonASCII: false) {
            return try lines.sample(span)
        }
        // A non-ASCII line (a name in UTF-8): parse the repaired text, as ProcessStatus(parsing:) would.
        let text = String(decoding: bytes, as: UTF8.self)
        let textBytes = text.utf8.span
        guard let lines = try Lines(textBytes, stopOnceSampled: true) else {
            throw ParseError("/proc/PID/status", input: text, reason: "invalid UTF-8")
        }
        return try lines.sample(textBytes)
    }

    /// One `Key:\tvalue` line of interest: the whole line (for error messages) and its value.
    struct Line {
        var line: Range<Int>
        var value: Range<Int>
    }

    /// The first line of each key used, found in one pass over the file.
    struct Lines {
        var name: Line?
        var pid: Line?
        var parentPid: Line?
        var uid: Line?
        var state: Line?
        var residentSet: Line?
        var swap: Line?
        var residentAnon: Line?
        var residentFile: Line?
        var residentShmem: Line?
        var virtualSize: Line?
        var threads: Line?
        var lockedMemory: Line?
        /// The whole text, for the errors that quote it.
        var all: Range<Int>

        /// Scans `bytes`, throwing at the first line that is not `Key:value`. With `stopOnceSampled`, stops
        /// once `Name`, `Pid`, `VmRSS` and `VmSwap` are found. Returns nil at a non-ASCII line when
        /// `acceptNonASCII` is false (the bytes may then be invalid UTF-8, which the caller repairs first).
        init?(_ bytes: Span<UInt8>, stopOnceSampled: Bool, acceptNonASCII: Bool = true) throws(ParseError) {
            all = 0..<bytes.count
            var rejected = false
            var failure: ParseError?
            var found = self
            ProcfsBytes.forEachLine(bytes) { line, isASCII in
                let key: Range<Int>
                let value: Range<Int>
                if isASCII, let split = ProcfsBytes.keyValue(bytes, line) {
                    (key, value) = split
                } else if !isASCII, acceptNonASCII, let split = Self.keyValue(nonASCII: bytes, line) {
                    (key, value) = split
                } else if !isASCII, !acceptNonASCII {
                    rejected = true
                    return false
                } else {
                    failure = ParseError(
                        "/proc/PID/status", input: ProcfsBytes.text(bytes, line), reason: "expected 'Key:\tvalue' lines"
                    )
                    return false
                }
                found.record(bytes, key: key, Line(line: line, value: value))
                return
                    !(stopOnceSampled && found.name != nil && found.pid != nil && found.residentSet != nil
                    && found.swap != nil)
            }
            if let failure { throw failure }
            if rejected { return nil }
            self = found
        }

        /// A non-ASCII line split by Characters, exactly as ProcessStatus always did; `bytes` must be
        /// valid UTF-8 so that the Character offsets are the byte offsets.
        private static func keyValue(nonASCII bytes: Span<UInt8>, _ line: Range<Int>) -> (Range<Int>, Range<Int>)? {
            let text = ProcfsBytes.text(bytes, line)
            guard text.utf8.count == line.count, let (key, value) = ProcfsText.keyValue(Substring(text)) else {
                return nil
            }
            let valueStart = line.lowerBound + text.utf8.distance(from: text.startIndex, to: value.startIndex)
            return (line.lowerBound..<line.lowerBound + key.utf8.count, valueStart..<line.upperBound)
        }

        /// Keeps the first line of each key used.
        private mutating func record(_ bytes: Span<UInt8>, key: Range<Int>, _ line: Line) {
            func take(_ slot: inout Line?) { if slot == nil { slot = line } }
            switch key.count {
            case 3:
                if ProcfsBytes.equals(bytes, key, "Pid") { take(&pid) }
                if ProcfsBytes.equals(bytes, key, "Uid") { take(&uid) }
            case 4:
                if ProcfsBytes.equals(bytes, key, "Name") { take(&name) }
                if ProcfsBytes.equals(bytes, key, "PPid") { take(&parentPid) }
            case 5:
                if ProcfsBytes.equals(bytes, key, "VmRSS") { take(&residentSet) }
                if ProcfsBytes.equals(bytes, key, "State") { take(&state) }
                if ProcfsBytes.equals(bytes, key, "VmLck") { take(&lockedMemory) }
            case 6:
                if ProcfsBytes.equals(bytes, key, "VmSwap") { take(&swap) }
                if ProcfsBytes.equals(bytes, key, "VmSize") { take(&virtualSize) }
            case 7:
                if ProcfsBytes.equals(bytes, key, "RssAnon") { take(&residentAnon) }
                if ProcfsBytes.equals(bytes, key, "RssFile") { take(&residentFile) }
                if ProcfsBytes.equals(bytes, key, "Threads") { take(&threads) }
            case 8:
                if ProcfsBytes.equals(bytes, key, "RssShmem") { take(&residentShmem) }
            default:
                break
            }
        }

        /// `Name`, without the one tab or space after the colon.
        func name(_ bytes: Span<UInt8>) throws(ParseError) -> String {
            guard let line = name else {
                throw ParseError("/proc/PID/status", input: ProcfsBytes.text(bytes, all), reason: "no Name line")
            }
            var value = line.value
            if let first = value.first, first < bytes.count {
                let next = value.count > 1 && value.lowerBound + 1 < bytes.count ? bytes[value.lowerBound + 1] : 0
                if bytes[first] == 0x09 || (bytes[first] == 0x20 && next < 0x80) {
                    value = value.dropFirst()
                } else if bytes[first] == 0x20 {
                    // A space then a non-ASCII scalar may be one Character (a combining mark): decide by
                    // Characters, as ProcessStatus always did.
                    let text = ProcfsBytes.text(bytes, value)
                    return text.first == " " ? String(text.dropFirst()) : text
                }
            }
            return ProcfsBytes.text(bytes, value)
        }

        /// `Pid`: required, a decimal that fits Int32.
        func pid(_ bytes: Span<UInt8>) throws(ParseError) -> Int32 {
            guard let line = pid, let field = ProcfsBytes.firstField(bytes, in: line.value),
                let value = ProcfsBytes.decimal(bytes, field), let pid = Int32(exactly: value)
            else {
                throw ParseError(
                    "/proc/PID/status", input: ProcfsBytes.text(bytes, pid?.value ?? all), reason: "no valid Pid line")
            }
            return pid
        }

        /// The first field of an integer line; nil if the key is absent, an error if it is not a decimal.
        func integer(_ bytes: Span<UInt8>, _ line: Line?) throws(ParseError) -> UInt64? {
            guard let line else { return nil }
            guard let field = ProcfsBytes.firstField(bytes, in: line.value),
                let value = ProcfsBytes.decimal(bytes, field)
            else {
                throw ParseError(
                    "/proc/PID/status", input: ProcfsBytes.text(bytes, line.line), reason: "expected a number")
            }
            return value
        }

        /// An `N kB` line; nil if the key is absent, an error if malformed.
        func size(_ bytes: Span<UInt8>, _ line: Line?) throws(ParseError) -> ByteCount? {
            guard let line else { return nil }
            guard let size = ProcfsBytes.kibibytes(bytes, line.value) else {
                throw ParseError(
                    "/proc/PID/status", input: ProcfsBytes.text(bytes, line.line), reason: "expected 'N kB'")
            }
            return size
        }

        /// The figures of a sample, checked in the order ProcessStatus(parsing:) checks them.
        func sample(_ bytes: Span<UInt8>) throws(ParseError) -> ProcessSample {
            let name = try name(bytes)
            let pid = try pid(bytes)
            let residentSet = try size(bytes, residentSet)
            let swap = try size(bytes, swap)
            return ProcessSample(pid: pid, name: name, residentSet: residentSet ?? .zero, swap: swap ?? .zero)
        }
    }
}
