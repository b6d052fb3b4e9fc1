import Foundation
import XCTest

/// A real redis-server on a free loopback port (and a unix socket) in a temporary directory,
/// started by a test and stopped by its pid. `stop` and `kill9` return only once the server is
/// gone: the process reaped and its port refusing connections, so a test that reconnects next
/// sees "connection refused" however loaded the machine is.
public final class RedisServer {
    public let port: Int
    public let dir: URL
    public let socketPath: String
    public let process: Process
    private var gone = false

    /// `tls`: (cert, key, ca) paths: the server then listens with TLS only, on `port`.
    public init(port fixedPort: Int? = nil, tls: (cert: String, key: String, ca: String)? = nil,
                extraArguments: [String] = []) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server") else {
            throw XCTSkip("redis-server is not installed (scripts/setup installs it)")
        }
        dir = Harness.tempDir("redis")
        port = fixedPort ?? RedisServer.freePort()
        socketPath = dir.appendingPathComponent("redis.sock").path
        var args = ["--bind", "127.0.0.1", "--dir", dir.path, "--save", "", "--appendonly", "no", "--daemonize", "no",
                    "--unixsocket", socketPath, "--unixsocketperm", "700",
                    "--logfile", dir.appendingPathComponent("log").path, "--enable-debug-command", "yes"]
        if let tls {
            args += ["--port", "0", "--tls-port", String(port), "--tls-cert-file", tls.cert, "--tls-key-file", tls.key,
                     "--tls-ca-cert-file", tls.ca, "--tls-auth-clients", "no"]
        } else {
            args += ["--port", String(port)]
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = args + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // a readiness wait, not a latency bound: the port accepts, and (without TLS) PING gets a
        // reply other than -LOADING (an AOF or RDB still being loaded; -NOAUTH means ready)
        for _ in 0..<400 {
            if RedisServer.accepts(port) && (tls != nil || RedisServer.doneLoading(port)) { return }
            if !process.isRunning { break }
            usleep(25_000)
        }
        stop()
        throw NSError(domain: "RedisServer", code: 1, userInfo: [NSLocalizedDescriptionKey: "redis-server did not start on port \(port)"])
    }

    public var url: String { "redis://127.0.0.1:\(port)" }
    public var pid: Int32 { process.processIdentifier }

    /// SIGTERM, then waits until the server is gone.
    public func stop() {
        if process.isRunning { kill(pid, SIGTERM) }
        waitGone()
    }

    /// SIGKILL, then waits until the server is gone.
    public func kill9() {
        if process.isRunning { kill(pid, SIGKILL) }
        waitGone()
    }

    /// Waits for the process to be reaped and its port to refuse connections (once: the port
    /// may serve a new server afterwards).
    public func waitGone() {
        if gone { return }
        process.waitUntilExit()
        gone = true
        var tries = 0
        while RedisServer.accepts(port) {
            tries += 1
            if tries == 1000 { XCTFail("port \(port) still accepts connections after redis-server \(pid) exited"); return }
            usleep(10_000)
        }
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

    /// Whether the server on `port` answers a plain-text PING within a second with anything but
    /// -LOADING (+PONG, or -NOAUTH when it wants a password).
    public static func doneLoading(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { return false }
        let ping = Array("PING\r\n".utf8)
        guard write(fd, ping, ping.count) == ping.count else { return false }
        var buf = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &buf, buf.count)
        return n > 0 && !(n >= 8 && Array(buf[0..<8]) == Array("-LOADING".utf8))
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

/// A test CA, a server certificate for localhost/127.0.0.1 signed by it, a client certificate,
/// and an unrelated CA, made with openssl in a temporary directory.
public struct TestPKI {
    public let dir: URL
    public var caCert: String { dir.appendingPathComponent("ca.crt").path }
    public var otherCA: String { dir.appendingPathComponent("other.crt").path }
    public var serverCert: String { dir.appendingPathComponent("srv.crt").path }
    public var serverKey: String { dir.appendingPathComponent("srv.key").path }
    public var clientCert: String { dir.appendingPathComponent("cli.crt").path }
    public var clientKey: String { dir.appendingPathComponent("cli.key").path }

    public init() throws {
        dir = Harness.tempDir("pki")
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(to: dir.appendingPathComponent("ext"), atomically: true, encoding: .utf8)
        for cmd in [
            "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=opsh-test-CA",
            "req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 2 -subj /CN=other-CA",
            "req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost",
            "x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile ext",
            "req -newkey rsa:2048 -nodes -keyout cli.key -out cli.csr -subj /CN=opsh-client",
            "x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out cli.crt -days 2",
        ] {
            let r = Harness.run(cmd.split(separator: " ").map(String.init), cwd: dir, executable: URL(fileURLWithPath: "/usr/bin/openssl"))
            guard r.status == 0 else { throw XCTSkip("openssl could not make a test CA (\(cmd)): \(r.stderr)") }
        }
    }

    public func remove() { try? FileManager.default.removeItem(at: dir) }
}

/// A one-connection TCP server on loopback that answers each read with a fixed reply: a
/// hostile or broken "Redis" for tests of what a client does with bytes no real server sends.
/// With `closeAfter` it answers once and closes the connection.
public final class HostileServer: @unchecked Sendable {
    public let port: UInt16
    private let fd: Int32
    private let thread: Thread

    public init(reply: [UInt8], closeAfter: Bool = true) {
        (fd, port) = HostileServer.listenOnLoopback()
        let lfd = fd
        thread = Thread {
            let c = accept(lfd, nil, nil)
            guard c >= 0 else { return }
            defer { close(c) }
            var buf = [UInt8](repeating: 0, count: 4096)
            while read(c, &buf, 4096) > 0 {
                _ = reply.withUnsafeBytes { write(c, $0.baseAddress, $0.count) }
                if closeAfter { usleep(100_000); return }
            }
        }
        thread.start()
    }

    deinit { close(fd) }

    /// A listening TCP socket on 127.0.0.1 and a free port the kernel chose. With a backlog of
    /// 0 and nobody accepting, Linux queues one connection and drops further SYNs: a connect
    /// that gets no answer, on loopback.
    public static func listenOnLoopback(backlog: Int32 = 4) -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        listen(fd, backlog)
        return (fd, UInt16(bigEndian: a.sin_port))
    }
}
