// swift-tools-version: 6.1
import PackageDescription

// libFuzzer targets for every parser of what someone else wrote (issue 13). Not part of the root
// package: the executable calls libFuzzer's driver, which only -sanitize=fuzzer links in, so it only
// links when built the way scripts/fuzz builds it:
//   swift build --package-path Fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// The root package is a path dependency, so OOMKitCore and OOMKit are compiled instrumented too.
let package = Package(
    name: "oomctl-fuzz",
    dependencies: [
        .package(name: "oomctl", path: "..")
    ],
    targets: [
        // The declaration of libFuzzer's driver, which the executable's main calls.
        .target(name: "CFuzzerDriver"),
        .executableTarget(
            name: "oomctl-fuzz",
            dependencies: [
                "CFuzzerDriver",
                .product(name: "OOMKitCore", package: "oomctl"),
                .product(name: "OOMKit", package: "oomctl"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
