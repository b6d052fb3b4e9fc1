// swift-tools-version: 6.1
//
// opsh: an embedded Lua 5.4 scripting host for operations.
//
// The targets are the rooms of docs/ARCHITECTURE.md §1; each arrow points to what a room may use:
//
//   opsh (executable) ──▶ Engine ──▶ Modules ──▶ LuaRuntime ──▶ CLua, CLuaShim
//                            │          └──────▶ native libraries ──▶ C (CDyn, CSys)
//                            └──▶ LuaRuntime
//
// - Only LuaRuntime imports the C Lua targets (CLua, CLuaShim): it is the one border between
//   Swift and Lua, and no Lua error or yield ever unwinds through a Swift frame beyond it.
// - A native library (RESP, HTTP, JSON, Qdrant, Docker, Archive, Sys, FileSystem, Crypto, Store, History,
//   YAML, ...) knows nothing of Lua: it is usable and tested from Swift alone.
// - A module (Sources/Modules) translates between Lua values and a native library; it does no
//   I/O of its own.
// - The Engine (catalog, runner, report, REPL) drives the runtime and the modules; the
//   executable only calls the Engine.
// scripts/check-layers fails the build in scripts/test when an import crosses one of these walls.
//
// The run path imports no Foundation (docs/ARCHITECTURE.md §2 "Start-up"): every library
// below uses Glibc directly, and libcurl, libcrypto/libssl, libedit, libyaml, libzstd and libsqlite3
// are opened with dlopen on first use through CDyn.
import Foundation
import PackageDescription

