// swift-tools-version: 6.1
import PackageDescription

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
        // libsystemd (sd-journal); headers and pkg-config file from Debian's libsystemd-dev.
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
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
        .executableTarget(name: "oomctl", dependencies: ["OomctlCommands", "OOMKit", "OOMKitCore"]),
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
