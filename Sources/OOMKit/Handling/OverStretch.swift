import OOMKitCore

/// How long a condition — a v1 OOM (memory.oom_control `under_oom` 0), a v2 distress — has read as over,
/// as looked at: the one rule of when it is over for good, for watch's handling and for the guardian's
/// deadline alike. A task the kernel woke to retry its charge reads as over for a moment, so one look
/// proves nothing: the stretch must last. It ends at a look that finds the condition not over, at
/// ``interrupt()`` (v1: the kernel notified the OOM again), and, with a maximum gap, when two looks are
/// further apart than that (nobody saw what happened between them).
package struct OverStretch: Sendable {
    /// Since when it has been over, as looked at; nil when it was not at the last look (or interrupted).
    package private(set) var since: ContinuousClock.Instant?
    private var lastLook: ContinuousClock.Instant?

    package init() {}

    /// One look at `now` that found the condition `over` or not. Returns how long it has been over, as
    /// looked at (zero at the first look that finds it so); nil when it is not over.
    package mutating func look(
        over: Bool, at now: ContinuousClock.Instant, maximumGap: Duration? = nil
    )
        -> Duration?
    {
        if let maximumGap, let lastLook, now - lastLook > maximumGap { since = nil }
        lastLook = now
        guard over else {
            since = nil
            return nil
        }
        let start = since ?? now
        since = start
        return now - start
    }

    /// What was looked at no longer counts: the condition came back (v1: notified again), or the
    /// looking starts afresh.
    package mutating func interrupt() { since = nil }
}
