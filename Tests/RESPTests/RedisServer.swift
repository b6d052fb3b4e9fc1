import Foundation
import XCTest
@testable import RESP

/// A real redis-server on loopback, started by a test with a temp dir, stopped by pid.
final class RedisServer {
    let dir: URL
    let port: UInt16
    let socketPath: String
    let process: Process

    static func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        a.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return UInt16(bigEndian: a.sin_port)
    }

    /// `tls`: (cert, key, ca) paths → the server listens with TLS only on `port`.
    init(tls: (String, String, String)? = nil, extra: [String] = []) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("opsh-resp-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        port = RedisServer.freePort()
        socketPath = dir.appendingPathComponent("redis.sock").path
        var args = ["--bind", "127.0.0.1", "--dir", dir.path, "--save", "", "--appendonly", "no",
                    "--unixsocket", socketPath, "--unixsocketperm", "700", "--daemonize", "no",
                    "--logfile", dir.appendingPathComponent("redis.log").path, "--enable-debug-command", "yes"]
        if let (cert, key, ca) = tls {
            args += ["--port", "0", "--tls-port", String(port), "--tls-cert-file", cert, "--tls-key-file", key,
                     "--tls-ca-cert-file", ca, "--tls-auth-clients", "no"]
        } else {
            args += ["--port", String(port)]
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = args + extra
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ready when the unix socket answers PING (a readiness wait, not a latency bound).
        for _ in 0..<500 {
            if let c = try? RESPSession.connect(endpoint: .unix(socketPath), connectTimeout: 1, timeout: 2),
               (try? c.command(["PING"])) == .simpleString(Array("PONG".utf8)) { c.close(); return }
            usleep(20_000)
        }
        stop()
        throw NSError(domain: "RedisServer", code: 1, userInfo: [NSLocalizedDescriptionKey: "redis-server did not start"])
    }

    var pid: Int32 { process.processIdentifier }

    func kill9() { kill(pid, SIGKILL); process.waitUntilExit() }

    func stop() {
        if process.isRunning { kill(pid, SIGTERM); process.waitUntilExit() }
        try? FileManager.default.removeItem(at: dir)
    }

    deinit { stop() }
}

/// A test CA, a server certificate for localhost/127.0.0.1 signed by it, and an unrelated CA.
struct TestPKI {
    let dir: URL
    var caCert: String { dir.appendingPathComponent("ca.crt").path }
    var otherCA: String { dir.appendingPathComponent("other.crt").path }
    var serverCert: String { dir.appendingPathComponent("srv.crt").path }
    var serverKey: String { dir.appendingPathComponent("srv.key").path }
    var clientCert: String { dir.appendingPathComponent("cli.crt").path }
    var clientKey: String { dir.appendingPathComponent("cli.key").path }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("opsh-pki-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(to: dir.appendingPathComponent("ext"), atomically: true, encoding: .utf8)
        for cmd in [
            "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=opsh-test-CA",
            "req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 2 -subj /CN=other-CA",
            "req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost",
            "x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile ext",
            "req -newkey rsa:2048 -nodes -keyout cli.key -out cli.csr -subj /CN=opsh-client",
            "x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out cli.crt -days 2",
        ] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            p.arguments = cmd.split(separator: " ").map(String.init)
            p.currentDirectoryURL = dir
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run(); p.waitUntilExit()
            guard p.terminationStatus == 0 else {
                throw NSError(domain: "TestPKI", code: 1, userInfo: [NSLocalizedDescriptionKey: "openssl \(cmd) failed"])
            }
        }
    }

    func remove() { try? FileManager.default.removeItem(at: dir) }
}
