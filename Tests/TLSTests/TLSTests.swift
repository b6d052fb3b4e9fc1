import Foundation
import OpshTestSupport
import TLS
import XCTest

/// Certificates of files and live endpoints read through libcrypto/libssl, checked against what
/// the openssl CLI says of the same certificates.
final class TLSTests: XCTestCase {
    var certs: TestCertificates!

    override func setUp() { certs = TestCertificates() }
    override func tearDown() { certs.remove() }

    var now: Int64 { Int64(Date().timeIntervalSince1970) }

    func testSelfSignedCertificateExpiringInTenDays() throws {
        let file = try certs.selfSigned("soon", cn: "svc.test", days: 10, sans: "DNS:svc.test,DNS:*.svc.test,IP:127.0.0.1,IP:::1")
        let r = try CertificateFile.inspect(file, hostname: "svc.test")
        XCTAssertEqual(r.chain.count, 1)
        let c = r.leaf
        XCTAssertEqual(c.subject, "CN=svc.test, O=opsh tests")
        XCTAssertEqual(c.issuer, c.subject)
        XCTAssertEqual(c.commonName, "svc.test")
        XCTAssertEqual(c.dnsNames, ["svc.test", "*.svc.test"])
        XCTAssertEqual(c.ipAddresses, ["127.0.0.1", "::1"])
        XCTAssertEqual("serial=" + c.serial, certs.cli(["-serial"], file))
        XCTAssertEqual("sha256 Fingerprint=" + stride(from: 0, to: 64, by: 2).map { i -> String in
            let s = c.fingerprintSHA256.index(c.fingerprintSHA256.startIndex, offsetBy: i)
            return c.fingerprintSHA256[s..<c.fingerprintSHA256.index(s, offsetBy: 2)].uppercased()
        }.joined(separator: ":"), certs.cli(["-fingerprint", "-sha256"], file))
        XCTAssertEqual(c.signatureAlgorithm, "sha256WithRSAEncryption")
        XCTAssertEqual(c.keyType, "RSA")
        XCTAssertEqual(c.keyBits, 2048)
        XCTAssertTrue(c.selfSigned)
        XCTAssertEqual(c.notAfter - c.notBefore, 10 * 86400)
        let days = c.daysLeft(now: now)
        XCTAssertTrue(days > 9 && days <= 10, "\(days)")
        XCTAssertFalse(c.expired(now: now))
        // not trusted by the system store; trusted when it is its own CA file
        XCTAssertFalse(r.verification.verified)
        XCTAssertEqual(r.verification.trustStore, "system")
        XCTAssertEqual(r.verification.code, 18)
        XCTAssertEqual(r.verification.error, "self-signed certificate")
        let trusted = try CertificateFile.inspect(file, caFile: file)
        XCTAssertTrue(trusted.verification.verified)
        XCTAssertNil(trusted.verification.error)
        XCTAssertEqual(trusted.verification.trustStore, file)
        // the host name against its SANs: exact, wildcard, IP (v4 and v6), and not others
        XCTAssertEqual(r.hostnameMatches, true)
        XCTAssertNil(trusted.hostnameMatches)
        for (name, expected) in [("a.svc.test", true), ("other.test", false), ("a.b.svc.test", false), ("127.0.0.1", true), ("::1", true), ("10.0.0.1", false)] {
            XCTAssertEqual(try CertificateFile.inspect(file, hostname: name).hostnameMatches, expected, name)
        }
    }

    func testExpiredCertificate() throws {
        let file = try certs.selfSigned("old", cn: "old.test", days: 30, faketime: "-40d")
        let r = try CertificateFile.inspect(file, caFile: file)
        XCTAssertTrue(r.leaf.expired(now: now))
        let days = r.leaf.daysLeft(now: now)
        XCTAssertTrue(days < -9 && days > -11, "\(days)")
        XCTAssertFalse(r.verification.verified)
        XCTAssertEqual(r.verification.code, 10)
        XCTAssertEqual(r.verification.error, "certificate has expired")
        XCTAssertEqual(r.leaf.dnsNames, [])
    }

