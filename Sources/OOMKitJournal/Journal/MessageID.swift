import Logging

/// Stable journal MESSAGE_IDs, one per kind of event `oomctl watch` reports.
///
/// Each id is a random 128-bit value generated once and never changed: `journalctl MESSAGE_ID=…`
/// and the message catalog (contrib/oomctl.catalog, one entry per id) depend on it. Attach one to a
/// log entry with the `message_id` metadata key (``metadataKey``), or use ``Logging/Logger/log(_:level:_:metadata:file:function:line:)``.
public enum MessageID: String, CaseIterable, Sendable {
    /// A watched memory cgroup hit OOM (or the event `--on` selects).
    case oomDetected = "f8bce7f8825149299c788ac8be78c796"
    /// A user hook was started for an event.
    case hookStarted = "4daf1f0cf9034625a2db45f1f8e1f767"
    /// A user hook exited (status and output in the fields).
    case hookFinished = "92b436cd57974deca4ba5cce493b7367"
    /// A user hook ran past its timeout and its process group was killed.
    case hookTimedOut = "67c55cbbe9d64701a0ccbc1000cd2411"
    /// The policy picked a victim.
    case victimChosen = "02883b51295a4b419d04560118e8919e"
    /// The victim was killed (freed bytes and latency in the fields).
    case victimKilled = "9c57b3fd88bb41d4a3f7ad5c1e8b8205"
    /// The deadline passed unresolved: the OOM was handed back to the kernel killer.
    case fallbackToKernel = "cac673cbded24fa48b96b4139e6bf474"
    /// The panic action: the snapshot is on disk; the machine is synced and crashed or rebooted next
    /// (or, in a dry run, would be).
    case panicking = "8b7bb483ed60456c8aade5ec64e7c5ab"
    /// The cgroup is no longer under OOM; handling ended.
    case oomResolved = "c6c646dc3bcc418d85b74aeab06b2b41"
    /// A watched cgroup was removed and is no longer watched.
    case cgroupRemoved = "5238704311a74c2989822b3316bdaa35"
    /// `oomctl watch` started watching.
    case watchStarted = "f9ab958d9f114e60890a76818503ac3a"
    /// `oomctl watch` stopped (and restored the kernel killer where it had disabled it).
    case watchStopped = "1d2464975791419ba375de020b1bdb2a"
    /// A cgroup's memory reserve was granted during an OOM.
    case reserveGranted = "8815fb402d194b0c86aaf72f4166246c"
    /// A granted reserve was taken back (the original limit restored).
    case reserveRestored = "d15e802521114fb99690f51aead281d9"
    /// Something the operator should know that is not an event: a fallback, a failed self-protection step.
    case warning = "42fbb9e172824b06a7298ef3a9aa5231"

    /// The metadata key that carries a message id; the journal handler sends it as MESSAGE_ID.
    public static let metadataKey = "message_id"

    /// The level an entry of this kind is logged at unless the caller says otherwise.
    public var defaultLevel: Logger.Level {
        switch self {
        case .panicking: .critical
        case .oomDetected, .hookTimedOut, .victimKilled, .fallbackToKernel, .warning: .warning
        case .victimChosen, .oomResolved, .reserveGranted: .notice
        case .hookStarted, .hookFinished, .cgroupRemoved, .watchStarted, .watchStopped, .reserveRestored: .info
        }
    }
}

extension Logger {
    /// Logs an event of a known kind: the entry carries `message_id` (MESSAGE_ID in the journal,
    /// `messageID` in JSON lines) and is logged at the kind's ``MessageID/defaultLevel`` unless
    /// `level` is given.
    public func log(
        _ id: MessageID,
        level: Logger.Level? = nil,
        _ message: @autoclosure () -> Logger.Message,
        metadata: @autoclosure () -> Logger.Metadata? = nil,
        file: String = #fileID,
        function: String = #function,
        line: UInt = #line
    ) {
        let level = level ?? id.defaultLevel
        guard self.logLevel <= level else { return }
        var fields = metadata() ?? [:]
        fields[MessageID.metadataKey] = .string(id.rawValue)
        self.log(
            level: level, message(), metadata: fields, source: nil, file: file,
            function: function, line: line)
    }
}
