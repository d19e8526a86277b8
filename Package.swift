// swift-tools-version: 6.1
import PackageDescription

/// The library and the CLI reach a generic type's metadata through its
/// accessor, not by demangling its name: a `gradebox run` process uses each
/// type once, and demangling on first use was ~0.3 ms of it (a tenth of its own
/// CPU time, perf); the accessors make the code a little larger.
let fastFirstUse: [SwiftSetting] = [.unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"])]

let package = Package(
    name: "gradebox",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SandboxCore", targets: ["SandboxCore"]),
        .library(name: "BenchCore", targets: ["BenchCore"]),
        .library(name: "Grading", targets: ["Grading"]),
        .library(name: "Agent", targets: ["Agent"]),
        .executable(name: "gradebox", targets: ["gradebox"]),
        .executable(name: "gradebox-bench", targets: ["gradebox-bench"]),
        .executable(name: "gradebox-grade", targets: ["gradebox-grade"]),
        .executable(name: "gradebox-agent", targets: ["gradebox-agent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // The C core (include/csandbox.h says what each file holds): everything
        // between clone() and execve(), async-signal-safe C that carries out a
        // flat plan; the reaper; namespaces made on a thread of their own; thin
        // wrappers for Swift. No policy lives here.
        .target(name: "CSandbox"),
        .target(
            name: "SandboxCore",
            dependencies: [
                "CSandbox",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: fastFirstUse
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
        // Debian's zlib (zlib1g-dev): a job's /archive is sent gzipped, as INGInious sends it.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // INGInious's task format, results and in-box contract, graded in gradebox boxes.
        .target(
            name: "Grading",
            dependencies: [
                "SandboxCore",
                "CZlib",
                "CZMQ",
                "MessagePack",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // `gradebox agent`: INGInious 0.9.2's agent protocol (MessagePack over
        // ZeroMQ) in front of the grading engine.
        .target(
            name: "Agent",
            dependencies: ["Grading", "MessagePack", "CZMQ"]
        ),
        // A MessagePack codec of our own (no package for it resolves here): INGInious's wire format.
        .target(name: "MessagePack"),
        // Debian's libzmq (libzmq3-dev): the transport INGInious's back-end speaks.
        .systemLibrary(name: "CZMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        // `gradebox agent ...`, exec'd by gradebox from beside it.
        .executableTarget(
            name: "gradebox-agent",
            dependencies: [
                "Agent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The sandbox CLI's commands: parsing and printing over SandboxCore.
        .target(
            name: "GradeboxCLI",
            dependencies: [
                "SandboxCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fastFirstUse
        ),
        // The `gradebox` executable: SandboxCore and the commands only, linked
        // fully statically (Swift runtime, libstdc++, glibc), so `gradebox run`
        // starts in about a millisecond: a dynamically linked Swift runtime costs
        // ~6 ms of loading and relocation per process, and with only the Swift
        // runtime static, loading libstdc++ and libc still took 1.1 ms of a
        // 2.2 ms start here (hello world: 2.4 ms static-stdlib, 1.3 ms fully static).
        // glibc warns that getpwnam_r and friends would need its shared NSS
        // modules at run time: Foundation links them, gradebox never calls them.
        .executableTarget(
            name: "gradebox",
            dependencies: ["GradeboxCLI"],
            linkerSettings: [.unsafeFlags(["-static-executable", "-l_FoundationCollections", "-l_FoundationCShims"])]
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
        // `gradebox grade ...`, exec'd by gradebox from beside it.
        .executableTarget(
            name: "gradebox-grade",
            dependencies: [
                "Grading",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // INGInious's in-box commands (feedback-*, tag, getinput, run_student)
        // as one small C program that `gradebox image build inginious-default`
        // installs in the environment under each command's name. Linked
        // statically so it runs in any image; the Swift runtime the linker
        // brings along is never called.
        .executableTarget(
            name: "gradebox-inbox",
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Wno-unused-parameter"])],
            linkerSettings: [.unsafeFlags(["-static-executable", "-Xlinker", "--gc-sections", "-Xlinker", "-s"])]
        ),
        .testTarget(name: "SandboxCoreTests", dependencies: ["SandboxCore"]),
        .testTarget(name: "SandboxIntegrationTests", dependencies: ["SandboxCore"]),
        .testTarget(name: "BenchCoreTests", dependencies: ["BenchCore"]),
        .testTarget(name: "GradeboxCLITests", dependencies: ["GradeboxCLI"]),
        .testTarget(name: "GradingTests", dependencies: ["Grading"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "MessagePack"]),
    ]
)
