import Foundation
import XCTest
import OpshTestSupport
@testable import RESP

/// Debian's redis-server 7.0 is built with TLS: it starts with --tls-port and these options.
final class TLSTests: XCTestCase {
    nonisolated(unsafe) static var pki: TestPKI?
    nonisolated(unsafe) static var server: RedisServer?

    override class func setUp() {
        pki = try? TestPKI()
        if let p = pki { server = try? RedisServer(tls: (p.serverCert, p.serverKey, p.caCert)) }
    }
    override class func tearDown() { server?.stop(); server = nil; pki?.remove() }

    func setup() throws -> (TestPKI, RedisServer) {
        guard let p = TLSTests.pki else { throw XCTSkip("openssl could not make a test CA") }
        guard let s = TLSTests.server else { XCTFail("redis-server did not start with TLS"); throw XCTSkip("no TLS server") }
        return (p, s)
    }

    func testTLSWithTestCA() throws {
        let (p, s) = try setup()
        for host in ["127.0.0.1", "localhost"] {
            let c = try RESPSession.connect(url: "rediss://\(host):\(s.port)/2?ca=\(p.caCert)")
            XCTAssertEqual(try c.command(["SET", "t", "secure"]), .simpleString(b("OK")))
            XCTAssertEqual(try c.command(["GET", "t"]), .bulkString(b("secure")))
            let big = [UInt8](repeating: 7, count: 3 << 20)
            XCTAssertEqual(try c.command([b("SET"), b("big"), big]), .simpleString(b("OK")))
            XCTAssertEqual(try c.command([b("GET"), b("big")]), .bulkString(big))
            let r = try c.pipeline((0..<500).map { ["INCR", "n\($0 % 7)"] })
            XCTAssertEqual(r.count, 500)
        }
        // RESP3 over TLS.
        let c3 = try RESPSession.connect(url: "rediss://localhost:\(s.port)/2?ca=\(p.caCert)&protocol=3")
        XCTAssertEqual(try c3.command(["EXISTS", "t"]), .integer(1))
    }

    func testWrongCAFailsVerification() throws {
        let (p, s) = try setup()
        XCTAssertThrowsError(try RESPSession.connect(url: "rediss://localhost:\(s.port)?ca=\(p.otherCA)")) { e in
            let e = e as! RESPError
            XCTAssertEqual(e.kind, .tlsVerify, e.message)
            XCTAssertTrue(e.message.contains("certificate verification failed"), e.message)
            // OpenSSL's verify text ("self-signed certificate in certificate chain" here).
            XCTAssertTrue(e.message.contains("X509 error"), e.message)
        }
        // Default trust store: the test CA is not in it.
        XCTAssertThrowsError(try RESPSession.connect(url: "rediss://localhost:\(s.port)")) { e in
            XCTAssertEqual((e as! RESPError).kind, .tlsVerify)
        }
        // A name the certificate does not hold.
        XCTAssertThrowsError(try RESPSession.connect(url: "rediss://127.0.0.1:\(s.port)?ca=\(p.caCert)&sni=db.example.com")) { e in
            let e = e as! RESPError
            XCTAssertEqual(e.kind, .tlsVerify, e.message)
            XCTAssertTrue(e.message.contains("mismatch"), e.message)
        }
        // Turning verification off is explicit and then works.
        let c = try RESPSession.connect(url: "rediss://localhost:\(s.port)?verify=no")
        XCTAssertEqual(try c.command(["PING"]), .simpleString(b("PONG")))
        // Bad CA path: a clear setup error.
        XCTAssertThrowsError(try RESPSession.connect(url: "rediss://localhost:\(s.port)?ca=/nonexistent.pem")) { e in
            let e = e as! RESPError
            XCTAssertEqual(e.kind, .tls)
            XCTAssertTrue(e.message.contains("cannot load CA file"), e.message)
        }
    }

    func testPlainClientOnTLSPortAndTLSOnPlainPort() throws {
        let (p, s) = try setup()
        // TLS client against a plain server: the server waits for a command line, so the
        // handshake fails (or passes its deadline, here 1 s) with a TLS/connect-timeout error.
        let plain = try RedisServer()
        defer { plain.stop() }
        XCTAssertThrowsError(try RESPSession.connect(endpoint: RESPEndpoint(url: "rediss://localhost:\(plain.port)?ca=\(p.caCert)"),
                                            connectTimeout: 1)) { e in
            let k = (e as! RESPError).kind
            XCTAssertTrue(k == .tls || k == .connectTimeout, "\(e)")
        }
        // Plain client against the TLS port: the server drops the connection.
        XCTAssertThrowsError(try RESPSession.connect(endpoint: RESPEndpoint(url: "redis://127.0.0.1:\(s.port)"), connectTimeout: 5)
                                .command(["PING"])) { e in
            let k = (e as! RESPError).kind
            XCTAssertTrue(k == .closedByServer || k == .io || k == .timeout, "\(e)")
        }
    }

    func testClientCertificateRequired() throws {
        let (p, _) = try setup()
        let s = try RedisServer(tls: (p.serverCert, p.serverKey, p.caCert), extraArguments: ["--tls-auth-clients", "yes"])
        defer { s.stop() }
        let c = try RESPSession.connect(url: "rediss://localhost:\(s.port)?ca=\(p.caCert)&cert=\(p.clientCert)&key=\(p.clientKey)")
        XCTAssertEqual(try c.command(["PING"]), .simpleString(b("PONG")))
        // Without a client certificate the server ends the session (during or right after the
        // TLS 1.3 handshake, depending on timing): a clear error either way.
        XCTAssertThrowsError(try RESPSession.connect(endpoint: RESPEndpoint(url: "rediss://localhost:\(s.port)?ca=\(p.caCert)"),
                                            connectTimeout: 5).command(["PING"])) { e in
            let k = (e as! RESPError).kind
            XCTAssertTrue(k == .tls || k == .io || k == .closedByServer, "\(e)")
        }
    }

    /// flushStep/readStep drive the connect and the handshake themselves when called first.
    func testStepsDriveTheHandshake() throws {
        let (p, s) = try setup()
        let c = try RESPConnection(endpoint: RESPEndpoint(url: "rediss://localhost:\(s.port)?ca=\(p.caCert)"))
        XCTAssertTrue(c.isTLS)
        c.enqueue(["ECHO", "early"])
        func wait(_ n: IONeed) { var q = pollfd(fd: c.fd, events: Int16(n == .writable ? POLLOUT : POLLIN), revents: 0); _ = poll(&q, 1, 10_000) }
        while case let n = try c.flushStep(), n != .done { wait(n) }
        var reply: RESPValue? = nil
        while reply == nil {
            reply = try c.nextReply()
            if reply == nil { let n = try c.readStep(); if n != .done { wait(n) } }
        }
        XCTAssertEqual(reply, .bulkString(b("early")))
        c.close()
    }
}
