import Foundation
import OpshTestSupport
import XCTest

/// examples/: each custom script runs as is (`opsh run examples/NAME.lua`) against real parts,
/// and finds what the test planted.
final class ExamplesTests: XCTestCase {
    func example(_ name: String) -> String { Harness.packageRoot.appendingPathComponent("examples/\(name).lua").path }

    func checks(_ r: Run, file: StaticString = #filePath, line: UInt = #line) -> [(name: String, status: String, message: String, metrics: [String: Any])] {
        guard let doc = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            XCTFail("not a JSON report: \(r.stdout) \(r.stderr)", file: file, line: line)
            return []
        }
        return (doc["checks"] as? [[String: Any]] ?? []).map {
            ($0["name"] as! String, $0["status"] as! String, $0["message"] as? String ?? "", $0["metrics"] as? [String: Any] ?? [:])
        }
    }

    func testRedisBigKeysFindsTheBiggestKeyAndTheHeaviestPrefix() throws {
        let redis = try RedisServer()
        defer { redis.stop() }
        _ = sh("""
        (for i in $(seq 1 300); do echo "SET user:$i name-$i"; done; for i in $(seq 1 20); do echo "HSET session:$i a 1 b 2"; done) | redis-cli -p \(redis.port) > /dev/null
        head -c 200000 /dev/zero | tr '\\0' x | redis-cli -p \(redis.port) -x SET cache:page:home > /dev/null
        """)
        let r = Harness.run(["--json", "run", example("redis-bigkeys"), "--top", "3", "--batch", "50"], env: ["REDIS_URL": redis.url])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let c = checks(r)
        let keys = c.filter { $0.name.hasPrefix("key.") }
        XCTAssertEqual(keys.count, 3)
        XCTAssertTrue(keys.first?.message.hasSuffix("cache:page:home") ?? false, keys.first?.message ?? "")
        let prefixes = c.filter { $0.name.hasPrefix("prefix.") }.map { $0.name }
        XCTAssertEqual(prefixes.first, "prefix.cache", "\(prefixes)")
        XCTAssertEqual(Set(prefixes), ["prefix.cache", "prefix.user", "prefix.session"])
        let user = c.first { $0.name == "prefix.user" }
        XCTAssertEqual((user?.metrics["keys"] as? NSNumber)?.intValue, 300)
        XCTAssertEqual((c.last?.metrics["keys"] as? NSNumber)?.intValue, 321)
    }

    func testQdrantCollectionSizesWithTheirAliases() throws {
        let q = try QdrantStandin()
        defer { q.stop() }
        let seed = Harness.run(["-e", """
            local c = require("opsh.qdrant").connect()
            for name, n in pairs { docs_v1 = 10, docs_v2 = 20 } do
              assert(c:create_collection(name, { vectors = { size = 8, distance = "Cosine" } }))
              local pts = {}
              for i = 1, n do pts[i] = { id = i, vector = { 1, i, 0, 0, 0, 0, 0, 0 } } end
              assert(c:upsert(name, pts))
            end
            assert(c:create_alias("docs", "docs_v2"))
            """], env: ["QDRANT_URL": q.url])
        XCTAssertEqual(seed.status, 0, seed.stderr)
        let r = Harness.run(["--json", "run", example("qdrant-collection-sizes")], env: ["QDRANT_URL": q.url])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let c = checks(r)
        let v2 = try XCTUnwrap(c.first { $0.name == "collection.docs_v2" })
        XCTAssertTrue(v2.message.contains("20 points"), v2.message)
        XCTAssertTrue(v2.message.hasSuffix("aliases: docs"), v2.message)
        XCTAssertEqual((v2.metrics["vector_bytes"] as? NSNumber)?.intValue, 20 * 8 * 4)
        let v1 = try XCTUnwrap(c.first { $0.name == "collection.docs_v1" })
        XCTAssertFalse(v1.message.contains("aliases"), v1.message)
        XCTAssertEqual((c.last?.metrics["points"] as? NSNumber)?.intValue, 30)
    }

    func testCanarySearchReportsPercentilesAndFailsOnAMissingCollection() throws {
        let q = try QdrantStandin()
        defer { q.stop() }
        let seed = Harness.run(["-e", """
            local c = require("opsh.qdrant").connect()
            assert(c:create_collection("docs", { vectors = { size = 4, distance = "Cosine" } }))
            local pts = {}
            for i = 1, 100 do pts[i] = { id = i, vector = { math.sin(i), math.cos(i), 1, i / 100 } } end
            assert(c:upsert("docs", pts))
            """], env: ["QDRANT_URL": q.url])
        XCTAssertEqual(seed.status, 0, seed.stderr)
        // the latency limits out of the way: a loaded machine must not decide this test
        let r = Harness.run(["--json", "run", example("canary-search"), "--collection", "docs", "--queries", "60", "--concurrency", "3",
                             "--latency_warn_ms", "60000", "--latency_crit_ms", "120000"], env: ["QDRANT_URL": q.url], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let c = checks(r)
        let lat = try XCTUnwrap(c.first { $0.name == "canary.latency" })
        let p50 = try XCTUnwrap((lat.metrics["p50_ms"] as? NSNumber)?.doubleValue)
        let p99 = try XCTUnwrap((lat.metrics["p99_ms"] as? NSNumber)?.doubleValue)
        XCTAssertTrue(lat.message.hasSuffix("(queries: 60 stored vectors)"), lat.message)
        XCTAssertGreaterThan(p50, 0)
        XCTAssertLessThanOrEqual(p50, p99)
        XCTAssertEqual((c.first { $0.name == "canary.error_pct" }?.metrics["errors"] as? NSNumber)?.intValue, 0)
        let missing = Harness.run(["--json", "run", example("canary-search"), "--collection", "nope"], env: ["QDRANT_URL": q.url])
        XCTAssertEqual(missing.status, 2, missing.stdout)
        XCTAssertTrue(missing.stdout.contains("nope"), missing.stdout)
    }

    func testBackupFreshnessWritesValidPrometheusText() throws {
        let work = Harness.tempDir("fresh").path
        _ = sh("mkdir -p \(work)/src && echo x > \(work)/src/f && echo 'services: {}' > \(work)/compose.yml && echo A=1 > \(work)/.env")
        XCTAssertEqual(Harness.run(["--yes", "run", "backup/daily", "--dir", "\(work)/b", "--config_dirs", "\(work)/src", "--no-retention"]).status, 0)
        XCTAssertEqual(Harness.run(["--yes", "run", "config/version", "--dir", "\(work)/b", "--config_dir", "\(work)/src",
                                      "--compose_file", "\(work)/compose.yml", "--env_file", "\(work)/.env"]).status, 0)
        _ = sh("mkdir -p \(work)/b/20200101T000000Z-daily.partial")   // a leftover
        let out = "\(work)/textfile/opsh_backups.prom"
        _ = sh("mkdir -p \(work)/textfile")
        let r = Harness.run(["--json", "run", example("backup-freshness"), "--dir", "\(work)/b", "--out", out])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        let check = try Promtool.checkMetrics(text)
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertTrue(text.contains("opsh_backups_kept{tier=\"daily\"} 1"), text)
        XCTAssertTrue(text.contains("opsh_backups_kept{tier=\"config\"} 1"), text)
        XCTAssertTrue(text.contains("opsh_backups_incomplete 1"), text)
        let age = text.split(separator: "\n").first { $0.hasPrefix("opsh_backup_age_seconds{tier=\"daily\"}") }
        let seconds = try XCTUnwrap(age.flatMap { Double($0.split(separator: " ").last!) })
        XCTAssertGreaterThanOrEqual(seconds, 0)
        XCTAssertLessThan(seconds, 3600)
    }
}
