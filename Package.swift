// swift-tools-version:6.1
// Orbiter: LLM agents, swarms and tools written in Lua, run in-process or as Redis tasks.
//
// Dependencies point down (docs/architecture.md):
//   orbiter (CLI) → OrbiterWorker → OrbiterQueue → OrbiterRedis → CHiredis
//                 → OrbiterClient ↗              → OrbiterLua   → CLua
//                 → OrbiterServer (HTTP API, Hummingbird) → OrbiterClient
//                   OrbiterWorker → OrbiterModels                → OrbiterCore
//                                 → OrbiterTools (HTTP, programs, MCP for scripts) ↗
// An application that only submits links OrbiterClient: no worker, NIO server or Prometheus.
// OrbiterCore knows nothing of Lua, Redis or HTTP.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "orbiter",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "orbiter", targets: ["orbiter"]),
        .executable(name: "orbiter-bench", targets: ["orbiter-bench"]),
        .library(name: "OrbiterCore", targets: ["OrbiterCore"]),
        .library(name: "OrbiterLua", targets: ["OrbiterLua"]),
        .library(name: "OrbiterRedis", targets: ["OrbiterRedis"]),
        .library(name: "OrbiterModels", targets: ["OrbiterModels"]),
        .library(name: "OrbiterQueue", targets: ["OrbiterQueue"]),
        .library(name: "OrbiterClient", targets: ["OrbiterClient"]),
        .library(name: "OrbiterWorker", targets: ["OrbiterWorker"]),
        .library(name: "OrbiterTools", targets: ["OrbiterTools"]),
        .library(name: "OrbiterLimits", targets: ["OrbiterLimits"]),
        .library(name: "OrbiterServer", targets: ["OrbiterServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // HMAC-SHA256 with a constant-time check, SHA-256 (already in the graph through the HTTP stack).
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        // Process lifetimes: a worker is a ServiceGroup of its loops (already in the graph through the HTTP stack).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // Programs and stdio MCP servers, spawned without blocking a thread.
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        // `orbiter serve`: the HTTP API and dashboard (OrbiterServer).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"), // already in the graph through Hummingbird
    ],
    targets: [
        // System libraries: a module map and a shim header of static inline wrappers for C macros.
        .systemLibrary(name: "CLua", pkgConfig: "lua5.4",
                       providers: [.apt(["liblua5.4-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis",
                       providers: [.apt(["libhiredis-dev"])]),
        // TLS for rediss:// (hiredis 0.14 has none): the system's OpenSSL, driven on the
        // connection's own thread, with hiredis's reader still parsing the replies.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),

        .target(name: "OrbiterCore", dependencies: [.product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: swiftSettings),
        .target(name: "OrbiterLua", dependencies: ["CLua", "OrbiterCore"],
                resources: [.copy("Prelude")], swiftSettings: swiftSettings),
        .target(name: "OrbiterRedis", dependencies: ["CHiredis", "COpenSSL"], swiftSettings: swiftSettings),
        .target(name: "OrbiterModels", dependencies: [
                    "OrbiterCore",
                    .product(name: "AsyncHTTPClient", package: "async-http-client"),
                    .product(name: "NIOCore", package: "swift-nio"),
                    .product(name: "NIOPosix", package: "swift-nio"),
                ], swiftSettings: swiftSettings),
        // What scripts reach beyond computing, under the host's policy (OrbiterCore/HostAccess):
        // HTTP with an allow-list and SSRF checks, programs, MCP servers over stdio and HTTP.
        .target(name: "OrbiterTools", dependencies: [
                    "OrbiterCore",
                    .product(name: "AsyncHTTPClient", package: "async-http-client"),
                    .product(name: "NIOCore", package: "swift-nio"),
                    .product(name: "NIOPosix", package: "swift-nio"),
                    .product(name: "NIOHTTP1", package: "swift-nio"),
                    .product(name: "Subprocess", package: "swift-subprocess"),
                    .product(name: "Logging", package: "swift-log"),
                    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                ], swiftSettings: swiftSettings),
        // The queue protocol: keys, payloads, results, the transition scripts and their typed
        // calls, signing. What both sides of a queue agree on.
        .target(name: "OrbiterQueue", dependencies: [
                    "OrbiterCore", "OrbiterLua", "OrbiterRedis",
                    .product(name: "Crypto", package: "swift-crypto"),
                ],
                resources: [.copy("Scripts")], swiftSettings: swiftSettings),
        // Rate limits a fleet shares (orbiter limits): buckets in Redis changed by scripts
        // (Scripts/*.lua), and a ModelProvider decorator that reserves before each call.
        .target(name: "OrbiterLimits", dependencies: [
                    "OrbiterCore", "OrbiterRedis",
                    .product(name: "CoreMetrics", package: "swift-metrics"),
                ],
                resources: [.copy("Scripts")], swiftSettings: swiftSettings),
        // Submitting and following tasks: what an application that only submits links.
        .target(name: "OrbiterClient", dependencies: [
                    "OrbiterQueue", "OrbiterCore", "OrbiterLua", "OrbiterRedis",
                    .product(name: "CoreMetrics", package: "swift-metrics"), // the metrics API only, no exporter
                ], swiftSettings: swiftSettings),
        // Running tasks: the claim loop, task execution, maintenance services, metrics.
        .target(name: "OrbiterWorker", dependencies: [
                    "OrbiterQueue", "OrbiterCore", "OrbiterLua", "OrbiterRedis", "OrbiterModels", "OrbiterTools", "OrbiterLimits",
                    .product(name: "Logging", package: "swift-log"),
                    .product(name: "CoreMetrics", package: "swift-metrics"),
                    .product(name: "Prometheus", package: "swift-prometheus"),
                    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                    .product(name: "NIOCore", package: "swift-nio"),
                    .product(name: "NIOPosix", package: "swift-nio"),
                    .product(name: "NIOHTTP1", package: "swift-nio"),
                ], swiftSettings: swiftSettings),
        // `orbiter serve`: the HTTP API (and dashboard) over what OrbiterClient submits and reads.
        .target(name: "OrbiterServer", dependencies: [
                    "OrbiterClient", "OrbiterQueue", "OrbiterCore", "OrbiterLua", "OrbiterRedis",
                    .product(name: "Hummingbird", package: "hummingbird"),
                    .product(name: "HTTPTypes", package: "swift-http-types"),
                    .product(name: "NIOCore", package: "swift-nio"),
                    .product(name: "Crypto", package: "swift-crypto"),
                    .product(name: "Logging", package: "swift-log"),
                    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                ],
                resources: [.copy("Resources")], swiftSettings: swiftSettings),
        .executableTarget(name: "orbiter", dependencies: [
                    "OrbiterCore", "OrbiterLua", "OrbiterQueue", "OrbiterClient", "OrbiterWorker", "OrbiterModels", "OrbiterTools", "OrbiterLimits", "OrbiterServer",
                    .product(name: "ArgumentParser", package: "swift-argument-parser"),
                    .product(name: "Logging", package: "swift-log"),
                    .product(name: "CoreMetrics", package: "swift-metrics"),
                    .product(name: "Prometheus", package: "swift-prometheus"),
                ], swiftSettings: swiftSettings),

        // Benchmarks (scripts/bench.sh drives it; see bench/README.md).
        .executableTarget(name: "orbiter-bench", dependencies: [
                    "CLua", "OrbiterCore", "OrbiterLua", "OrbiterQueue", "OrbiterClient", "OrbiterWorker", "OrbiterRedis", "OrbiterTools", "OrbiterLimits", "OrbiterModels",
                    .product(name: "AsyncHTTPClient", package: "async-http-client"),
                    .product(name: "Logging", package: "swift-log"),
                    .product(name: "NIOCore", package: "swift-nio"),
                    .product(name: "NIOPosix", package: "swift-nio"),
                    .product(name: "NIOHTTP1", package: "swift-nio"),
                ], swiftSettings: swiftSettings),

        // Tests run against real parts: a private redis-server (scripts/test.sh) and a fake
        // model server that speaks each provider's HTTP wire protocol.
        .target(name: "OrbiterTestSupport", dependencies: [
                    "OrbiterCore",
                    .product(name: "NIOCore", package: "swift-nio"),
                    .product(name: "NIOPosix", package: "swift-nio"),
                    .product(name: "NIOHTTP1", package: "swift-nio"),
                ], path: "Tests/Support", swiftSettings: swiftSettings),
        .testTarget(name: "OrbiterCoreTests", dependencies: ["OrbiterCore", "OrbiterTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "OrbiterLuaTests", dependencies: ["CLua", "OrbiterLua", "OrbiterCore", "OrbiterTestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "OrbiterRedisTests", dependencies: ["OrbiterRedis", "OrbiterTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "OrbiterModelsTests", dependencies: ["OrbiterModels", "OrbiterTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "OrbiterDistributedTests", dependencies: [
                    "OrbiterQueue", "OrbiterClient", "OrbiterWorker", "OrbiterLua", "OrbiterModels", "OrbiterTools", "OrbiterLimits", "OrbiterTestSupport",
                    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                    .product(name: "Logging", package: "swift-log"),
                    .product(name: "Prometheus", package: "swift-prometheus"),
                ], swiftSettings: swiftSettings),
        .testTarget(name: "OrbiterToolsTests", dependencies: [
                    "OrbiterTools", "OrbiterCore", "OrbiterTestSupport",
                    .product(name: "AsyncHTTPClient", package: "async-http-client"),
                ], swiftSettings: swiftSettings),
        .testTarget(name: "OrbiterCLITests", dependencies: ["OrbiterTestSupport"], swiftSettings: swiftSettings),
        // `orbiter serve` through real HTTP: the built binary, a real Redis and worker.
        .testTarget(name: "OrbiterServerTests", dependencies: [
                    "OrbiterServer", "OrbiterClient", "OrbiterQueue", "OrbiterCore", "OrbiterWorker", "OrbiterLua", "OrbiterTestSupport",
                    .product(name: "AsyncHTTPClient", package: "async-http-client"),
                    .product(name: "NIOCore", package: "swift-nio"),
                    .product(name: "NIOHTTP1", package: "swift-nio"),
                    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                    .product(name: "Logging", package: "swift-log"),
                ], swiftSettings: swiftSettings),
    ]
)
