// swift-tools-version: 6.1
import PackageDescription

#if canImport(Glibc)
    import Glibc
#endif

/// The release link of the oomctl executable (ARCHITECTURE.md, "Footprint"): lld with the functions that
/// the guardian and a handling run laid out together (Sources/oomctl/symbol-order.txt, made by
/// scripts/gen-symbol-order; a stale one is harmless) and no exported dynamic symbols, plus packed
/// relative relocations where the C library building it loads them (glibc 2.36 or later: an older
/// loader refuses such a binary; OOMCTL_PACK_RELOCATIONS=0 or 1 in the environment decides instead, e.g.
/// when the binary is built for an older system than the one building it). Needs lld, which Swift's
/// toolchains for Linux ship. Only on the executable: unsafe flags on a library would keep other
/// packages from using it.
let packageDirectory = Context.packageDirectory
let releaseLink: [LinkerSetting] = [
    .unsafeFlags(
        [
            "-use-ld=lld",
            "-Xlinker", "--no-export-dynamic",
            "-Xlinker", "--symbol-ordering-file=\(packageDirectory)/Sources/oomctl/symbol-order.txt",
            "-Xlinker", "--no-warn-symbol-ordering",
        ] + (packsRelocations ? ["-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"] : []),
        .when(platforms: [.linux], configuration: .release))
]

/// OOMCTL_PACK_RELOCATIONS when set, else whether the glibc this manifest runs on is 2.36 or later.
var packsRelocations: Bool {
    switch Context.environment["OOMCTL_PACK_RELOCATIONS"] {
    case "0"?: return false
    case "1"?: return true
    default: break
    }
    #if canImport(Glibc)
        var name = [CChar](repeating: 0, count: 64)  // "glibc 2.36"
        guard confstr(Int32(_CS_GNU_LIBC_VERSION), &name, name.count) > 0 else { return false }
        let text = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let version = text.split(separator: " ").last ?? ""
        let parts = version.split(separator: ".").compactMap { Int($0) }
        return parts.count >= 2 && (parts[0], parts[1]) >= (2, 36)
    #else
        return false
    #endif
}

let package = Package(
    name: "oomctl",
    products: [
        .executable(name: "oomctl", targets: ["oomctl"]),
        .library(name: "OOMKit", targets: ["OOMKit"]),
        // The parsers, the cgroupfs layer, snapshots and policies alone: no libsystemd, no swift-log.
        .library(name: "OOMKitCore", targets: ["OOMKitCore"]),
        // The swift-log handlers (journal, console, JSON lines) and the log selection.
        .library(name: "OOMKitJournal", targets: ["OOMKitJournal"]),
        // A program of one's own on OOMKit alone: one cgroup, a hook, a kill policy, the guardian.
        .executable(name: "oomkit-example", targets: ["oomkit-example"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        // Metrics: OOMKit records through CoreMetrics (not the Metrics product, which imports Foundation);
        // the CLI renders with swift-prometheus (no Foundation either).
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-system", exact: "1.8.1"),
    ],
    targets: [
        // sd-journal's sd_journal_sendv, from libsystemd loaded when journal output is first used
        // (dlopen; not linked, so that a start maps 7 libraries fewer). The header comes from Debian's
        // libsystemd-dev; at run time journal output needs libsystemd0.
        .target(name: "CSystemd", linkerSettings: [.linkedLibrary("dl")]),
        // Tiny C shims for calls Swift cannot make directly (syscall(2)-only, variadic).
        .target(name: "CLinux"),
        // Support, Cgroupfs, Procfs, Snapshot, Policy: links neither libsystemd nor swift-log.
        .target(
            name: "OOMKitCore",
            dependencies: [
                "CLinux",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // Journal: the swift-log handlers over sd-journal.
        .target(
            name: "OOMKitJournal",
            dependencies: [
                "OOMKitCore",
                "CLinux",
                "CSystemd",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Events, Handling, Actions, Reserve, Sandbox, Service (and its metrics, through CoreMetrics);
        // re-exports OOMKitCore and OOMKitJournal.
        .target(
            name: "OOMKit",
            dependencies: [
                "OOMKitCore",
                "OOMKitJournal",
                "CLinux",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "OomctlCommands",
            dependencies: [
                "OOMKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "oomctl", dependencies: ["OomctlCommands", "OOMKit", "OOMKitCore"], exclude: ["symbol-order.txt"],
            linkerSettings: releaseLink),
        .executableTarget(name: "oomkit-example", dependencies: ["OOMKit"], path: "Examples/oomkit-example"),
        // Shared by the test targets: real test cgroups, fixture trees, spawning the built binary.
        .target(name: "OOMTestSupport", dependencies: ["OOMKit"], path: "Tests/OOMTestSupport"),
        .testTarget(
            name: "OOMKitTests",
            dependencies: [
                "OOMKit", "OOMKitCore", "OOMTestSupport", "CLinux",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "OomctlTests",
            dependencies: [
                "OomctlCommands", "OOMKit", "OOMTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