    func testChainSignedByATestCA() throws {
        let ca = try certs.ca()
        let leaf = try certs.signed("leaf", cn: "api.test", days: 20, sans: "DNS:api.test")
        let withCA = try CertificateFile.inspect(leaf, caFile: ca, hostname: "api.test")
        XCTAssertTrue(withCA.verification.verified, "\(withCA.verification)")
        XCTAssertEqual(withCA.hostnameMatches, true)
        XCTAssertEqual(withCA.leaf.issuer, "CN=opsh test CA")
        XCTAssertEqual(withCA.leaf.signatureAlgorithm, "ecdsa-with-SHA256")
        XCTAssertFalse(withCA.leaf.selfSigned)
        XCTAssertFalse(withCA.leaf.isCA)
        let system = try CertificateFile.inspect(leaf)
        XCTAssertFalse(system.verification.verified)
        XCTAssertEqual(system.verification.code, 20)
        XCTAssertEqual(system.verification.error, "unable to get local issuer certificate")
        // a bundle: leaf first, then the CA; the CA's key is EC P-256
        let bundle = certs.path("bundle.pem")
        try (String(contentsOfFile: leaf) + String(contentsOfFile: ca)).write(toFile: bundle, atomically: true, encoding: .utf8)
        let b = try CertificateFile.inspect(bundle, caFile: ca)
        XCTAssertEqual(b.chain.map(\.commonName), ["api.test", "opsh test CA"])
        XCTAssertEqual(b.chain[1].keyType, "EC")
        XCTAssertEqual(b.chain[1].keyBits, 256)
        XCTAssertTrue(b.chain[1].isCA)
        XCTAssertTrue(b.verification.verified)
        // a CA file that is not one
        XCTAssertThrowsError(try CertificateFile.inspect(leaf, caFile: certs.path("missing.crt"))) { e in
            XCTAssertEqual((e as? TLSError)?.kind, .caFile)
            XCTAssertTrue("\(e)".contains("missing.crt"), "\(e)")
        }
    }

    func testDERFileReadsAsThePEMDoes() throws {
        let pem = try certs.selfSigned("der", cn: "der.test", days: 5, sans: "DNS:der.test")
        try certs.openssl(["x509", "-in", pem, "-outform", "DER", "-out", "der.cer"])
        let a = try CertificateFile.inspect(pem), b = try CertificateFile.inspect(certs.path("der.cer"))
        XCTAssertEqual(a.leaf, b.leaf)
        XCTAssertEqual(b.leaf.dnsNames, ["der.test"])
        XCTAssertEqual(b.source, certs.path("der.cer"))
    }

    func testGarbageEmptyMissingAndBrokenFilesSayWhichFile() throws {
        let garbage = certs.path("garbage.crt")
        var bytes = [UInt8](repeating: 0, count: 3000)
        for i in bytes.indices { bytes[i] = UInt8((i * 7919 + 13) % 256) }
        try Data(bytes).write(to: URL(fileURLWithPath: garbage))
        let empty = certs.path("empty.crt")
        try Data().write(to: URL(fileURLWithPath: empty))
        let broken = certs.path("broken.pem")
        try "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n".write(toFile: broken, atomically: true, encoding: .utf8)
        for (file, kind, says) in [(garbage, TLSError.Kind.parse, "no certificate found (neither a PEM CERTIFICATE block nor DER)"),
                                   (empty, .parse, "empty: no certificate"),
                                   (broken, .parse, "a PEM CERTIFICATE block that does not decode"),
                                   (certs.path("nothing-here.crt"), .file, "cannot open: No such file or directory")] {
            XCTAssertThrowsError(try CertificateFile.inspect(file)) { e in
                guard let e = e as? TLSError else { return XCTFail("\(e)") }
                XCTAssertEqual(e.kind, kind, file)
                XCTAssertEqual(e.subject, file)
                XCTAssertTrue(e.message.hasPrefix(file + ": " + says), e.message)
            }
        }
    }

