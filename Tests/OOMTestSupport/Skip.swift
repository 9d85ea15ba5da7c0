#if canImport(Testing)
    import Testing
#endif

/// Ends the current test as skipped, with the reason, where it cannot run here (not root, cgroup v2
/// where it needs v1, no trusted attributes, no swap accounting): reported as skipped, never as passed.
/// With Swift 6.3 and later this is Swift Testing's cancellation (`Test.cancel`), which throws; before
/// it, it prints the reason and returns, and the caller's `return` ends the test.
///
///     guard getuid() == 0 else { try skip("needs root"); return }
///
/// This target is built by a plain `swift build` too (the README's first command, in release), where
/// Testing cannot be imported: there it only prints.
#if canImport(Testing)
    public func skip(_ reason: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #if compiler(>=6.3)
            try Test.cancel(Comment(rawValue: reason), sourceLocation: sourceLocation)
        #else
            print("skipped (\(sourceLocation.fileName):\(sourceLocation.line)): \(reason)")
        #endif
    }
#else
    public func skip(_ reason: String, file: StaticString = #fileID, line: UInt = #line) throws {
        print("skipped (\(file):\(line)): \(reason)")
    }
#endif
