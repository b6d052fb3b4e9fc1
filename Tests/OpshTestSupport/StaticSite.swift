import Foundation

/// A directory served over HTTP on a free loopback port (Python's http.server), for procedures
/// that read an API's files such as `/metrics`. Stopped, and waited for, when released.
public final class StaticSite {
    public let process = Process()
    public let port = RedisServer.freePort()
    public var url: String { "http://127.0.0.1:\(port)" }

    public init(directory: URL) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", directory.path, String(port)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while !RedisServer.accepts(port) {
            guard process.isRunning, Date() < deadline else {
                stop()
                throw NotListening(port: port)
            }
            usleep(50_000)
        }
    }

    public struct NotListening: Error, CustomStringConvertible {
        public let port: Int
        public var description: String { "python3 -m http.server did not listen on port \(port) within 30 s" }
    }

    public func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { stop() }
}
