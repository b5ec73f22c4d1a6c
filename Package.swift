// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "claude-runner",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "claude-runner", targets: ["claude-runner"]),
        .executable(name: "claude-runner-client", targets: ["claude-runner-client"]),
        .library(name: "ClaudeRunner", targets: ["ClaudeRunner"]),
        .library(name: "ClaudeRunnerTransports", targets: ["ClaudeRunnerTransports"]),
        .library(name: "ClaudeRunnerClient", targets: ["ClaudeRunnerClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // posix_spawn with the GNU file actions (a new session, fchdir, closefrom) Swift's Glibc module leaves
        // out, and epoll and pidfd for the process monitor.
        .target(name: "CChildProcess"),
        // The domain: config, runs, the issue protocol, workspaces, state files, GitHub client.
        // Imports no HTTP server and no NATS.
        .target(
            name: "ClaudeRunner",
            dependencies: [
                "CChildProcess",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                // SHA-256 for mirror directory names.
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // A NATS client on SwiftNIO: protocol codec, connection, auth (nkeys, creds), the service API.
        .target(
            name: "NATS",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // HTTP routes: decode, call the service, encode.
        .target(
            name: "ClaudeRunnerTransports",
            dependencies: [
                "ClaudeRunner",
                "NATS",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The client side of the wire protocol, used by `claude-runner-client`.
        .target(
            name: "ClaudeRunnerClient",
            dependencies: [
                "ClaudeRunner",
                "NATS",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "claude-runner",
            dependencies: [
                "ClaudeRunner",
                "ClaudeRunnerTransports",
                "NATS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "claude-runner-client",
            dependencies: [
                "ClaudeRunner",
                "ClaudeRunnerClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // A benchmark: request/reply round trips through the NATS library (scripts/bench-nats.sh).
        .executableTarget(
            name: "nats-bench",
            dependencies: [
                "NATS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // A benchmark: the run ledger's queries on 100,000 runs (swift run -c release ledger-bench).
        .executableTarget(
            name: "ledger-bench",
            dependencies: ["ClaudeRunner", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // Fakes shared by the test targets: a fake `claude`, the real CLI against a fake Anthropic API, a fake GitHub
        // REST server, git fixtures.
        .target(
            name: "ClaudeRunnerTesting",
            dependencies: [
                "ClaudeRunner",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/ClaudeRunnerTesting",
            resources: [.copy("Resources/fake-claude")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NATSTests",
            dependencies: [
                "NATS",
                "ClaudeRunnerTesting",
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ClaudeRunnerTests",
            dependencies: [
                "ClaudeRunner", "ClaudeRunnerTesting", .product(name: "Yams", package: "Yams"),
                // The ledger tests look at the database the ledger wrote (query plans, a newer schema).
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            // Transcripts the real Claude Code CLI printed, read by path.
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ClaudeRunnerTransportsTests",
            dependencies: [
                "ClaudeRunner",
                "ClaudeRunnerTransports",
                "NATS",
                "ClaudeRunnerClient",
                "ClaudeRunnerTesting",
                // The binaries are exercised as a user runs them.
                "claude-runner",
                "claude-runner-client",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