    func testLiveServerWithSNI() throws {
        let ca = try certs.ca()
        let fallback = try certs.signed("fallback", cn: "default.test", days: 40, sans: "DNS:default.test")
        let named = try certs.signed("named", cn: "svc.test", days: 20, sans: "DNS:svc.test")
        let server = try TLSTestServer(cert: fallback, key: certs.path("fallback.key"), sniName: "svc.test",
                                       sniCert: named, sniKey: certs.path("named.key"))
        defer { server.stop() }
        // SNI svc.test: the named certificate, verifying against the test CA, and its name matching
        let r = try TLSProbe.fetch(host: "127.0.0.1", port: server.port, serverName: "svc.test", caFile: ca)
        XCTAssertEqual(r.source, "127.0.0.1:\(server.port)")
        XCTAssertEqual(r.leaf.commonName, "svc.test")
        XCTAssertEqual(r.leaf, try CertificateFile.inspect(named).leaf)
        XCTAssertTrue(r.verification.verified, "\(r.verification)")
        XCTAssertEqual(r.hostname, "svc.test")
        XCTAssertEqual(r.hostnameMatches, true)
        XCTAssertEqual(r.protocolVersion, "TLSv1.3")
        XCTAssertNotNil(r.cipher)
        // another name: the default certificate, which does not match it; against the system store it does not verify
        let other = try TLSProbe.fetch(host: "127.0.0.1", port: server.port, serverName: "elsewhere.test")
        XCTAssertEqual(other.leaf.commonName, "default.test")
        XCTAssertEqual(other.hostnameMatches, false)
        XCTAssertFalse(other.verification.verified)
        XCTAssertEqual(other.verification.error, "unable to get local issuer certificate")
        // no SNI for an IP literal: the default certificate, checked against the IP
        let ip = try TLSProbe.fetch(host: "127.0.0.1", port: server.port, caFile: ca)
        XCTAssertEqual(ip.leaf.commonName, "default.test")
        XCTAssertEqual(ip.hostnameMatches, false)
        XCTAssertTrue(ip.verification.verified)
    }

    func testUnreachableSilentAndPlainTextEndpoints() throws {
        let port = RedisServer.freePort()
        XCTAssertThrowsError(try TLSProbe.fetch(host: "127.0.0.1", port: port, timeout: 5)) { e in
            XCTAssertEqual((e as? TLSError)?.kind, .connect)
            XCTAssertTrue("\(e)".hasPrefix("127.0.0.1:\(port): cannot connect: 127.0.0.1: Connection refused"), "\(e)")
        }
        // a socket that listens and never answers: the deadline ends the handshake
        let (fd, silent) = HostileServer.listenOnLoopback()
        defer { close(fd) }
        XCTAssertThrowsError(try TLSProbe.fetch(host: "127.0.0.1", port: Int(silent), timeout: 0.3)) { e in
            XCTAssertEqual((e as? TLSError)?.kind, .timeout)
            XCTAssertEqual("\(e)", "127.0.0.1:\(silent): timed out after 0.3 s in the TLS handshake")
        }
        // a server that is not TLS
        let plain = HostileServer(reply: Array("+PONG\r\n".utf8))
        XCTAssertThrowsError(try TLSProbe.fetch(host: "127.0.0.1", port: Int(plain.port), timeout: 5)) { e in
            XCTAssertEqual((e as? TLSError)?.kind, .handshake)
            XCTAssertTrue("\(e)".hasPrefix("127.0.0.1:\(plain.port): TLS handshake failed"), "\(e)")
        }
        XCTAssertThrowsError(try TLSProbe.fetch(host: "no-such-host.invalid", port: 443, timeout: 5)) { e in
            XCTAssertEqual((e as? TLSError)?.kind, .resolve)
        }
    }

    func testTargets() {
        XCTAssertTrue(TLSProbe.parseTarget("example.com:8443")! == ("example.com", 8443))
        XCTAssertTrue(TLSProbe.parseTarget("example.com")! == ("example.com", 443))
        XCTAssertTrue(TLSProbe.parseTarget("[::1]:9443")! == ("::1", 9443))
        XCTAssertTrue(TLSProbe.parseTarget("[::1]")! == ("::1", 443))
        XCTAssertNil(TLSProbe.parseTarget("a:b"))
        XCTAssertNil(TLSProbe.parseTarget(""))
        XCTAssertNil(TLSProbe.parseTarget("::1:443"))
    }
}
