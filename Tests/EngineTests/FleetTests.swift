import Foundation
import OpshTestSupport
import XCTest

/// opsh run --target GROUP: a procedure once per member of a configured group of targets.
final class FleetTests: XCTestCase {
    func testRunPerMemberGroupedWorstExitCodeAndJSONMembersApart() throws {
        let a = try RedisServer(), b = try RedisServer()
        defer { a.stop(); b.stop() }
        let dead = RedisServer.freePort()
        XCTAssertEqual(sh("redis-cli -p \(b.port) SET api_access:k1 5000").output.trimmingCharacters(in: .whitespacesAndNewlines), "OK")
        let home = Harness.tempDir("home")
        let conf = Harness.write("""
            return { targets = { prod = { redis = { "\(a.url)", second = "\(b.url)", gone = "redis://127.0.0.1:\(dead)" } },
                                 empty = { qdrant = { "http://127.0.0.1:1" } } } }
            """, to: "config.lua", in: home)
        var r = Harness.run(["--config", conf, "run", "--target", "prod", "redis/api-access"], env: ["HOME": home.path])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("== prod: \(a.url)\nredis/api-access\n  [OK]"), r.stdout)
        XCTAssertTrue(r.stdout.contains("== prod: gone\nredis/api-access\n  [CRIT]"), r.stdout)
        XCTAssertTrue(r.stdout.contains("== prod: second\nredis/api-access\n  [WARN]"), r.stdout)
        XCTAssertTrue(r.stdout.hasSuffix("redis/api-access on 3 members of prod: CRITICAL\n"), r.stdout)

        r = Harness.run(["--config", conf, "--json", "run", "--target", "prod", "redis/api-access"], env: ["HOME": home.path])
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        XCTAssertEqual(obj["schema"] as? String, "opsh.fleet/v1")
        XCTAssertEqual(obj["exit_code"] as? Int, 2)
        let members = obj["members"] as? [[String: Any]] ?? []
        XCTAssertEqual(members.map { $0["member"] as? String }, [a.url, "gone", "second"])
        let statuses = members.map { (($0["report"] as? [String: Any])?["status"] as? String) ?? "?" }
        XCTAssertEqual(statuses, ["ok", "critical", "warning"])
        let urls = members.map { ((($0["report"] as? [String: Any])?["args"] as? [String: Any])?["url"] as? String) ?? "?" }
        XCTAssertEqual(urls, [a.url, "redis://127.0.0.1:\(dead)", b.url])

        r = Harness.run(["--config", conf, "run", "--target", "nope", "redis/api-access"], env: ["HOME": home.path])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("no target group \"nope\" (groups: empty, prod)"), r.stderr)
        r = Harness.run(["--config", conf, "run", "--target", "empty", "redis/api-access"], env: ["HOME": home.path])
        XCTAssertTrue(r.stderr.contains("target group \"empty\" has no redis members"), r.stderr)
    }
}
