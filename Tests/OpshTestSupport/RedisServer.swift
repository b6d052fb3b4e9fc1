import Foundation
import XCTest

/// A real redis-server on a free loopback port in a temporary directory, stopped by its pid.
public final class RedisServer {
    public let port: Int
    public let dir: URL
    public let process: Process

    public init(port fixedPort: Int? = nil, extraArguments: [String] = []) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server") else {
            throw XCTSkip("redis-server is not installed (scripts/setup installs it)")
        }
        dir = Harness.tempDir("redis")
        port = fixedPort ?? RedisServer.freePort()
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir.path, "--save", "",
                             "--appendonly", "no", "--daemonize", "no", "--logfile", dir.appendingPathComponent("log").path] + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            if RedisServer.accepts(port) { return }
            usleep(50_000)
        }
        stop()
        XCTFail("redis-server did not start on port \(port)")
    }

    public var url: String { "redis://127.0.0.1:\(port)" }

    public func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }

    deinit { stop() }

    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                _ = bind(fd, sa, len)
                _ = getsockname(fd, sa, &len)
            }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    public static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
