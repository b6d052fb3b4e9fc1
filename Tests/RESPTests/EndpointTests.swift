import XCTest
@testable import RESP

final class EndpointTests: XCTestCase {
    func ep(_ s: String) throws -> RESPEndpoint { try RESPEndpoint(url: s) }

    func testForms() throws {
        var e = try ep("redis://localhost")
        XCTAssertEqual(e.address, .tcp(host: "localhost", port: 6379))
        XCTAssertEqual(e.database, 0); XCTAssertNil(e.password); XCTAssertNil(e.tls); XCTAssertEqual(e.protocolVersion, 2)

        e = try ep("redis://user:pa%40ss%3Aw%2Fd@redis.internal:6380/3")
        XCTAssertEqual(e.address, .tcp(host: "redis.internal", port: 6380))
        XCTAssertEqual(e.username, "user"); XCTAssertEqual(e.password, "pa@ss:w/d"); XCTAssertEqual(e.database, 3)
        XCTAssertEqual(e.description, "redis://user:***@redis.internal:6380/3")

        e = try ep("redis://:secret@h")
        XCTAssertNil(e.username); XCTAssertEqual(e.password, "secret")
        e = try ep("redis://secret@h/")
        XCTAssertEqual(e.password, "secret")

        e = try ep("redis://[::1]:6390/2")
        XCTAssertEqual(e.address, .tcp(host: "::1", port: 6390)); XCTAssertEqual(e.database, 2)
        XCTAssertEqual(e.description, "redis://[::1]:6390/2")
        e = try ep("redis://[::1]")
        XCTAssertEqual(e.address, .tcp(host: "::1", port: 6379))

        e = try ep("rediss://default:pw@cache:6379/1?ca=/etc/ca.pem&cert=/c.pem&key=/k.pem&sni=cache.example")
        XCTAssertEqual(e.tls, RESPTLSOptions(caFile: "/etc/ca.pem", certFile: "/c.pem", keyFile: "/k.pem", verify: true, serverName: "cache.example"))
        XCTAssertEqual(try ep("rediss://h").tls?.verify, true)
        XCTAssertEqual(try ep("rediss://h?verify=no").tls?.verify, false)
        XCTAssertEqual(try ep("rediss://h?ssl_cert_reqs=none").tls?.verify, false)
        XCTAssertEqual(try ep("rediss://h?insecure").tls?.verify, false)

        e = try ep("unix:///var/run/redis/redis.sock?db=1&password=p%26w")
        XCTAssertEqual(e.address, .unix(path: "/var/run/redis/redis.sock"))
        XCTAssertEqual(e.database, 1); XCTAssertEqual(e.password, "p&w")
        e = try ep("unix://:pw@/tmp/r.sock")
        XCTAssertEqual(e.address, .unix(path: "/tmp/r.sock")); XCTAssertEqual(e.password, "pw")

        e = try ep("redis://h/0?protocol=3&name=opsh&user=ops")
        XCTAssertEqual(e.protocolVersion, 3); XCTAssertEqual(e.clientName, "opsh"); XCTAssertEqual(e.username, "ops")
        XCTAssertEqual(try ep("REDIS://H:1").address, .tcp(host: "H", port: 1))
    }

    func testBadURLs() {
        let cases: [(String, String)] = [
            ("localhost:6379", "missing scheme"),
            ("http://h", "unknown scheme 'http'"),
            ("redis://", "missing host"),
            ("redis://h:0", "port '0'"),
            ("redis://h:99999", "port '99999'"),
            ("redis://h:abc", "port 'abc'"),
            ("redis://h/x", "database 'x'"),
            ("redis://h/-1", "database '-1'"),
            ("redis://::1:6379", "IPv6 address must be in brackets"),
            ("redis://[::1", "unterminated IPv6"),
            ("redis://[::1]x", "after the IPv6"),
            ("redis://u:%zz@h", "percent-escape in the password"),
            ("redis://h?db=x", "db 'x'"),
            ("redis://h?protocol=4", "protocol must be 2 or 3"),
            ("redis://h?ca=/x", "needs rediss://"),
            ("rediss://h?cert=/c", "both 'cert' and 'key'"),
            ("redis://h?bogus=1", "unknown option 'bogus'"),
            ("unix://relative.sock", "must be absolute"),
        ]
        for (url, why) in cases {
            XCTAssertThrowsError(try RESPEndpoint(url: url), url) { e in
                let e = e as! RESPError
                XCTAssertEqual(e.kind, .badURL, url)
                XCTAssertTrue(e.message.contains(why), "\(url): \(e.message)")
            }
        }
    }

    func testHandshakeCommands() throws {
        XCTAssertEqual(RESPSession.handshakeCommands(for: try ep("redis://h")), [])
        XCTAssertEqual(RESPSession.handshakeCommands(for: try ep("redis://u:p@h/2?name=n")),
                       [["AUTH", "u", "p"], ["CLIENT", "SETNAME", "n"], ["SELECT", "2"]])
        XCTAssertEqual(RESPSession.handshakeCommands(for: try ep("redis://:p@h?protocol=3")),
                       [["HELLO", "3", "AUTH", "default", "p"]])
    }
}
