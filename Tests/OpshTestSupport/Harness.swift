// Shared by the test targets that drive the built opsh binary as a user would.
import Foundation
import XCTest

/// Runs the built opsh binary as a user would.
public struct Run {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

public enum Harness {
    public static var binary: URL {
        if let p = ProcessInfo.processInfo.environment["OPSH_BIN"] { return URL(fileURLWithPath: p) }
        for b in Bundle.allBundles where b.bundlePath.hasSuffix(".xctest") {
            return b.bundleURL.deletingLastPathComponent().appendingPathComponent("opsh")
        }
        return Bundle.main.bundleURL.appendingPathComponent("opsh")
    }

    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A fresh HOME so the user's configuration never leaks into a test.
    public static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        for k in ["QDRANT_URL", "REDIS_URL", "TASK_QUEUE_REDIS_URL", "TASK_QUEUE_NAME", "DOCKER_HOST", "OPSH_PATH", "QDRANT_API_KEY", "XDG_CONFIG_HOME", "NO_COLOR"] { env[k] = nil }
        env["HOME"] = tempDir("home").path
        // procedure tests run at any hour: the window tests turn maintenance windows back on
        env["OPSH_MAINTENANCE_WINDOWS"] = "off"
        for (k, v) in extra { env[k] = v }
        return env
    }

    public static func tempDir(_ name: String) -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("opsh-tests-\(getpid())-\(name)-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    public static func write(_ text: String, to name: String, in dir: URL? = nil) -> String {
        let d = dir ?? tempDir("scripts")
        let url = d.appendingPathComponent(name)
        try! FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try! text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    @discardableResult
    public static func run(_ args: [String], stdin: String? = nil, env: [String: String] = [:], cwd: URL? = nil,
                    executable: URL? = nil, timeout: TimeInterval = 60) -> Run {
        let p = Process()
        p.executableURL = executable ?? binary
        p.arguments = args
        p.environment = environment(env)
        p.currentDirectoryURL = cwd ?? tempDir("cwd")
        return Shell.capture(p, input: stdin ?? "", timeout: timeout)
    }

    /// Starts opsh and returns the process, for signals.
    public static func start(_ args: [String]) -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        p.environment = environment()
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try! p.run()
        return (p, out, err)
    }
}

extension Run {
    /// The checks of a `--json` report (schema opsh.report/v1), in order; [] when stdout is not one.
    public var checks: [[String: Any]] {
        ((try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any])?["checks"] as? [[String: Any]] ?? []
    }

    /// The checks of a `--json` report by name (the first of a name).
    public var checksByName: [String: [String: Any]] {
        Dictionary(checks.compactMap { c in (c["name"] as? String).map { ($0, c) } }, uniquingKeysWith: { a, _ in a })
    }
}

/// Filled by one reader thread, read after DispatchGroup.wait (which orders the accesses).
public final class DataBox: @unchecked Sendable {
    public var data = Data()
    public init() {}
}
