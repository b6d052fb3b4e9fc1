import XCTest
@testable import RESP

final class HelperTests: XCTestCase {
    func testInfoParse() {
        let text = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nuptime_in_seconds:42\r\n\r\n# Memory\r\nused_memory:1048576\r\nmem_fragmentation_ratio:1.25\r\nmaxmemory_policy:noeviction\r\nneg:-3\r\n\r\n# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\ndb3:keys=10,expires=2,avg_ttl=1234\r\n"
        let i = RESPInfo.parse(text)
        XCTAssertEqual(i.sectionOrder, ["server", "memory", "keyspace"])
        XCTAssertEqual(i["Server"]?["redis_version"], .string("7.0.15"))
        XCTAssertEqual(i["server"]?["uptime_in_seconds"], .int(42))
        XCTAssertEqual(i["memory"]?["mem_fragmentation_ratio"], .double(1.25))
        XCTAssertEqual(i["memory"]?["maxmemory_policy"], .string("noeviction"))
        XCTAssertEqual(i["memory"]?["neg"], .int(-3))
        XCTAssertEqual(i["keyspace"]?["db3"], .fields(["keys": .int(10), "expires": .int(2), "avg_ttl": .int(1234)]))
        XCTAssertFalse(i.isDragonfly)
        XCTAssertEqual(i.serverVersion, "7.0.15")
        let df = RESPInfo.parse("# Server\nredis_version:6.2.11\ndragonfly_version:df-v1.21.2\n")
        XCTAssertTrue(df.isDragonfly)
        XCTAssertEqual(df.serverVersion, "df-v1.21.2")
    }

    func testRetryPolicy() {
        XCTAssertTrue(RESPRetryPolicy.isSafeToResend("get"))
        XCTAssertTrue(RESPRetryPolicy.isSafeToResend("SCAN"))
        XCTAssertTrue(RESPRetryPolicy.isSafeToResend("CONFIG", subcommand: "get"))
        XCTAssertFalse(RESPRetryPolicy.isSafeToResend("CONFIG", subcommand: "SET"))
        XCTAssertFalse(RESPRetryPolicy.isSafeToResend("SET"))
        XCTAssertFalse(RESPRetryPolicy.isSafeToResend("INCR"))
        XCTAssertFalse(RESPRetryPolicy.isSafeToResend("EVAL"))
        XCTAssertFalse(RESPRetryPolicy.isSafeToResend("MULTI"))
        let p = RESPRetryPolicy(maxAttempts: 5, initialBackoff: 0.1, maxBackoff: 0.3)
        XCTAssertEqual(p.backoff(attempt: 1), 0.1); XCTAssertEqual(p.backoff(attempt: 2), 0.2); XCTAssertEqual(p.backoff(attempt: 4), 0.3)
    }

    func testCommandTableFallback() {
        let t = RESPCommandTable.fallback
        XCTAssertTrue(t.isFallback)
        XCTAssertFalse(t.isWrite("GET")); XCTAssertFalse(t.isWrite("scan")); XCTAssertFalse(t.isWrite("INFO"))
        XCTAssertTrue(t.isWrite("SET")); XCTAssertTrue(t.isWrite("DEL")); XCTAssertTrue(t.isWrite("FLUSHDB"))
        XCTAssertTrue(t.isWrite("CONFIG", subcommand: "SET")); XCTAssertFalse(t.isWrite("CONFIG", subcommand: "GET"))
        XCTAssertTrue(t.isWrite("SOMETHINGNEW"))
        XCTAssertTrue(t.refusedUnderDryRun("EVAL_RO")); XCTAssertFalse(t.refusedUnderDryRun("GET"))
    }
}
