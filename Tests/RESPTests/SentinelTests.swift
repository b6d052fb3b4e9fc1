import Foundation
import OpshTestSupport
import XCTest
@testable import RESP

/// RESPSentinel against a primary, a replica and three real Sentinels.
final class SentinelTests: XCTestCase {
    /// Forces a failover once the replica has the writes, and waits until the old primary is
    /// demoted (writes to it answer READONLY) and the first sentinel names the new one.
    func forceFailover(_ set: RedisSentinels) {
        XCTAssertEqual(set.cli(set.primary.port, ["WAIT", "1", "5000"]), "1")
        XCTAssertEqual(set.cli(set.sentinelPorts[0], ["SENTINEL", "FAILOVER", set.service]), "OK")
        var demoted = false
        for _ in 0..<300 where !demoted {
            demoted = set.cli(set.primary.port, ["ROLE"]).hasPrefix("slave") && set.primaryPort() == set.replica.port
            if !demoted { usleep(100_000) }
        }
        XCTAssertTrue(demoted, "the old primary was not demoted")
    }

    func testDiscoversAndFollowsAForcedFailover() throws {
        let set = try RedisSentinels()
        defer { set.stop() }
        let client = try RESPSentinel(url: set.url, timeout: 30)
        defer { client.close() }
        XCTAssertEqual(try client.command(["SET", "k", "before"]), .simpleString(b("OK")))
        XCTAssertEqual(client.primaryAddress, "127.0.0.1:\(set.primary.port)")
        forceFailover(set)
        XCTAssertEqual(try client.command(["SET", "k", "after"]), .simpleString(b("OK")))
        XCTAssertEqual(client.primaryAddress, "127.0.0.1:\(set.replica.port)")
        // followed through the +switch-master the first sentinel published (it already names the
        // new primary): the sentinels were not asked again
        XCTAssertEqual(client.switchesFollowed, 1)
        XCTAssertEqual(client.discoveries, 1)
        XCTAssertEqual(set.cli(set.replica.port, ["GET", "k"]), "after")
    }

    func testFollowsByRediscoveryWithoutTheSubscription() throws {
        let set = try RedisSentinels()
        defer { set.stop() }
        let client = try RESPSentinel(url: set.url, timeout: 30)
        defer { client.close() }
        XCTAssertEqual(try client.command(["SET", "k", "before"]), .simpleString(b("OK")))
        XCTAssertNotNil(client.watcher)
        client.watcher?.close()   // the announcement is missed: READONLY makes the client ask again
        forceFailover(set)
        XCTAssertEqual(try client.command(["SET", "k", "after"]), .simpleString(b("OK")))
        XCTAssertEqual(client.primaryAddress, "127.0.0.1:\(set.replica.port)")
        XCTAssertEqual(client.switchesFollowed, 0)
        XCTAssertEqual(client.discoveries, 2)
    }

    func testCredentialsSentToSentinels() throws {
        let set = try RedisSentinels(sentinelPassword: "s3cret")
        defer { set.stop() }
        let without = try RESPSentinel(url: set.url, timeout: 2)
        XCTAssertThrowsError(try without.command(["PING"])) { e in
            let e = e as! RESPError
            XCTAssertEqual(e.kind, .sentinel)
            XCTAssertTrue(e.message.contains("NOAUTH"), e.message)
        }
        let client = try RESPSentinel(url: set.url + "?sentinel_password=s3cret", timeout: 10)
        defer { client.close() }
        XCTAssertEqual(try client.command(["SET", "k", "v"]), .simpleString(b("OK")))
        XCTAssertEqual(client.primaryAddress, "127.0.0.1:\(set.primary.port)")
        XCTAssertNotNil(client.watcher, "the +switch-master subscription needs the password too")
        XCTAssertNil(client.template.password, "the sentinels' password is not the primary's")
    }

    func testStalePrimaryRefused() throws {
        // a "sentinel" that names a replica as the primary
        let replica = try RedisServer()
        defer { replica.stop() }
        let primary = try RedisServer()
        defer { primary.stop() }
        XCTAssertEqual(try RESPSession.connect(url: replica.url).command(["REPLICAOF", "127.0.0.1", String(primary.port)]), .simpleString(b("OK")))
        let rport = String(replica.port)
        let fake = FakeClusterNode { _, cmd in
            cmd.first?.uppercased() == "SENTINEL" ? "*2\r\n$9\r\n127.0.0.1\r\n$\(rport.count)\r\n\(rport)\r\n" : "-ERR no\r\n"
        }
        let client = try RESPSentinel(url: "sentinel://127.0.0.1:\(fake.port)/mymaster", timeout: 1)
        XCTAssertThrowsError(try client.command(["SET", "k", "v"])) { e in
            let e = e as! RESPError
            XCTAssertEqual(e.kind, .sentinel)
            XCTAssertTrue(e.message.contains("says it is a replica (a stale primary, refused)"), e.message)
        }
        XCTAssertNil(client.primary)
    }
}