// How the opsh binary is linked (BENCHMARKS.md, start-up; scripts/setup prepares .build-link):
// the C++ runtime and libgcc's unwinder from static archives (linker scripts in .build-link),
// Lua 5.4 as one object made from liblua5.4.a (its API exported for Lua C modules such as
// cjson, so they use this Lua), and relative relocations packed (DT_RELR). Without
// .build-link/lua5.4.o (a plain `swift build`), Lua is the shared library, as before.
let staticLua = Context.packageDirectory + "/.build-link/lua5.4.o"
var opshLinkFlags = ["-static-stdlib", "-L", ".build-link", "-use-ld=bfd", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"]
if FileManager.default.fileExists(atPath: staticLua) {
    opshLinkFlags += ["-Xlinker", staticLua, "-Xlinker", "--dynamic-list=" + Context.packageDirectory + "/.build-link/lua-exports.list"]
}

let package = Package(
    name: "opsh",
    products: [
        .executable(name: "opsh", targets: ["opsh"]),
        .executable(name: "opsh-agent", targets: ["opsh-agent"]),
    ],
    dependencies: [
        // The agent's HTTP server only (docs/agent.md): opsh itself links none of it.
        // without its default traits: no swift-configuration (Hummingbird's config reader), which CI would build for nothing
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // C: the Lua interpreter and its border shim (LuaRuntime's alone), dlopen tables, syscalls.
        .systemLibrary(name: "CLua", path: "Sources/CLua", pkgConfig: "lua5.4",
                       providers: [.apt(["liblua5.4-dev"])]),
        .target(name: "CLuaShim", dependencies: ["CLua"]),
        .target(name: "CDyn", linkerSettings: [.linkedLibrary("dl")]),

        // Native libraries: no Lua inside; each has its own Swift tests.
        // A loop, a session, a connection and a cluster client each belong to one thread at a
        // time; the dynamic exclusivity checks on their class properties were about a sixth of a
        // pipelined command's instructions (callgrind; BENCHMARKS.md, "Redis Cluster"). As for
        // LogScan: in release builds only (the tests' debug builds keep them); the static checks stay.
        .target(name: "EventLoop", dependencies: ["CDyn"],
                swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        // Module OpshCrypto (Sources/Crypto): swift-crypto, in the agent's package graph, has a target named Crypto.
        .target(name: "OpshCrypto", dependencies: ["CDyn"], path: "Sources/Crypto"),
        .target(name: "FileSystem"),
        .target(name: "YAML", dependencies: ["CDyn"]),
        .target(name: "JSON"),
        .target(name: "RESP", dependencies: ["CDyn", "EventLoop"],
                swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        .target(name: "HTTP", dependencies: ["CDyn", "EventLoop", "OpshCrypto"]),
        .target(name: "Pickle", dependencies: ["JSON"]),
        .target(name: "Qdrant", dependencies: ["JSON"]),
        .target(name: "Archive", dependencies: ["CDyn", "JSON", "OpshCrypto", "FileSystem"]),
        .target(name: "Docker", dependencies: ["HTTP", "EventLoop", "JSON"]),
        .target(name: "CSys"),
        .target(name: "Sys", dependencies: ["CSys", "FileSystem"]),
        .target(name: "TLS", dependencies: ["CDyn", "OpshCrypto", "EventLoop"]),
        .target(name: "Predict", dependencies: ["FileSystem"]),
        .target(name: "Store", dependencies: ["CDyn"]),
        .target(name: "History", dependencies: ["Store"]),
        // Each scanner object belongs to one thread; the dynamic exclusivity checks on its
        // class properties were a tenth of the scan's time (perf; BENCHMARKS.md, "Log scanning");
        // dropped in release builds only (the tests' debug builds keep them).
        // The scanner's vector loops (a byte mask of a compare, AVX2 chosen at run time) in C.
        .target(name: "CLogScan"),
        .target(name: "LogScan", dependencies: ["Archive", "JSON", "FileSystem", "CLogScan"],
                swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        // Cron expressions, maintenance windows and time zones (TZif), without Foundation.
        .target(name: "Schedule"),
        // The agent's core (docs/agent.md): jobs, the runner, the Redis lock with fencing, the
        // history; no HTTP, no Lua. The opsh-agent executable serves its API.
        .target(name: "Agent", dependencies: ["Schedule", "RESP", "Sys", "Archive", "Store", "FileSystem"]),
        // Swift 5 mode: Mutex<State> holds connections and completions that are not Sendable;
        // the pool guarantees their exclusive use under its lock (see Pool.swift).
        .target(name: "Pool", dependencies: ["EventLoop", "Qdrant", "RESP", "Predict", "CThreadCache"], swiftSettings: [.swiftLanguageMode(.v5)]),
        // The pool's per-thread cache pointer as a C thread-local (Swift has none).
        .target(name: "CThreadCache"),
        
        // The Lua border: the only target that touches Lua's C API.
        .target(name: "LuaRuntime", dependencies: ["CLua", "CLuaShim", "EventLoop"]),
        // The modules scripts see: the runtime's API and the native libraries only.
        .target(name: "Modules", dependencies: ["LuaRuntime", "JSON", "RESP", "HTTP", "Pickle", "Qdrant", "Archive", "Docker", "Sys", "OpshCrypto", "FileSystem", "YAML", "Predict", "Pool", "EventLoop", "TLS", "History", "LogScan", "Agent", "Schedule"]),

        // Script catalog, runner, report, REPL; lua/ and stdlib/ are embedded at build time.
        .executableTarget(name: "EmbedGen", path: "Sources/EmbedGen"),
        .plugin(name: "EmbedLua", capability: .buildTool(), dependencies: ["EmbedGen"]),
        .target(name: "Engine", dependencies: ["LuaRuntime", "Modules", "FileSystem", "Sys", "CDyn", "Agent", "Schedule", "Archive"],
                plugins: ["EmbedLua"]),

        // The command: nothing but the Engine.

        .executableTarget(name: "opsh", dependencies: ["Engine"],
                          linkerSettings: [.unsafeFlags(opshLinkFlags)]),
        // The agent (docs/agent.md): its own executable, so opsh's start-up pays nothing for the
        // HTTP server. AgentServer is the server (routes, access control, metrics, lifecycle) over the
        // Engine's configuration, the agent's core (Agent: the scheduler and its history) and the
        // native pool; opsh-agent only calls it.
        .target(name: "AgentServer", dependencies: [
            "Engine", "Agent", "Archive", "Pool", "Predict", "RESP", "Qdrant", "JSON", "OpshCrypto", "EventLoop", "Store", "FileSystem", "HTTP", "Sys",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "opsh-agent", dependencies: ["AgentServer"], path: "Sources/opsh-agent"),
        .executableTarget(name: "resp-bench", dependencies: ["RESP"], path: "Benchmarks/RESPBench"),
        .executableTarget(name: "cluster-bench", dependencies: ["RESP", "EventLoop"], path: "Benchmarks/ClusterBench"),
        .executableTarget(name: "pool-bench", dependencies: ["Pool", "RESP"], path: "Benchmarks/pool",
                          exclude: ["run.sh"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "predict-bench", dependencies: ["Predict"], path: "Benchmarks/PredictBench"),

        .testTarget(name: "LuaRuntimeTests", dependencies: ["LuaRuntime", "Modules", "CLua", "CLuaShim"]),
        .testTarget(name: "OpshCryptoTests", dependencies: ["OpshCrypto"], path: "Tests/CryptoTests"),
        .testTarget(name: "StoreTests", dependencies: ["Store"]),
        .testTarget(name: "HistoryTests", dependencies: ["History", "Store"]),
        .testTarget(name: "FileSystemTests", dependencies: ["FileSystem"]),
        .testTarget(name: "YAMLTests", dependencies: ["YAML"]),
        .testTarget(name: "EventLoopTests", dependencies: ["EventLoop", "CDyn"]),
        .testTarget(name: "PoolTests", dependencies: ["Pool", "EventLoop", "RESP", "OpshTestSupport"],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"], exclude: ["corpus"]),
        .testTarget(name: "RESPTests", dependencies: ["RESP", "CDyn", "EventLoop", "OpshTestSupport"], exclude: ["corpus"]),
        // What the test targets share: the harness that drives the built binary, one redis-server, HTTP server.
        .target(name: "OpshTestSupport", path: "Tests/OpshTestSupport",
                swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "EngineTests", dependencies: ["OpshTestSupport"],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "ProcedureTests", dependencies: ["OpshTestSupport"],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "UserTests", dependencies: ["OpshTestSupport"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "PickleTests", dependencies: ["Pickle"], exclude: ["corpus"]),
        .testTarget(name: "QdrantTests", dependencies: ["Qdrant"]),
        .testTarget(name: "PredictTests", dependencies: ["Predict"]),
        .testTarget(name: "ScheduleTests", dependencies: ["Schedule"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "Schedule", "RESP", "Store", "OpshTestSupport"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "QdrantProcedureTests", dependencies: ["OpshTestSupport"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "ArchiveTests", dependencies: ["Archive", "CDyn", "OpshTestSupport"]),
        .testTarget(name: "BackupTests", dependencies: ["OpshTestSupport"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "QueueTests", dependencies: ["OpshTestSupport"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "SysTests", dependencies: ["Sys", "OpshTestSupport"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "TLSTests", dependencies: ["TLS", "OpshTestSupport"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "LogScanTests", dependencies: ["LogScan", "CLogScan", "OpshTestSupport"], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "DockerTests", dependencies: ["Docker", "OpshTestSupport"], swiftSettings: [.swiftLanguageMode(.v5)]),
    ]
)
