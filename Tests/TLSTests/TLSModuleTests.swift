import Foundation
import OpshTestSupport
import XCTest

/// opsh.tls from Lua through the built binary: the report's shape, errors as nil, err, and
/// endpoints probed concurrently in tasks on the event loop.
final class TLSModuleTests: XCTestCase {
    func lua(_ body: String) -> Run {
        Harness.run([Harness.write("local tls = require 'opsh.tls'\nlocal opsh = require 'opsh'\n" + body, to: "s.lua")])
    }

    func testFilesEndpointsAndErrorsFromLua() throws {
        let certs = TestCertificates()
        defer { certs.remove() }
        let ca = try certs.ca()
        let leaf = try certs.signed("leaf", cn: "svc.test", days: 10, sans: "DNS:svc.test,IP:127.0.0.1")
        let server = try TLSTestServer(cert: leaf, key: certs.path("leaf.key"))
        defer { server.stop() }
        let (fd, silent) = HostileServer.listenOnLoopback()
        defer { close(fd) }
        let r = lua("""
        local f = assert(tls.file("\(leaf)", {ca_file = "\(ca)", hostname = "svc.test"}))
        print("file", f.common_name, f.issuer, f.dns_names[1], f.ip_addresses[1], f.days_left > 9 and f.days_left <= 10,
              f.verified, f.verify_code, f.trust_store == "\(ca)", f.hostname_ok, #f.chain, f.chain[1].serial == f.serial, f.key_type, f.key_bits)
        local s = assert(tls.file("\(leaf)"))
        print("system", s.verified, s.verify_error, s.hostname_ok)
        local ok, err = tls.file("\(certs.path("missing.pem"))")
        print("missing", ok, err.code, err.source == "\(certs.path("missing.pem"))", tostring(err):find("missing.pem: cannot open", 1, true) ~= nil)
        -- the live server and a silent one in two tasks: the silent one times out, the live one answers
        local a, b = opsh.all{
          function() return tls.endpoint("127.0.0.1:\(server.port)", {server_name = "svc.test", ca_file = "\(ca)"}) end,
          function() local x, e = tls.endpoint("127.0.0.1:\(silent)", {timeout = 0.5}); return e end,
        }
        print("live", a.common_name, a.verified, a.hostname, a.hostname_ok, a.protocol, a.source, a.fingerprint_sha256 == f.fingerprint_sha256)
        print("silent", b.code, b.message)
        print("bad", pcall(tls.endpoint, "x:y"))
        print("opt", pcall(tls.file, "x", {nope = 1}))
        """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("file\tsvc.test\tCN=opsh test CA\tsvc.test\t127.0.0.1\ttrue\ttrue\t0\ttrue\ttrue\t1\ttrue\tRSA\t2048\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("system\tfalse\tunable to get local issuer certificate\tnil\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("missing\tnil\tfile\ttrue\ttrue\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("live\tsvc.test\ttrue\tsvc.test\ttrue\tTLSv1.3\t127.0.0.1:\(server.port)\ttrue\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("silent\ttimeout\t127.0.0.1:\(silent): timed out after 0.5 s in the TLS handshake\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("bad\tfalse\tbad argument #1 to 'opsh.tls.endpoint'"), r.stdout)
        XCTAssertTrue(r.stdout.contains("opt\tfalse\tbad argument #2 to 'opsh.tls.file'"), r.stdout)
    }
}
