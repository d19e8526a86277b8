// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "gradebox",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SandboxCore", targets: ["SandboxCore"]),
        .library(name: "BenchCore", targets: ["BenchCore"]),
        .executable(name: "gradebox", targets: ["gradebox"]),
        .executable(name: "gradebox-bench", targets: ["gradebox-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // Everything between clone() and execve(): async-signal-safe C that
        // carries out a flat plan. No policy lives here.
        .target(name: "CSandbox"),
        .target(
            name: "SandboxCore",
            dependencies: [
                "CSandbox",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        .target(
            name: "BenchCore",
            dependencies: [
                "SandboxCore",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // The sandbox CLI's commands: parsing and printing over SandboxCore.
        .target(
            name: "GradeboxCLI",
            dependencies: [
                "SandboxCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The `gradebox` executable: SandboxCore and the commands only, with
        // the Swift runtime linked in (a dynamically linked runtime costs ~6 ms
        // of loading and relocation per process), so `gradebox run` starts in
        // a few milliseconds.
        .executableTarget(
            name: "gradebox",
            dependencies: ["GradeboxCLI"],
            linkerSettings: [.unsafeFlags(["-static-stdlib", "-l_FoundationCollections", "-l_FoundationCShims"])]
        ),
        // `gradebox bench ...`, exec'd by gradebox from beside it.
        .executableTarget(
            name: "gradebox-bench",
            dependencies: [
                "SandboxCore",
                "BenchCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "SandboxCoreTests", dependencies: ["SandboxCore"]),
        .testTarget(name: "SandboxIntegrationTests", dependencies: ["SandboxCore"]),
        .testTarget(name: "BenchCoreTests", dependencies: ["BenchCore"]),
        .testTarget(name: "GradeboxCLITests", dependencies: ["GradeboxCLI"]),
    ]
)
