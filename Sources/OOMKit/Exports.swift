// `import OOMKit` gives the whole library: the core (parsers, cgroupfs, snapshots, policies) and the
// journal (swift-log handlers) as well as what lives here.
@_exported import OOMKitCore
@_exported import OOMKitJournal
