import Logging
import Synchronization

/// Installs oomctl's log handler for the whole process.
public enum LoggingSetup {
    private static let bootstrapped = Atomic<Bool>(false)

    /// The handler a selection stands for, at `level`.
    public static func makeHandler(
        for selection: LogSelection, label: String, level: Logger.Level = .info,
        metadataProvider: Logger.MetadataProvider? = nil
    ) -> any LogHandler {
        var handler: any LogHandler
        switch selection.mode {
        case .journal:
            handler = JournalLogHandler(label: label, metadataProvider: metadataProvider)
        case .console:
            handler = ConsoleLogHandler(
                label: label, fileDescriptor: selection.descriptor, metadataProvider: metadataProvider)
        case .json:
            handler = JSONLinesLogHandler(
                label: label, fileDescriptor: selection.descriptor, metadataProvider: metadataProvider)
        }
        handler.logLevel = level
        return handler
    }

    /// Bootstraps swift-log with the selected handler, once per process: `LoggingSystem.bootstrap`
    /// may run only once, so a second call changes nothing and returns false. When the selection
    /// fell back from the journal, the reason is logged once (as a ``MessageID/warning`` entry) on
    /// the fallback output; the caller need not print it again.
    @discardableResult
    public static func bootstrap(_ selection: LogSelection, level: Logger.Level = .info) -> Bool {
        guard bootstrapped.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return false }
        LoggingSystem.bootstrap { label in makeHandler(for: selection, label: label, level: level) }
        if let reason = selection.fallbackReason {
            Logger(label: "oomctl").log(.warning, "\(reason)")
        }
        return true
    }
}
