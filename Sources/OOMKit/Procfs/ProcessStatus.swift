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

    public init(
        name: String, pid: Int32, parentPid: Int32? = nil, uid: UInt32? = nil, state: String? = nil,
        residentSet: ByteCount? = nil, swap: ByteCount? = nil, residentAnon: ByteCount? = nil,
        residentFile: ByteCount? = nil, residentShmem: ByteCount? = nil, virtualSize: ByteCount? = nil,
        threads: Int? = nil
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
    }

    /// Parses the text of /proc/PID/status. `Name` and `Pid` are required; unknown keys are skipped.
    public init(parsing text: String) throws(ParseError) {
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
        guard let pidText = values["Pid"], let pid = Self.pid(pidText) else {
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
        self.init(
            name: String(name), pid: pid,
            parentPid: try integer("PPid").flatMap { Int32($0) },
            uid: try integer("Uid").flatMap { UInt32($0) },
            state: values["State"].flatMap { ProcfsText.fields($0).first }.map(String.init),
            residentSet: try size("VmRSS"), swap: try size("VmSwap"), residentAnon: try size("RssAnon"),
            residentFile: try size("RssFile"), residentShmem: try size("RssShmem"), virtualSize: try size("VmSize"),
            threads: try integer("Threads").flatMap { Int($0) })
    }

    private static func pid(_ value: Substring) -> Int32? {
        guard let text = ProcfsText.fields(value).first, ProcfsText.decimal(text) != nil else { return nil }
        return Int32(text)
    }
}
