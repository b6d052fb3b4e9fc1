import Foundation
import XCTest

/// Certificates made with the openssl CLI in a temporary directory, for what a test needs: a
/// self-signed one, one signed by a test CA, one that expired (made under faketime).
public struct TestCertificates {
    public let dir: URL

    public init() { dir = Harness.tempDir("tls") }

    public func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    public func openssl(_ args: [String], faketime: String? = nil) throws {
        let argv = (faketime.map { ["faketime", "-f", $0] } ?? []) + ["openssl"] + args
        let r = Shell.run(argv, cwd: dir.path, timeout: 120)
        guard r.status == 0 else { throw XCTSkip("\(argv.joined(separator: " ")) failed: \(r.stderr)") }
    }

    /// What the openssl CLI says of a certificate file, for comparing.
    public func cli(_ args: [String], _ file: String) -> String {
        Shell.run(["openssl", "x509", "-in", file, "-noout"] + args, timeout: 60).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A self-signed RSA certificate `name`.crt / .key valid for `days`, with these SANs.
    @discardableResult
    public func selfSigned(_ name: String, cn: String, days: Int, sans: String? = nil, faketime: String? = nil) throws -> String {
        var args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).crt",
                    "-days", String(days), "-subj", "/CN=\(cn)/O=opsh tests"]
        if let sans { args += ["-addext", "subjectAltName=\(sans)"] }
        try openssl(args, faketime: faketime)
        return path("\(name).crt")
    }

    /// A test CA (ca.crt, ca.key).
    public func ca() throws -> String {
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
                     "-out", "ca.crt", "-days", "30", "-subj", "/CN=opsh test CA",
                     "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        return path("ca.crt")
    }

    /// `name`.crt / .key signed by ca(), valid for `days`, with these SANs.
    @discardableResult
    public func signed(_ name: String, cn: String, days: Int, sans: String) throws -> String {
        try "subjectAltName=\(sans)\n".write(to: dir.appendingPathComponent("\(name).ext"), atomically: true, encoding: .utf8)
        try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(cn)"])
        try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                     "-out", "\(name).crt", "-days", String(days), "-extfile", "\(name).ext"])
        return path("\(name).crt")
    }

    public func remove() { try? FileManager.default.removeItem(at: dir) }
}

/// `openssl s_server` on a free loopback port, started by the test and stopped by its pid: it
/// serves `cert` by default and `sniCert` to a client whose SNI is `sniName`.
public final class TLSTestServer {
    public let port: Int
    public let process: Process

    public init(cert: String, key: String, chain: String? = nil, sniName: String? = nil, sniCert: String? = nil, sniKey: String? = nil) throws {
        port = RedisServer.freePort()
        var args = ["s_server", "-quiet", "-accept", "127.0.0.1:\(port)", "-cert", cert, "-key", key]
        if let chain { args += ["-cert_chain", chain] }
        if let sniName, let sniCert, let sniKey { args += ["-servername", sniName, "-cert2", sniCert, "-key2", sniKey] }
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = args
        process.standardInput = Pipe()      // s_server reads commands from stdin: keep it open and idle
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // a readiness wait, not a latency bound
        for _ in 0..<400 {
            if RedisServer.accepts(port) { return }
            if !process.isRunning { break }
            usleep(25_000)
        }
        stop()
        throw NSError(domain: "TLSTestServer", code: 1, userInfo: [NSLocalizedDescriptionKey: "openssl s_server did not start on port \(port)"])
    }

    /// SIGTERM by pid, then waits until the process is reaped and the port refuses connections.
    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
        var tries = 0
        while RedisServer.accepts(port) && tries < 1000 { tries += 1; usleep(10_000) }
        XCTAssertFalse(RedisServer.accepts(port), "port \(port) still accepts after s_server \(process.processIdentifier) exited")
    }
}
